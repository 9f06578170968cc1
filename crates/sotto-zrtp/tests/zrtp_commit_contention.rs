//! RFC 6189 §4.2: both endpoints send Commit; the larger hvi (or nonce) wins and both converge.
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
use sotto_netem::{Link, NetemConfig};
use sotto_zrtp::{Role, StreamMode};

#[test]
fn both_initiators_always_converge() {
    let mut roles = [0u32; 2];
    for seed in 0..200u64 {
        // Symmetric delay makes both Commits cross on the wire.
        let link = Link::symmetric(
            NetemConfig::default().delay(Duration::from_millis(30)),
            seed,
        );
        let pair = run(config(1), config(2), link, seed, Duration::from_secs(5));
        let (a, b) = assert_agree(&pair);
        roles[usize::from(a.role == Role::Initiator)] += 1;
        assert_ne!(a.role, b.role);
    }
    // hvi is random: each side wins about half the time.
    assert!(roles[0] > 50 && roles[1] > 50, "{roles:?}");
}

#[test]
fn both_initiators_in_multistream_compare_nonces() {
    for seed in 0..50u64 {
        let link = Link::symmetric(
            NetemConfig::default().delay(Duration::from_millis(10)),
            seed,
        );
        let pair = run(config(1), config(2), link, seed, Duration::from_secs(5));
        let (a, b) = assert_agree(&pair);
        let mut c1 = config(1);
        c1.mode = StreamMode::Multistream(a.multistream.as_ref().unwrap().clone_key());
        let mut c2 = config(2);
        c2.mode = StreamMode::Multistream(b.multistream.as_ref().unwrap().clone_key());
        let link = Link::symmetric(
            NetemConfig::default().delay(Duration::from_millis(10)),
            seed,
        );
        let pair2 = run(c1, c2, link, seed + 1000, Duration::from_secs(5));
        let (a2, b2) = assert_agree(&pair2);
        assert_eq!(a2.suite.key_agreement, sotto_zrtp::KeyAgreement::Mult);
        assert_ne!(a2.role, b2.role);
    }
}

#[test]
fn dh_commit_beats_multistream_commit() {
    // §4.2: when one Commit is DH and the other is not, the DH Commit proceeds. Side A believes
    // it has a first stream (Multistream), side B starts a fresh DH exchange: they converge on DH.
    let first = run(config(1), config(2), perfect(), 1, Duration::from_secs(5));
    let (a, _) = assert_agree(&first);
    for seed in 0..20u64 {
        let mut c1 = config(1);
        c1.mode = StreamMode::Multistream(a.multistream.as_ref().unwrap().clone_key());
        let link = Link::symmetric(
            NetemConfig::default().delay(Duration::from_millis(10)),
            seed,
        );
        let pair = run(c1, config(2), link, seed + 77, Duration::from_secs(5));
        let (x, y) = assert_agree(&pair);
        assert!(x.suite.key_agreement.is_dh(), "{:?}", x.suite.key_agreement);
        assert_eq!(x.role, Role::Responder);
        assert_eq!(y.role, Role::Initiator);
    }
}
