//! Retained secrets (RFC 6189 §4.6.1, §4.9): rs1 matches on the next call, rs2 covers a lost
//! update, the verified flag travels in Confirm's V flag, expired secrets are not used.
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
use sotto_zrtp::{CacheStatus, Expiry, Input, ZidCache};

fn call(
    a: &sotto_zrtp::SharedCache<sotto_zrtp::MemoryCache>,
    b: &sotto_zrtp::SharedCache<sotto_zrtp::MemoryCache>,
    seed: u64,
    unix_time: u64,
) -> sotto_netem::Pair<Peer, Peer> {
    let mut ca = config(1);
    ca.unix_time = unix_time;
    ca.cache_expiry = 3600;
    let mut cb = config(2);
    cb.unix_time = unix_time;
    run_with_caches(
        ca,
        cb,
        Some(Box::new(a.clone())),
        Some(Box::new(b.clone())),
        perfect(),
        seed,
        Duration::from_secs(5),
    )
}

#[test]
fn rs1_matches_and_verified_is_remembered() {
    let (ca, cb) = (shared(), shared());
    let mut p = call(&ca, &cb, 1, 1_700_000_000);
    let (a, b) = assert_agree(&p);
    assert_eq!(
        (a.cache, b.cache),
        (CacheStatus::NoCache, CacheStatus::NoCache)
    );
    assert!(!a.verified);
    // Expiry is the shorter interval (ours 3600 s) from the driver's unix time.
    let e = ca.clone().load(&zid(2)).unwrap().unwrap();
    assert_eq!(e.rs1.as_ref().unwrap().expiry, Expiry::At(1_700_003_600));
    let now = p.now();
    p.a_mut().input(now, Input::ConfirmSas);
    p.b_mut().input(now, Input::ConfirmSas);

    let p2 = call(&ca, &cb, 2, 1_700_000_100);
    let (a2, b2) = assert_agree(&p2);
    assert_eq!(
        (a2.cache, b2.cache),
        (CacheStatus::MatchedRs1, CacheStatus::MatchedRs1)
    );
    assert!(a2.verified && b2.verified);
    // Only one side verified: neither shows verified (V flag is ANDed).
    let mut c = cb.clone();
    c.set_verified(&zid(1), false).unwrap();
    let p3 = call(&ca, &cb, 3, 1_700_000_200);
    let (a3, b3) = assert_agree(&p3);
    assert!(!a3.verified && !b3.verified);
    assert_eq!(a3.cache, CacheStatus::MatchedRs1);
}

#[test]
fn rs2_covers_an_update_lost_on_one_side() {
    let (ca, cb) = (shared(), shared());
    call(&ca, &cb, 1, 1_700_000_000);
    // Bob's cache misses call 2 (as if his Confirm2/Conf2ACK processing never finished).
    let bob_before = cb.0.lock().unwrap().get(&zid(1)).unwrap().clone_entry();
    call(&ca, &cb, 2, 1_700_000_010);
    cb.0.lock().unwrap().insert(zid(1), bob_before);
    let p = call(&ca, &cb, 3, 1_700_000_020);
    let (a, b) = assert_agree(&p);
    assert_eq!(a.cache, CacheStatus::MatchedRs2);
    assert_eq!(b.cache, CacheStatus::MatchedRs1);
}

#[test]
fn expired_secrets_are_not_used() {
    let (ca, cb) = (shared(), shared());
    call(&ca, &cb, 1, 1_700_000_000);
    // One hour and one second later both rs1 are expired: a first call again, not a mismatch.
    let p = call(&ca, &cb, 2, 1_700_003_601);
    let (a, b) = assert_agree(&p);
    assert_eq!(
        (a.cache, b.cache),
        (CacheStatus::NoCache, CacheStatus::NoCache)
    );
}
