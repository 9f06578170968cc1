//! Replayed and reordered messages (RFC 6189 §4, §9): duplicates, reordering and whole replayed
//! earlier sessions neither break the handshake nor change its keys.
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
use sotto_netem::{Jitter, Link, NetemConfig, Pair, Side};

#[test]
fn reordering_and_duplication() {
    for seed in 0..200u64 {
        let cfg = NetemConfig::default()
            .delay(Duration::from_millis(20))
            .jitter(Jitter::uniform(Duration::from_millis(40)))
            .reorder(0.3, Duration::from_millis(60))
            .duplicate(0.3);
        let pair = run(
            config(1),
            config(2),
            Link::symmetric(cfg, seed),
            seed,
            Duration::from_secs(10),
        );
        assert_agree(&pair);
    }
}

fn record_old_session() -> Vec<sotto_netem::Captured> {
    let start = t0();
    let mut old = Pair::new(
        session(config(1), 1, None, start),
        session(config(2), 2, None, start),
        perfect(),
        start,
    );
    old.enable_capture();
    old.drive_until(|a, b| a.done() && b.done(), Duration::from_secs(5))
        .unwrap();
    old.captured().to_vec()
}

fn replay(p: &mut Pair<Peer, Peer>, recorded: &[sotto_netem::Captured]) {
    for c in recorded {
        let to = match c.from {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        p.inject(to, &c.data);
    }
}

#[test]
fn replayed_old_session_mid_handshake_is_ignored() {
    let recorded = record_old_session();
    for delay_ms in [5u64, 15, 25, 35] {
        let start = t0();
        let link = Link::symmetric(NetemConfig::default().delay(Duration::from_millis(5)), 1);
        let mut fresh = Pair::new(
            session(config(1), 3, None, start),
            session(config(2), 4, None, start),
            link,
            start,
        );
        // Let the fresh Hellos cross first, then replay everything from the old call.
        fresh.run_for(Duration::from_millis(delay_ms)).unwrap();
        replay(&mut fresh, &recorded);
        fresh
            .drive_until(|a, b| a.done() && b.done(), Duration::from_secs(10))
            .unwrap();
        let (a, _) = assert_agree(&fresh);
        assert_ne!(a.sas_value, 0);
    }
}

#[test]
fn replayed_old_session_before_hello_never_yields_keys() {
    // Injected before the fresh Hellos, the old Hello (same ZID) is indistinguishable from a new
    // one without a=zrtp-hash: the attacker can make the call fail (as dropping packets would),
    // but no side may reach Secure with anything but the other real side.
    let recorded = record_old_session();
    let start = t0();
    let mut fresh = Pair::new(
        session(config(1), 3, None, start),
        session(config(2), 4, None, start),
        perfect(),
        start,
    );
    replay(&mut fresh, &recorded);
    let _ = fresh.drive_until(|a, b| a.done() && b.done(), Duration::from_secs(10));
    match (fresh.a().secure(), fresh.b().secure()) {
        (Some(_), Some(_)) => {
            assert_agree(&fresh);
        }
        (a, b) => {
            assert!(
                a.is_none() && b.is_none(),
                "one side secure with a replayed peer"
            );
            assert!(fresh.a().failed().is_some() || fresh.b().failed().is_some());
        }
    }
}

#[test]
fn replayed_messages_after_secure_do_nothing() {
    let start = t0();
    let mut p = Pair::new(
        session(config(1), 5, None, start),
        session(config(2), 6, None, start),
        perfect(),
        start,
    );
    p.enable_capture();
    p.drive_until(|a, b| a.done() && b.done(), Duration::from_secs(5))
        .unwrap();
    let n_events = (p.a().events.len(), p.b().events.len());
    let recorded = p.captured().to_vec();
    for c in &recorded {
        let to = match c.from {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        p.inject(to, &c.data);
    }
    p.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (p.a().events.len(), p.b().events.len()),
        n_events,
        "no new events"
    );
    assert!(p.a().session.is_secure() && p.b().session.is_secure());
}
