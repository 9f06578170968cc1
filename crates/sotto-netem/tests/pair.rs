//! `Pair` drives two sans-IO endpoints through a lossy link on a virtual clock.
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

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::base;
use sotto_netem::{DriveError, Endpoint, Link, NetemConfig, Pair, Side, Stats};

const RTO: Duration = Duration::from_millis(100);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends pings 0..count one at a time; retransmits every RTO, at most `max_tries` times each.
struct Pinger {
    next: u32,
    count: u32,
    tries: u32,
    max_tries: u32,
    timer: Option<Instant>,
    out: VecDeque<Vec<u8>>,
    retransmissions: u32,
    gave_up: bool,
}

impl Pinger {
    fn new(count: u32, max_tries: u32, now: Instant) -> Self {
        let mut p = Self {
            next: 0,
            count,
            tries: 0,
            max_tries,
            timer: None,
            out: VecDeque::new(),
            retransmissions: 0,
            gave_up: false,
        };
        p.transmit(now);
        p
    }

    fn transmit(&mut self, now: Instant) {
        if self.next == self.count {
            self.timer = None;
        } else if self.tries == self.max_tries {
            self.gave_up = true;
            self.timer = None;
        } else {
            if self.tries > 0 {
                self.retransmissions += 1;
            }
            self.tries += 1;
            self.out.push_back(self.next.to_be_bytes().to_vec());
            self.timer = Some(now + RTO);
        }
    }

    fn done(&self) -> bool {
        self.next == self.count
    }
}

impl Endpoint for Pinger {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if data == self.next.to_be_bytes() && !self.gave_up {
            self.next += 1;
            self.tries = 0;
            self.transmit(now);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.transmit(now);
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
}

/// Echoes every ping; remembers when each arrived.
#[derive(Default)]
struct Ponger {
    out: VecDeque<Vec<u8>>,
    received: Vec<(Instant, Vec<u8>)>,
}

impl Endpoint for Ponger {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        self.received.push((now, data.to_vec()));
        self.out.push_back(data.to_vec());
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn lossy(loss: f64) -> NetemConfig {
    NetemConfig::new().loss(loss).delay(ms(20))
}

fn ping_pong(
    seed: u64,
    loss: f64,
    count: u32,
) -> (
    Result<Duration, DriveError>,
    u32,
    Stats,
    Stats,
    Vec<Duration>,
) {
    let start = base();
    let mut pair = Pair::new(
        Pinger::new(count, u32::MAX, start),
        Ponger::default(),
        Link::symmetric(lossy(loss), seed),
        start,
    );
    let took = pair.drive_until(|a, _| a.done(), Duration::from_secs(3600));
    let arrivals = pair
        .b()
        .received
        .iter()
        .map(|(at, _)| *at - start)
        .collect();
    (
        took,
        pair.a().retransmissions,
        *pair.stats_a_to_b(),
        *pair.stats_b_to_a(),
        arrivals,
    )
}

#[test]
fn ping_pong_completes_under_30_percent_loss_deterministically() {
    let (took, retx, ab, ba, arrivals) = ping_pong(2026, 0.3, 200);
    let took = took.expect("all 200 pings answered");
    // Every ping needs at least one 40 ms round trip; losses add 100 ms timeouts.
    assert!(took >= ms(200 * 40));
    assert!(
        ab.lost_random > 0 && ba.lost_random > 0,
        "loss both ways: {ab:?} {ba:?}"
    );
    // Each lost ping or pong cost one retransmission.
    assert_eq!(u64::from(retx), ab.lost_random + ba.lost_random);
    assert_eq!(ab.sent, 200 + u64::from(retx));
    // Loss near 30 % both ways (few packets here: ±10 pp).
    let rate = (ab.lost_random + ba.lost_random) as f64 / (ab.sent + ba.sent) as f64;
    assert!((rate - 0.3).abs() < 0.1, "loss rate {rate}");
    // Same seed: the identical run, to the nanosecond.
    assert_eq!(
        ping_pong(2026, 0.3, 200),
        (Ok(took), retx, ab, ba, arrivals.clone())
    );
    // Another seed: another run.
    let other = ping_pong(2027, 0.3, 200);
    assert_ne!(other.4, arrivals);
}

#[test]
fn perfect_link_takes_exactly_the_round_trips() {
    let (took, retx, ab, ba, _) = ping_pong(1, 0.0, 10);
    assert_eq!(took, Ok(ms(10 * 40)));
    assert_eq!(retx, 0);
    assert_eq!(
        (ab.sent, ab.delivered, ba.sent, ba.delivered),
        (10, 10, 10, 10)
    );
}

#[test]
fn a_dead_link_stalls_once_the_endpoint_gives_up() {
    let start = base();
    let mut pair = Pair::new(
        Pinger::new(3, 4, start),
        Ponger::default(),
        Link::symmetric(lossy(1.0), 1),
        start,
    );
    let err = pair
        .drive_until(|a, _| a.done(), Duration::from_secs(60))
        .unwrap_err();
    // Four tries 100 ms apart, then the last timer fires and it gives up.
    assert_eq!(err, DriveError::Stalled { elapsed: ms(400) });
    assert!(pair.a().gave_up);
    assert_eq!(pair.stats_a_to_b().lost_random, 4);
}

#[test]
fn a_dead_link_times_out_with_a_persistent_endpoint() {
    let start = base();
    let mut pair = Pair::new(
        Pinger::new(3, u32::MAX, start),
        Ponger::default(),
        Link::symmetric(lossy(1.0), 1),
        start,
    );
    let err = pair.drive_until(|a, _| a.done(), ms(1050)).unwrap_err();
    assert_eq!(err, DriveError::Timeout { budget: ms(1050) });
    assert_eq!(pair.elapsed(), ms(1050), "the clock stops at the deadline");
    assert_eq!(
        pair.stats_a_to_b().sent,
        11,
        "sends at 0, 100, ..., 1000 ms"
    );
}

#[test]
fn link_can_be_changed_mid_run_and_run_for_is_exact() {
    let start = base();
    let mut pair = Pair::new(
        Pinger::new(1000, u32::MAX, start),
        Ponger::default(),
        Link::symmetric(lossy(0.0), 3),
        start,
    );
    pair.run_for(ms(1000)).unwrap();
    assert_eq!(pair.elapsed(), ms(1000));
    let before = pair.a().next;
    assert_eq!(before, 25, "one ping per 40 ms round trip");
    // Outage for two seconds: no progress, only retransmissions.
    pair.link_mut().a_to_b.set_config(lossy(1.0));
    pair.run_for(ms(2000)).unwrap();
    assert!(
        pair.a().next <= before + 1,
        "at most the ping in flight completes"
    );
    pair.link_mut().a_to_b.set_config(lossy(0.0));
    pair.drive_until(|a, _| a.next >= before + 10, Duration::from_secs(10))
        .unwrap();
}

#[test]
fn step_and_drive_reach_idle() {
    let start = base();
    let mut pair = Pair::new(
        Pinger::new(2, 3, start),
        Ponger::default(),
        Link::symmetric(lossy(0.0), 3),
        start,
    );
    let mut steps = 0;
    while pair.step().unwrap() {
        steps += 1;
    }
    assert!(pair.a().done());
    // One step per event: ping 0 arrives at 20 ms, pong 0 at 40, ping 1 at 60, pong 1 at 80.
    assert_eq!(steps, 4);
    assert_eq!(pair.elapsed(), ms(80));
    let mut pair = Pair::new(
        Pinger::new(5, 3, start),
        Ponger::default(),
        Link::symmetric(lossy(0.0), 3),
        start,
    );
    assert_eq!(pair.drive(Duration::from_secs(10)), Ok(ms(200)));
}

#[test]
fn capture_and_inject_support_replay_tests() {
    let start = base();
    let mut pair = Pair::new(
        Pinger::new(3, 5, start),
        Ponger::default(),
        Link::symmetric(lossy(0.3), 8),
        start,
    );
    pair.enable_capture();
    pair.drive_until(|a, _| a.done(), Duration::from_secs(60))
        .unwrap();
    let from_a = pair.captured().iter().filter(|c| c.from == Side::A).count() as u64;
    let from_b = pair.captured().iter().filter(|c| c.from == Side::B).count() as u64;
    assert_eq!(from_a, pair.stats_a_to_b().sent);
    assert_eq!(from_b, pair.stats_b_to_a().sent);
    // Replay A's first ping straight into B: B sees it now, bypassing the link.
    let first = pair.captured()[0].clone();
    assert_eq!((first.at, first.from), (start, Side::A));
    let seen = pair.b().received.len();
    pair.inject(Side::B, &first.data);
    assert_eq!(pair.b().received.len(), seen + 1);
    assert_eq!(pair.b().received.last().unwrap(), &(pair.now(), first.data));
}

/// An endpoint whose timer never moves: a bug the pair must report, not hang on.
struct Stuck(Instant);

impl Endpoint for Stuck {
    fn handle_datagram(&mut self, _now: Instant, _data: &[u8]) {}
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.0)
    }
}

#[test]
fn a_timer_that_never_moves_is_a_livelock() {
    let start = base();
    let mut pair = Pair::new(
        Stuck(start + ms(5)),
        Ponger::default(),
        Link::perfect(),
        start,
    );
    let err = pair
        .drive_until(|_, _| false, Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(err, DriveError::Livelock { elapsed: ms(5) });
}
