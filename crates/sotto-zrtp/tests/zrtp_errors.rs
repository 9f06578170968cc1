//! RFC 6189 §5.9 error handling, one stimulus each: what the engine answers and why it fails.
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

use sotto_proto::{Ssrc, Zid};
use sotto_zrtp::message::{Commit, CommitKind, Hello, Message, Ping};
use sotto_zrtp::packet::Packet;
use sotto_zrtp::{
    AuthTag, CipherAlgo, Event, FailureReason, HashAlgo, Input, KeyAgreement, Output, SasType,
    Suite, ZrtpSession,
};

use common::*;

fn new(n: u8) -> ZrtpSession {
    ZrtpSession::new(config(n), Box::new(Seeded::new(u64::from(n))), None, t0()).unwrap()
}

/// Feeds one message, returns the messages sent back and the failure, if any.
fn feed(s: &mut ZrtpSession, msg: &[u8]) -> (Vec<Message>, Option<FailureReason>) {
    // Drain what was queued before (our own Hello).
    while s.poll_output().is_some() {}
    let _ = s.handle_input(t0(), Input::Datagram(&Packet::emit(7, Ssrc(9), msg)));
    let mut sent = Vec::new();
    let mut failed = None;
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(b) => {
                sent.push(Message::parse(Packet::parse(&b).unwrap().message).unwrap())
            }
            Output::Event(Event::Failed(r)) => failed = Some(r),
            _ => {}
        }
    }
    (sent, failed)
}

/// A real Hello from another engine, optionally altered (MAC then no longer matters for these
/// checks, which come first).
fn hello_from(n: u8, edit: impl FnOnce(&mut Hello)) -> Vec<u8> {
    let other = new(n);
    let Message::Hello(mut h) = Message::parse(other.hello_message()).unwrap() else {
        panic!()
    };
    edit(&mut h);
    Message::Hello(h).emit()
}

#[test]
fn unsupported_version_gets_0x30() {
    let mut s = new(1);
    let (sent, failed) = feed(&mut s, &hello_from(2, |h| h.version = *b"1.00"));
    assert_eq!(sent, vec![Message::Error { code: 0x30 }]);
    assert_eq!(failed, Some(FailureReason::UnsupportedVersion));
}

#[test]
fn equal_zid_gets_0x90() {
    let mut s = new(1);
    let (sent, failed) = feed(&mut s, &hello_from(2, |h| h.zid = Zid([1; 12])));
    assert_eq!(sent, vec![Message::Error { code: 0x90 }]);
    assert_eq!(failed, Some(FailureReason::EqualZid));
}

#[test]
fn later_minor_version_is_accepted() {
    let mut s = new(1);
    let (sent, failed) = feed(&mut s, &hello_from(2, |h| h.version = *b"1.11"));
    assert_eq!(failed, None);
    assert!(sent.contains(&Message::HelloAck));
}

#[test]
fn no_common_key_agreement_gets_0x53() {
    let mut cfg = config(1);
    cfg.algorithms.key_agreements = vec![KeyAgreement::X448];
    let mut s = ZrtpSession::new(cfg, Box::new(Seeded::new(1)), None, t0()).unwrap();
    // The peer offers only X255 and (implicitly, mandatory) DH3k; we only X448 and DH3k is not
    // ours: nothing in common once the HelloACK lets us commit.
    let h = hello_from(2, |h| h.key_agreements = vec![KeyAgreement::X255]);
    feed(&mut s, &h);
    let (sent, failed) = feed(&mut s, &Message::HelloAck.emit());
    assert_eq!(sent, vec![Message::Error { code: 0x53 }]);
    assert_eq!(
        failed,
        Some(FailureReason::NoCommonAlgorithm(
            sotto_zrtp::algo::AlgoClass::KeyAgreement
        ))
    );
}

fn commit_from_peer(peer: &ZrtpSession, ka: KeyAgreement, hash: HashAlgo) -> Vec<u8> {
    // A structurally valid Commit whose H2 matches the peer's Hello (so it reaches the
    // algorithm checks); the MAC is not checked before them.
    let _ = peer;
    Message::Commit(Commit {
        h2: [0; 32],
        zid: Zid([2; 12]),
        suite: Suite {
            hash,
            cipher: CipherAlgo::Aes1,
            auth_tag: AuthTag::Hs32,
            key_agreement: ka,
            sas: SasType::B32,
        },
        kind: match ka {
            KeyAgreement::Prsh => CommitKind::Preshared {
                nonce: [1; 16],
                key_id: [2; 8],
            },
            KeyAgreement::Mult => CommitKind::Multistream { nonce: [1; 16] },
            _ => CommitKind::Dh { hvi: [3; 32] },
        },
        mac: [0; 8],
    })
    .emit()
}

#[test]
fn commit_with_a_forged_hash_chain_is_dropped_silently() {
    let mut s = new(1);
    let peer = new(2);
    feed(&mut s, peer.hello_message());
    let (sent, failed) = feed(
        &mut s,
        &commit_from_peer(&peer, KeyAgreement::X255, HashAlgo::S256),
    );
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(failed, None);
}

/// A hand-made peer with a real hash chain: its Hello and a Commit that pass the chain and MAC
/// checks, so the algorithm/mode checks behind them are reached.
fn forged_peer(ka: KeyAgreement, hash: HashAlgo) -> (Vec<u8>, Vec<u8>) {
    use sotto_proto::crypto::{HashAlg, default_provider};
    let p = default_provider();
    let h = |x: &[u8]| -> [u8; 32] {
        p.hash_parts(HashAlg::Sha256, &[x])
            .as_slice()
            .try_into()
            .unwrap()
    };
    let h0 = [42u8; 32];
    let (h1, h2) = (h(&h0), h(&h(&h0)));
    let h3 = h(&h2);
    let mac = |key: &[u8], m: &mut Vec<u8>| {
        let n = m.len() - 8;
        let t = p.hmac(HashAlg::Sha256, key, &[&m[..n]]);
        m[n..].copy_from_slice(&t.as_slice()[..8]);
    };
    let Message::Hello(mut hello) = Message::parse(new(2).hello_message()).unwrap() else {
        panic!()
    };
    hello.h3 = h3;
    let mut hello = Message::Hello(hello).emit();
    mac(&h2, &mut hello);
    let mut commit = commit_from_peer(&new(2), ka, hash);
    commit[12..44].copy_from_slice(&h2);
    mac(&h1, &mut commit);
    (hello, commit)
}

#[test]
fn preshared_commit_gets_0x56() {
    // Preshared mode (§4.4.2) is optional and sotto refuses it. Of the §5.9 codes, 0x56 "No
    // shared secret available, DH mode required" is the one that tells the initiator to start
    // again in DH mode; 0x53 ("public key exchange not supported") would refuse the exchange.
    let mut s = new(1);
    let (hello, commit) = forged_peer(KeyAgreement::Prsh, HashAlgo::S256);
    feed(&mut s, &hello);
    let (sent, failed) = feed(&mut s, &commit);
    assert_eq!(sent, vec![Message::Error { code: 0x56 }]);
    assert_eq!(failed, Some(FailureReason::DhModeRequired));
}

#[test]
fn preshared_commit_gets_0x56_even_with_a_cached_secret() {
    // Having rs1 for the peer does not make sotto key from it without DH: still 0x56.
    use sotto_proto::SecretArray;
    use sotto_zrtp::{Expiry, MemoryCache, ZidCache};
    let mut cache = MemoryCache::new();
    cache
        .store_secret(
            &Zid([2; 12]),
            &SecretArray::new([9; 32]),
            Expiry::from_interval(1_700_000_000, u32::MAX),
            1_700_000_000,
        )
        .unwrap();
    assert!(cache.load(&Zid([2; 12])).unwrap().unwrap().rs1.is_some());
    let mut s = ZrtpSession::new(
        config(1),
        Box::new(Seeded::new(1)),
        Some(Box::new(cache)),
        t0(),
    )
    .unwrap();
    let (hello, commit) = forged_peer(KeyAgreement::Prsh, HashAlgo::S256);
    feed(&mut s, &hello);
    let (sent, failed) = feed(&mut s, &commit);
    assert_eq!(sent, vec![Message::Error { code: 0x56 }]);
    assert_eq!(failed, Some(FailureReason::DhModeRequired));
    assert!(!s.is_secure());
}

#[test]
fn our_dh_commit_beats_a_preshared_commit_without_error() {
    // §4.2: when one Commit is DH and the other is not, the DH Commit proceeds. We have sent
    // our DH Commit; the peer's Preshared Commit is discarded, no Error, and since the peer is
    // still committing it has not seen ours: it gets our Commit again (§6).
    let mut s = new(1);
    let (hello, commit) = forged_peer(KeyAgreement::Prsh, HashAlgo::S256);
    feed(&mut s, &hello);
    let (sent, _) = feed(&mut s, &Message::HelloAck.emit());
    let [Message::Commit(ours)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert!(ours.suite.key_agreement.is_dh());
    let (sent, failed) = feed(&mut s, &commit);
    assert_eq!(failed, None);
    assert_eq!(sent, vec![Message::Commit(ours.clone())]);
    assert_eq!(s.state_name(), "CommitSent");
}

#[test]
fn multistream_commit_without_a_first_stream_gets_0x56() {
    let mut s = new(1);
    let (hello, commit) = forged_peer(KeyAgreement::Mult, HashAlgo::S256);
    feed(&mut s, &hello);
    let (sent, failed) = feed(&mut s, &commit);
    assert_eq!(sent, vec![Message::Error { code: 0x56 }]);
    assert_eq!(failed, Some(FailureReason::DhModeRequired));
}

#[test]
fn commit_with_an_unoffered_hash_gets_0x51() {
    let mut cfg = config(1);
    cfg.algorithms.hashes = vec![HashAlgo::S256];
    let mut s = ZrtpSession::new(cfg, Box::new(Seeded::new(1)), None, t0()).unwrap();
    let (hello, commit) = forged_peer(KeyAgreement::X255, HashAlgo::S384);
    feed(&mut s, &hello);
    let (sent, failed) = feed(&mut s, &commit);
    assert_eq!(sent, vec![Message::Error { code: 0x51 }]);
    assert_eq!(
        failed,
        Some(FailureReason::NoCommonAlgorithm(
            sotto_zrtp::algo::AlgoClass::Hash
        ))
    );
}

#[test]
fn valid_commit_gets_dhpart1() {
    let mut s = new(1);
    let (hello, commit) = forged_peer(KeyAgreement::X255, HashAlgo::S256);
    feed(&mut s, &hello);
    let (sent, failed) = feed(&mut s, &commit);
    assert_eq!(failed, None);
    assert!(
        matches!(sent.as_slice(), [Message::DhPart1(d)] if d.pv.len() == 32),
        "{sent:?}"
    );
}

#[test]
fn goclear_is_refused_with_0x100() {
    let mut s = new(1);
    let (sent, failed) = feed(&mut s, &Message::GoClear { clear_mac: [0; 8] }.emit());
    assert_eq!(sent, vec![Message::Error { code: 0x100 }]);
    assert_eq!(failed, None);
}

#[test]
fn peer_error_is_acknowledged_and_fails_the_session() {
    let mut s = new(1);
    let (sent, failed) = feed(&mut s, &Message::Error { code: 0x61 }.emit());
    assert_eq!(sent, vec![Message::ErrorAck]);
    assert_eq!(failed, Some(FailureReason::PeerError(0x61)));
}

#[test]
fn ping_gets_pingack() {
    let mut s = new(1);
    let (sent, _) = feed(
        &mut s,
        &Message::Ping(Ping {
            version: *b"1.10",
            endpoint_hash: [5; 8],
        })
        .emit(),
    );
    match sent.as_slice() {
        [Message::PingAck(a)] => {
            assert_eq!(a.received_hash, [5; 8]);
            assert_eq!(a.ssrc, Ssrc(0x1001));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_and_bad_crc_are_dropped() {
    let mut s = new(1);
    while s.poll_output().is_some() {}
    assert!(
        s.handle_input(t0(), Input::Datagram(b"not zrtp at all"))
            .is_err()
    );
    let mut p = Packet::emit(1, Ssrc(2), &Message::HelloAck.emit());
    let n = p.len();
    p[n - 1] ^= 1;
    assert!(s.handle_input(t0(), Input::Datagram(&p)).is_err());
    assert!(s.poll_output().is_none());
    assert!(!s.is_failed());
}
