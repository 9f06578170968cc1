//! Same seed and inputs → identical schedule; different seed → different schedule.
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

use std::time::{Duration, Instant};

use common::{base, run};
use sotto_netem::{Bandwidth, Fate, GilbertElliott, Jitter, Link, Netem, NetemConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn everything() -> NetemConfig {
    NetemConfig::new()
        .loss(0.05)
        .burst_loss(GilbertElliott::from_mean_loss(0.03, 4.0))
        .duplicate(0.02)
        .delay(ms(30))
        .jitter(Jitter::normal(ms(5), ms(2)))
        .reorder(0.05, ms(15))
        .bandwidth(Bandwidth::new(2_000_000).max_queue_delay(ms(50)))
}

/// The schedule, with times relative to `start` so that runs with different bases compare.
fn schedule(
    seed: u64,
    config: NetemConfig,
    start: Instant,
) -> Vec<(u64, u8, Duration, Option<Duration>, bool)> {
    let mut netem = Netem::new(config, seed);
    netem.enable_trace();
    let delivered = run(&mut netem, start, 10_000, ms(1), 300);
    let trace = netem.take_trace();
    // The trace is the truth about what was delivered.
    let scheduled = trace
        .iter()
        .filter(|e| matches!(e.fate, Fate::Scheduled { .. }))
        .count();
    assert_eq!(scheduled, delivered.len());
    trace
        .iter()
        .map(|e| {
            let (at, held) = match e.fate {
                Fate::Scheduled { deliver_at, held } => (Some(deliver_at - start), held),
                _ => (None, false),
            };
            (e.seq, e.copy, e.sent_at - start, at, held)
        })
        .collect()
}

#[test]
fn same_seed_same_schedule() {
    let a = schedule(42, everything(), base());
    let b = schedule(42, everything(), base() + Duration::from_secs(1000));
    assert_eq!(a, b);
    // And it is not trivially empty: every impairment shows up.
    assert!(a.iter().any(|e| e.3.is_none()), "some losses");
    assert!(a.iter().any(|e| e.1 == 1), "some duplicates");
    assert!(a.iter().any(|e| e.4), "some held back");
}

#[test]
fn different_seed_different_schedule() {
    let a = schedule(42, everything(), base());
    let b = schedule(43, everything(), base());
    assert_ne!(a, b);
    let lost = |s: &[(u64, u8, Duration, Option<Duration>, bool)]| {
        s.iter()
            .filter(|e| e.3.is_none())
            .map(|e| e.0)
            .collect::<Vec<_>>()
    };
    assert_ne!(lost(&a), lost(&b), "different packets lost");
}

#[test]
fn impairments_draw_from_independent_streams() {
    // Adding jitter, reordering and duplication does not change which packets random loss drops.
    let lost = |config: NetemConfig| {
        let mut netem = Netem::new(config, 11);
        netem.enable_trace();
        run(&mut netem, base(), 5000, ms(1), 100);
        netem
            .take_trace()
            .into_iter()
            .filter(|e| e.fate == Fate::LostRandom)
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    let plain = lost(NetemConfig::new().loss(0.1));
    let busy = lost(
        NetemConfig::new()
            .loss(0.1)
            .jitter(Jitter::uniform(ms(30)))
            .reorder(0.1, ms(5))
            .duplicate(0.1),
    );
    assert!(!plain.is_empty());
    assert_eq!(plain, busy);
}

#[test]
fn link_directions_are_independent() {
    let mut link: Link = Link::symmetric(NetemConfig::new().loss(0.2), 5);
    let t = base();
    let mut ab = Vec::new();
    let mut ba = Vec::new();
    for i in 0..2000u64 {
        link.a_to_b.send(t, common::payload(i, 8));
        link.b_to_a.send(t, common::payload(i, 8));
    }
    while let Some(p) = link.a_to_b.poll_receive(t) {
        ab.push(common::seq_of(&p));
    }
    while let Some(p) = link.b_to_a.poll_receive(t) {
        ba.push(common::seq_of(&p));
    }
    assert_ne!(
        ab, ba,
        "the two directions must not mirror each other's losses"
    );
    // And a Link is as deterministic as a Netem.
    let mut again: Link = Link::symmetric(NetemConfig::new().loss(0.2), 5);
    for i in 0..2000u64 {
        again.a_to_b.send(t, common::payload(i, 8));
    }
    let mut ab2 = Vec::new();
    while let Some(p) = again.a_to_b.poll_receive(t) {
        ab2.push(common::seq_of(&p));
    }
    assert_eq!(ab, ab2);
}
