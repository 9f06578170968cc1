//! Multistream mode (RFC 6189 §4.4.3): a second stream keyed from the first stream's ZRTPSess,
//! with no DH and no new SAS.
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
use sotto_zrtp::{CacheStatus, FailureReason, KeyAgreement, RoleSetting, StreamMode};

#[test]
fn second_stream_in_multistream_mode() {
    for seed in 0..20u64 {
        let first = run(
            config(1),
            config(2),
            perfect(),
            seed,
            Duration::from_secs(5),
        );
        let (a, b) = assert_agree(&first);
        let mut c1 = config(1);
        c1.mode = StreamMode::Multistream(a.multistream.as_ref().unwrap().clone_key());
        let mut c2 = config(2);
        c2.role = RoleSetting::Responder;
        c2.mode = StreamMode::Multistream(b.multistream.as_ref().unwrap().clone_key());
        let second = run(c1, c2, lossy(0.1, seed), seed + 500, Duration::from_secs(5));
        let (a2, b2) = assert_agree(&second);
        assert_eq!(a2.suite.key_agreement, KeyAgreement::Mult);
        assert_eq!(a2.sas, a.sas, "Multistream shows the first stream's SAS");
        assert_eq!(a2.cache, CacheStatus::NotApplicable);
        assert!(a2.multistream.is_none());
        assert_ne!(a2.srtp.send().0, a.srtp.send().0);
        assert_ne!(b2.srtp.send().0, b.srtp.send().0);
    }
}

#[test]
fn wrong_zrtp_sess_fails_the_confirm() {
    let first = run(config(1), config(2), perfect(), 1, Duration::from_secs(5));
    let other = run(config(1), config(2), perfect(), 2, Duration::from_secs(5));
    let (a, _) = assert_agree(&first);
    let (_, b_other) = assert_agree(&other);
    let mut c1 = config(1);
    c1.mode = StreamMode::Multistream(a.multistream.as_ref().unwrap().clone_key());
    let mut c2 = config(2);
    c2.role = RoleSetting::Responder;
    c2.mode = StreamMode::Multistream(b_other.multistream.as_ref().unwrap().clone_key());
    let p = run(c1, c2, perfect(), 3, Duration::from_secs(5));
    assert!(p.a().secure().is_none() && p.b().secure().is_none());
    assert_eq!(p.a().failed(), Some(&FailureReason::ConfirmMac));
}
