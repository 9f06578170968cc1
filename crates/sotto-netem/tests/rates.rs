//! Measured impairment rates over 100 000 packets match the configured ones.
//!
//! Tolerance: ±0.5 percentage points absolute for every rate, ±0.5 packets for the mean burst
//! length. With n = 100 000 independent packets the standard error of a rate p is
//! sqrt(p(1−p)/n) ≤ 0.1 pp, so ±0.5 pp is ≥ 5 standard errors (about 3 for the correlated
//! Gilbert-Elliott losses). The seeds are fixed, so these tests are deterministic anyway; they
//! use a different seed per configured value. (Kept to a handful of 100 000-packet runs so the
//! suite stays fast in debug builds.)
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

use common::{base, run};
use sotto_netem::{Fate, GilbertElliott, Netem, NetemConfig};

const N: u64 = 100_000;
const TOLERANCE: f64 = 0.005;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn assert_close(what: &str, measured: f64, expected: f64, tolerance: f64) {
    eprintln!("{what}: measured {measured:.5}, configured {expected:.5}");
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: measured {measured:.5}, configured {expected:.5}, tolerance ±{tolerance}"
    );
}

#[test]
fn random_loss_rate_matches_configuration() {
    for (seed, p) in [(1, 0.01), (2, 0.3)] {
        let mut netem = Netem::new(NetemConfig::new().loss(p).delay(ms(20)), seed);
        let delivered = run(&mut netem, base(), N, ms(1), 16);
        let stats = *netem.stats();
        assert_eq!(stats.sent, N);
        assert_eq!(
            stats.delivered + stats.lost_random,
            N,
            "every packet accounted for"
        );
        assert_eq!(delivered.len() as u64, stats.delivered);
        assert_eq!(stats.lost_burst + stats.dropped_queue + stats.duplicated, 0);
        assert_close(
            "random loss",
            stats.lost_random as f64 / N as f64,
            p,
            TOLERANCE,
        );
    }
}

/// Lengths of the runs of consecutive burst losses, in send order.
fn loss_runs(netem: &mut Netem) -> (u64, Vec<u64>) {
    let trace = netem.take_trace();
    assert_eq!(trace.len() as u64, N);
    let mut runs = Vec::new();
    let mut current = 0;
    let mut lost = 0;
    for e in &trace {
        if e.fate == Fate::LostBurst {
            current += 1;
            lost += 1;
        } else if current > 0 {
            runs.push(current);
            current = 0;
        }
    }
    if current > 0 {
        runs.push(current);
    }
    (lost, runs)
}

#[test]
fn gilbert_elliott_mean_loss_and_burst_length_match_configuration() {
    for (seed, (loss, burst)) in [(3, (0.05, 3.0)), (4, (0.02, 5.0))] {
        let model = GilbertElliott::from_mean_loss(loss, burst);
        let mut netem = Netem::new(NetemConfig::new().burst_loss(model), seed);
        netem.enable_trace();
        run(&mut netem, base(), N, ms(1), 16);
        let (lost, runs) = loss_runs(&mut netem);
        assert_eq!(netem.stats().lost_burst, lost);
        assert_eq!(netem.stats().lost_random, 0);
        assert_close("burst mean loss", lost as f64 / N as f64, loss, TOLERANCE);
        let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
        assert_close("mean burst length", mean_run, burst, 0.5);
        // Bursty means bursty: far more multi-packet runs than independent loss would give.
        let multi = runs.iter().filter(|&&r| r > 1).count() as f64 / runs.len() as f64;
        assert!(
            multi > 0.3,
            "share of bursts longer than one packet: {multi}"
        );
    }
}

#[test]
fn general_gilbert_elliott_mean_loss_matches_formula() {
    // Bad state loses only half, good state loses 1 %: mean = (1-πB)·0.01 + πB·0.5.
    let model = GilbertElliott::new(0.02, 0.2, 0.01, 0.5);
    let expected = model.mean_loss();
    assert!((expected - (10.0 / 11.0 * 0.01 + 1.0 / 11.0 * 0.5)).abs() < 1e-12);
    {
        let mut netem = Netem::new(NetemConfig::new().burst_loss(model), 5);
        run(&mut netem, base(), N, ms(1), 16);
        assert_close(
            "GE mean loss",
            netem.stats().lost_burst as f64 / N as f64,
            expected,
            TOLERANCE,
        );
    }
}

#[test]
fn reorder_rate_matches_configuration() {
    for (seed, p) in [(6, 0.05), (7, 0.2)] {
        // Packets every 1 ms, held ones wait 10 ms more: each held packet is overtaken.
        let config = NetemConfig::new().delay(ms(30)).reorder(p, ms(10));
        let mut netem = Netem::new(config, seed);
        let delivered = run(&mut netem, base(), N, ms(1), 16);
        let stats = *netem.stats();
        assert_eq!(stats.delivered, N, "reordering loses nothing");
        assert_close("held back", stats.reordered as f64 / N as f64, p, TOLERANCE);
        assert_close(
            "delivered out of order",
            stats.delivered_out_of_order as f64 / N as f64,
            p,
            TOLERANCE,
        );
        // Cross-check the counter against what the receiver saw.
        let mut max = 0;
        let mut late = 0;
        for d in &delivered {
            if d.seq < max {
                late += 1;
            }
            max = max.max(d.seq);
        }
        assert_eq!(late, stats.delivered_out_of_order);
    }
}

#[test]
fn duplicate_rate_matches_configuration() {
    for (seed, p) in [(8, 0.02), (9, 0.1)] {
        let mut netem = Netem::new(NetemConfig::new().delay(ms(5)).duplicate(p), seed);
        let delivered = run(&mut netem, base(), N, ms(1), 16);
        let stats = *netem.stats();
        assert_eq!(
            stats.delivered,
            N + stats.duplicated,
            "a duplicate is one extra copy"
        );
        assert_eq!(delivered.len() as u64, stats.delivered);
        assert_close(
            "duplicated",
            stats.duplicated as f64 / N as f64,
            p,
            TOLERANCE,
        );
        // Each duplicated packet arrives exactly twice, and nothing else does.
        let mut counts = vec![0u8; N as usize];
        for d in &delivered {
            counts[d.seq as usize] += 1;
        }
        let twice = counts.iter().filter(|&&c| c == 2).count() as u64;
        assert_eq!(twice, stats.duplicated);
        assert!(counts.iter().all(|&c| c == 1 || c == 2));
        assert_eq!(
            stats.delivered_out_of_order, 0,
            "no jitter, no reorder: FIFO"
        );
    }
}

#[test]
fn impairments_compose() {
    let config = NetemConfig::new()
        .loss(0.05)
        .burst_loss(GilbertElliott::from_mean_loss(0.05, 3.0))
        .duplicate(0.02)
        .delay(ms(40))
        .reorder(0.03, ms(10));
    let mut netem = Netem::new(config, 9);
    run(&mut netem, base(), N, ms(1), 16);
    let s = *netem.stats();
    assert_eq!(
        s.sent + s.duplicated,
        s.delivered + s.lost(),
        "conservation"
    );
    // Random loss applies to what burst loss left: 0.95 · 0.05.
    assert_close("burst", s.lost_burst as f64 / N as f64, 0.05, TOLERANCE);
    assert_close(
        "random",
        s.lost_random as f64 / N as f64,
        0.95 * 0.05,
        TOLERANCE,
    );
    let survivors = (N - s.lost_burst - s.lost_random) as f64;
    assert_close("dup", s.duplicated as f64 / survivors, 0.02, TOLERANCE);
    assert_close(
        "reorder",
        s.reordered as f64 / s.delivered as f64,
        0.03,
        TOLERANCE,
    );
}
