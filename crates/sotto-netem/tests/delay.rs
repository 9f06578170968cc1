//! Delay, jitter and the bandwidth cap: bounds and measured figures.
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
use sotto_netem::{Bandwidth, Jitter, Netem, NetemConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn perfect_link_delivers_everything_at_once_in_order() {
    let mut netem = Netem::new(NetemConfig::new(), 1);
    let delivered = run(&mut netem, base(), 1000, ms(1), 50);
    assert_eq!(delivered.len(), 1000);
    for (i, d) in delivered.iter().enumerate() {
        assert_eq!(d.seq, i as u64);
        assert_eq!(d.delivered_at, d.sent_at);
    }
}

#[test]
fn fixed_delay_is_exact() {
    let mut netem = Netem::new(NetemConfig::new().delay(ms(80)), 1);
    let delivered = run(&mut netem, base(), 1000, ms(3), 50);
    assert_eq!(delivered.len(), 1000);
    assert!(
        delivered
            .iter()
            .all(|d| d.delivered_at - d.sent_at == ms(80))
    );
}

#[test]
fn uniform_jitter_stays_in_bounds_covers_them_and_keeps_order() {
    let (delay, max) = (ms(50), ms(20));
    let mut netem = Netem::new(
        NetemConfig::new().delay(delay).jitter(Jitter::uniform(max)),
        3,
    );
    // Sent every 1 ms: much less than the jitter, so the FIFO rule matters.
    let delivered = run(&mut netem, base(), 20_000, ms(1), 50);
    assert_eq!(delivered.len(), 20_000);
    let mut prev = 0;
    for d in &delivered {
        let owd = d.delivered_at - d.sent_at;
        assert!(
            owd >= delay && owd <= delay + max,
            "one-way delay {owd:?} out of bounds"
        );
        assert!(d.seq >= prev, "jitter alone must not reorder");
        prev = d.seq;
    }
    // Sent every 40 ms (more than the jitter range): the raw distribution shows, mean 10 ms.
    let mut netem = Netem::new(
        NetemConfig::new().delay(delay).jitter(Jitter::uniform(max)),
        3,
    );
    let delivered = run(&mut netem, base(), 20_000, ms(40), 50);
    let extra: Vec<f64> = delivered
        .iter()
        .map(|d| (d.delivered_at - d.sent_at - delay).as_secs_f64())
        .collect();
    let mean = extra.iter().sum::<f64>() / extra.len() as f64;
    let min = extra.iter().copied().fold(f64::MAX, f64::min);
    let top = extra.iter().copied().fold(0.0, f64::max);
    assert!((mean - 0.010).abs() < 0.0003, "mean extra {mean}");
    assert!(
        min < 0.0002 && top > 0.0198,
        "range [{min}, {top}] not covered"
    );
}

#[test]
fn normal_jitter_has_configured_mean_and_deviation() {
    let (mean, sd) = (ms(20), ms(5));
    let config = NetemConfig::new()
        .delay(ms(10))
        .jitter(Jitter::normal(mean, sd));
    let mut netem = Netem::new(config, 4);
    let delivered = run(&mut netem, base(), 20_000, ms(100), 50);
    let extra: Vec<f64> = delivered
        .iter()
        .map(|d| (d.delivered_at - d.sent_at - ms(10)).as_secs_f64())
        .collect();
    let m = extra.iter().sum::<f64>() / extra.len() as f64;
    let var = extra.iter().map(|x| (x - m).powi(2)).sum::<f64>() / extra.len() as f64;
    assert!((m - 0.020).abs() < 0.0002, "mean {m}");
    assert!(
        (var.sqrt() - 0.005).abs() < 0.0002,
        "std dev {}",
        var.sqrt()
    );
    let max = Jitter::normal(mean, sd).max_extra().as_secs_f64();
    assert!(extra.iter().all(|&x| (0.0..=max).contains(&x)));
}

#[test]
fn bandwidth_cap_limits_throughput_and_tail_drops() {
    // 1 Mbit/s; 1000-byte packets take 8 ms; offered 2 Mbit/s (one every 4 ms) for 10 s.
    let bw = Bandwidth::new(1_000_000).max_queue_delay(ms(100));
    let mut netem = Netem::new(NetemConfig::new().delay(ms(20)).bandwidth(bw), 5);
    let delivered = run(&mut netem, base(), 2500, ms(4), 1000);
    let stats = *netem.stats();
    assert_eq!(stats.delivered + stats.dropped_queue, 2500);
    let first = delivered.first().unwrap().delivered_at;
    let last = delivered.last().unwrap().delivered_at;
    let bits = (delivered.len() as f64 - 1.0) * 8000.0;
    let throughput = bits / (last - first).as_secs_f64();
    assert!(
        (throughput - 1e6).abs() / 1e6 < 0.01,
        "throughput {throughput} bit/s"
    );
    // About half the offered load is dropped (minus what the 100 ms queue absorbed).
    let dropped = stats.dropped_queue as f64 / 2500.0;
    assert!((dropped - 0.5).abs() < 0.01, "dropped {dropped}");
    // Nobody waits longer than the queue limit + own serialisation + propagation.
    for d in &delivered {
        let owd = d.delivered_at - d.sent_at;
        assert!(
            owd >= ms(28) && owd <= ms(100) + ms(8) + ms(20),
            "one-way {owd:?}"
        );
    }
}

#[test]
fn under_the_cap_nothing_queues() {
    let bw = Bandwidth::new(1_000_000)
        .overhead_bytes(28)
        .max_queue_delay(ms(50));
    let mut netem = Netem::new(NetemConfig::new().delay(ms(20)).bandwidth(bw), 6);
    // (222 + 28) bytes = 2 ms on the wire, sent every 20 ms (100 kbit/s).
    let delivered = run(&mut netem, base(), 1000, ms(20), 222);
    assert_eq!(delivered.len(), 1000);
    assert!(
        delivered
            .iter()
            .all(|d| d.delivered_at - d.sent_at == ms(22))
    );
}

#[test]
fn queue_byte_limit_drops_bursts() {
    // 10 packets of 1000 bytes at once into a 3000-byte queue at 1 Mbit/s: the first starts
    // on the wire at once (backlog 0), and the queue admits while backlog + packet <= 3000.
    let bw = Bandwidth::new(1_000_000)
        .max_queue_delay(ms(1000))
        .max_queue_bytes(3000);
    let mut netem = Netem::new(NetemConfig::new().bandwidth(bw), 7);
    let t = base();
    for i in 0..10 {
        netem.send(t, common::payload(i, 1000));
    }
    assert_eq!(netem.stats().dropped_queue, 7);
    let mut at = Vec::new();
    while let Some(next) = netem.poll_timeout() {
        netem.poll_receive(next).unwrap();
        at.push(next - t);
    }
    assert_eq!(at, vec![ms(8), ms(16), ms(24)]);
}
