//! Two sotto engines complete a DH-mode handshake for every algorithm combination (RFC 6189 §4),
//! through sotto-netem on a virtual clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "test code"
)]

mod common;

use std::time::Duration;

use common::*;
use sotto_zrtp::{
    AlgoPrefs, AuthTag, CacheStatus, CipherAlgo, HashAlgo, KeyAgreement, Role, RoleSetting, SasType,
};

fn prefs(h: HashAlgo, c: CipherAlgo, a: AuthTag, k: KeyAgreement, s: SasType) -> AlgoPrefs {
    AlgoPrefs {
        hashes: vec![h],
        ciphers: vec![c],
        auth_tags: vec![a],
        key_agreements: vec![k],
        sas_types: vec![s],
    }
}

#[test]
fn every_algorithm_combination() {
    let mut n = 0;
    for &k in &[
        KeyAgreement::X255,
        KeyAgreement::E255,
        KeyAgreement::X448,
        KeyAgreement::Ec25,
        KeyAgreement::Ec38,
        KeyAgreement::Dh3k,
        KeyAgreement::Dh2k,
    ] {
        for &h in &[HashAlgo::S256, HashAlgo::S384] {
            for &c in &[CipherAlgo::Aes1, CipherAlgo::Aes3] {
                for &a in &[AuthTag::Hs32, AuthTag::Hs80] {
                    for &s in &[SasType::B32, SasType::B256] {
                        // DH is slow in debug builds: cover all of it for the fast curves and a
                        // representative subset for the finite-field groups.
                        let slow = matches!(k, KeyAgreement::Dh3k | KeyAgreement::Dh2k);
                        if slow && (a == AuthTag::Hs32 || c == CipherAlgo::Aes3) {
                            continue;
                        }
                        let mut ca = config(1);
                        ca.algorithms = prefs(h, c, a, k, s);
                        let mut cb = config(2);
                        cb.algorithms = prefs(h, c, a, k, s);
                        cb.role = RoleSetting::Responder;
                        let pair = run(ca, cb, perfect(), n, Duration::from_secs(5));
                        let (ia, ib) = assert_agree(&pair);
                        assert_eq!(ia.role, Role::Initiator);
                        assert_eq!(ib.role, Role::Responder);
                        assert_eq!(ia.suite.key_agreement, k);
                        assert_eq!(ia.suite.hash, h);
                        assert_eq!(ia.suite.cipher, c);
                        assert_eq!(ia.suite.auth_tag, a);
                        assert_eq!(ia.suite.sas, s);
                        assert_eq!(ia.srtp.key_i.len(), c.key_len());
                        assert_eq!(ia.srtp.salt_i.len(), 14);
                        match s {
                            SasType::B32 => assert_eq!(ia.sas.len(), 4),
                            _ => assert!(ia.sas.contains(':')),
                        }
                        assert_eq!(ia.cache, CacheStatus::NoCache);
                        n += 1;
                    }
                }
            }
        }
    }
    assert!(n >= 60, "{n} combinations");
}

#[test]
fn default_preferences_pick_x255_and_finish_fast() {
    let pair = run(config(1), config(2), perfect(), 7, Duration::from_secs(5));
    let (a, _) = assert_agree(&pair);
    assert_eq!(a.suite.key_agreement, KeyAgreement::X255);
    assert_eq!(a.suite.hash, HashAlgo::S256);
    // No loss, no delay: no retransmission was needed.
    assert!(
        pair.elapsed() < Duration::from_millis(50),
        "{:?}",
        pair.elapsed()
    );
}
