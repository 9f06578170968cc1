//! RFC 6189 §8.1: a peer whose Hello does not hash to the `a=zrtp-hash` its SDP carried is
//! refused; the matching hash is accepted.
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
use sotto_netem::Pair;
use sotto_zrtp::FailureReason;

#[test]
fn matching_hash_is_accepted() {
    let start = t0();
    let a = session(config(1), 1, None, start);
    let hash = a.session.hello_hash();
    assert!(hash.starts_with("1.10 ") && hash.len() == 69, "{hash}");
    let mut cb = config(2);
    // Hex case does not matter.
    cb.peer_hello_hash = Some(hash.to_uppercase());
    let b = session(cb, 2, None, start);
    let mut pair = Pair::new(a, b, perfect(), start);
    pair.drive_until(|a, b| a.done() && b.done(), Duration::from_secs(5))
        .unwrap();
    assert_agree(&pair);
}

#[test]
fn hash_is_sha256_of_the_hello_message_only() {
    let a = session(config(1), 1, None, t0());
    let msg = a.session.hello_message();
    assert_eq!(&msg[4..12], b"Hello   ");
    let d = sotto_proto::crypto::default_provider()
        .hash_parts(sotto_proto::crypto::HashAlg::Sha256, &[msg]);
    let hex: String = d.as_slice().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(a.session.hello_hash(), format!("1.10 {hex}"));
}

#[test]
fn substituted_hello_is_refused() {
    let start = t0();
    // Bob's SDP said Alice's Hello hashes to X; a different Alice (Mallory) shows up.
    let real_alice = session(config(1), 1, None, start);
    let mut cb = config(2);
    cb.peer_hello_hash = Some(real_alice.session.hello_hash());
    let mallory = session(config(1), 99, None, start);
    let b = session(cb, 2, None, start);
    let mut pair = Pair::new(mallory, b, perfect(), start);
    let _ = pair.drive_until(|_, b| b.done(), Duration::from_secs(10));
    assert_eq!(pair.b().failed(), Some(&FailureReason::HelloHashMismatch));
    assert!(pair.b().secure().is_none());
    assert!(pair.a().secure().is_none());
}
