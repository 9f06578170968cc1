//! An active man in the middle runs two separate ZRTP sessions (Alice↔Mallory, Mallory↔Bob):
//! both complete, but the two SAS differ (RFC 6189 §4.5.2, §7). On a later call, after Alice and
//! Bob once talked directly, Mallory cannot know their rs1: Alice's cache reports a mismatch and
//! the verified flag is cleared (§4.6.1.1).
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
use sotto_zrtp::{CacheStatus, Input, ZidCache};

#[test]
fn two_sessions_two_different_sas() {
    let mut differ = 0;
    for seed in 0..50u64 {
        // Mallory presents ZID 3 to both.
        let alice_side = run(
            config(1),
            config(3),
            perfect(),
            seed,
            Duration::from_secs(5),
        );
        let bob_side = run(
            config(3),
            config(2),
            perfect(),
            seed + 1000,
            Duration::from_secs(5),
        );
        let (alice, _) = assert_agree(&alice_side);
        let (_, bob) = assert_agree(&bob_side);
        // Each leg is a proper session, but Alice and Bob read different SAS to each other.
        if alice.sas != bob.sas {
            differ += 1;
        }
        assert_ne!(alice.srtp.send().0, bob.srtp.recv().0);
    }
    // B32 has 2^20 values: a collision in 50 tries is essentially impossible.
    assert_eq!(differ, 50);
}

#[test]
fn later_call_through_mitm_reports_cache_mismatch() {
    let alice_cache = shared();
    let bob_cache = shared();
    // Call 1: direct, the users compare the SAS and confirm it.
    let mut p = run_with_caches(
        config(1),
        config(2),
        Some(Box::new(alice_cache.clone())),
        Some(Box::new(bob_cache.clone())),
        perfect(),
        1,
        Duration::from_secs(5),
    );
    assert_agree(&p);
    let now = p.now();
    p.a_mut().input(now, Input::ConfirmSas);
    p.b_mut().input(now, Input::ConfirmSas);
    assert!(alice_cache.0.lock().unwrap().get(&zid(2)).unwrap().verified);

    // Call 2: Mallory impersonates Bob (his ZID, which is public) with a fresh cache.
    let p2 = run_with_caches(
        config(1),
        config(2),
        Some(Box::new(alice_cache.clone())),
        Some(Box::new(shared())),
        perfect(),
        2,
        Duration::from_secs(5),
    );
    let (alice, _) = assert_agree(&p2);
    assert_eq!(alice.cache, CacheStatus::Mismatch);
    assert!(!alice.verified);
    let mut c = alice_cache.clone();
    let e = c.load(&zid(2)).unwrap().unwrap();
    assert!(
        e.mismatch && !e.verified,
        "mismatch must clear verified in the cache"
    );

    // Call 3: the real Bob again. His rs1 is now Alice's rs2 (call 1), so they still match.
    let p3 = run_with_caches(
        config(1),
        config(2),
        Some(Box::new(alice_cache.clone())),
        Some(Box::new(bob_cache.clone())),
        perfect(),
        3,
        Duration::from_secs(5),
    );
    let (a3, b3) = assert_agree(&p3);
    assert_eq!(a3.cache, CacheStatus::MatchedRs2);
    assert_eq!(b3.cache, CacheStatus::MatchedRs1);
    // Alice no longer shows "verified" until the users compare the SAS again.
    assert!(!a3.verified);
}
