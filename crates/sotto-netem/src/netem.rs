//! One direction of an emulated link: [`Netem`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Jitter, NetemConfig};

/// Something that can travel through a [`Netem`]: it has a size on the wire (for the bandwidth
/// cap) and can be copied (for duplication).
///
/// Implemented for `Vec<u8>` and `Box<[u8]>`; implement it for your own packet type to push
/// typed values through the emulator.
pub trait Packet: Clone {
    /// Size on the wire in bytes (before [`Bandwidth::overhead_bytes`](crate::Bandwidth::overhead_bytes)).
    fn wire_len(&self) -> usize;
}

impl Packet for Vec<u8> {
    fn wire_len(&self) -> usize {
        self.len()
    }
}

impl Packet for Box<[u8]> {
    fn wire_len(&self) -> usize {
        self.len()
    }
}

/// Counters of what a [`Netem`] did. Every packet handed to [`Netem::send`] ends up in exactly
/// one of `lost_random`, `lost_burst`, or (per copy) `dropped_queue`, delivered, or still in
/// flight:
///
/// `sent + duplicated == lost_random + lost_burst + dropped_queue + delivered + in_flight`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Packets handed to [`Netem::send`].
    pub sent: u64,
    /// Copies handed out by [`Netem::poll_receive`] (duplicates count twice).
    pub delivered: u64,
    /// Bytes handed out by [`Netem::poll_receive`].
    pub bytes_delivered: u64,
    /// Packets dropped by random loss.
    pub lost_random: u64,
    /// Packets dropped by the Gilbert-Elliott model.
    pub lost_burst: u64,
    /// Copies tail-dropped by the bandwidth queue.
    pub dropped_queue: u64,
    /// Packets that were duplicated (each adds one extra copy).
    pub duplicated: u64,
    /// Copies the reorder impairment held back.
    pub reordered: u64,
    /// Copies delivered after a copy of a packet that was sent later (measured at the receiver).
    pub delivered_out_of_order: u64,
}

impl Stats {
    /// All losses: `lost_random + lost_burst + dropped_queue`.
    #[must_use]
    pub const fn lost(&self) -> u64 {
        self.lost_random + self.lost_burst + self.dropped_queue
    }
}

/// What happened to one copy of a packet, as recorded by the trace (see
/// [`Netem::enable_trace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fate {
    /// Dropped by random loss.
    LostRandom,
    /// Dropped by the Gilbert-Elliott model.
    LostBurst,
    /// Tail-dropped by the bandwidth queue.
    DroppedQueue,
    /// Will be delivered at `deliver_at`; `held` if the reorder impairment held it back.
    Scheduled {
        /// Delivery time.
        deliver_at: Instant,
        /// Whether the reorder impairment held this copy back.
        held: bool,
    },
}

/// One line of the schedule: the fate of one copy of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    /// Index of the packet in the order it was sent (0, 1, 2, ...).
    pub seq: u64,
    /// 0 for the original, 1 for the duplicate.
    pub copy: u8,
    /// When it was sent.
    pub sent_at: Instant,
    /// Its [`Packet::wire_len`].
    pub len: usize,
    /// What happened to it.
    pub fate: Fate,
}

/// A copy waiting for its delivery time.
#[derive(Debug)]
struct Scheduled<T> {
    at: Instant,
    /// Insertion order, to deliver copies due at the same instant first-in first-out.
    order: u64,
    seq: u64,
    payload: T,
}

impl<T> PartialEq for Scheduled<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Scheduled<T> {}

impl<T> PartialOrd for Scheduled<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Scheduled<T> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest delivery first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One random stream per impairment, so that enabling one impairment does not change the
/// random draws of another (the same packets are lost whether or not jitter is on).
#[derive(Debug, Clone)]
struct Streams {
    burst: ChaCha8Rng,
    loss: ChaCha8Rng,
    duplicate: ChaCha8Rng,
    jitter: ChaCha8Rng,
    reorder: ChaCha8Rng,
}

impl Streams {
    fn new(seed: u64, direction: u64) -> Self {
        let stream = |k: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(direction.wrapping_mul(16).wrapping_add(k));
            rng
        };
        Self {
            burst: stream(0),
            loss: stream(1),
            duplicate: stream(2),
            jitter: stream(3),
            reorder: stream(4),
        }
    }
}

/// One direction of an emulated link, on a virtual clock.
///
/// Sans-IO: hand it packets with [`send`](Self::send), ask for the next delivery time with
/// [`poll_timeout`](Self::poll_timeout), and take due packets with
/// [`poll_receive`](Self::poll_receive). Time only moves through the `now` arguments, which must
/// not go backwards.
///
/// **Determinism:** the schedule (which packets are lost, duplicated, held, and every delivery
/// time) is a pure function of the seed, the configuration, and the sequence of
/// `(now, packet length)` passed to `send`. Each impairment draws from its own ChaCha8 stream,
/// so turning one impairment on or off does not change the decisions of the others.
#[derive(Debug)]
pub struct Netem<T = Vec<u8>> {
    config: NetemConfig,
    rng: Streams,
    /// Gilbert-Elliott state: `true` = bad.
    bad: bool,
    queue: BinaryHeap<Scheduled<T>>,
    /// When the wire (bandwidth cap) is free again.
    busy_until: Option<Instant>,
    /// Latest delivery time given to a copy that was not held back (keeps jitter FIFO).
    last_in_order: Option<Instant>,
    next_seq: u64,
    next_order: u64,
    /// Highest `seq` delivered so far (for `delivered_out_of_order`).
    max_delivered: Option<u64>,
    stats: Stats,
    trace: Option<Vec<TraceEvent>>,
}

impl<T: Packet> Netem<T> {
    /// A new emulator for one direction. The same `seed` and inputs always give the same
    /// schedule.
    #[must_use]
    pub fn new(config: NetemConfig, seed: u64) -> Self {
        Self::with_direction(config, seed, 0)
    }

    /// As [`new`](Self::new), on independent random streams selected by `direction` (a
    /// [`Link`](crate::Link) uses 0 for A→B and 1 for B→A, so both directions can share a
    /// seed without mirroring each other's losses).
    #[must_use]
    pub fn with_direction(config: NetemConfig, seed: u64, direction: u64) -> Self {
        Self {
            config,
            rng: Streams::new(seed, direction),
            bad: false,
            queue: BinaryHeap::new(),
            busy_until: None,
            last_in_order: None,
            next_seq: 0,
            next_order: 0,
            max_delivered: None,
            stats: Stats::default(),
            trace: None,
        }
    }

    /// The current configuration.
    #[must_use]
    pub const fn config(&self) -> &NetemConfig {
        &self.config
    }

    /// Replaces the configuration from now on (e.g. to model an outage with `loss(1.0)`).
    /// Packets already in flight keep their schedule; the Gilbert-Elliott state is kept.
    pub fn set_config(&mut self, config: NetemConfig) {
        self.config = config;
    }

    /// The counters so far.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Copies scheduled but not yet delivered.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Starts recording the fate of every copy sent from now on (see [`take_trace`](Self::take_trace)).
    pub fn enable_trace(&mut self) {
        if self.trace.is_none() {
            self.trace = Some(Vec::new());
        }
    }

    /// The recorded schedule since the last call (empty if tracing is off).
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn record(&mut self, event: TraceEvent) {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(event);
        }
    }

    /// Hands a packet to the link at `now`. It is lost, or scheduled for delivery (once or
    /// twice) at or after `now + delay`.
    pub fn send(&mut self, now: Instant, packet: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.sent += 1;
        let len = packet.wire_len();
        let lost = |fate| TraceEvent {
            seq,
            copy: 0,
            sent_at: now,
            len,
            fate,
        };

        if self.burst_loses() {
            self.stats.lost_burst += 1;
            self.record(lost(Fate::LostBurst));
            return;
        }
        let loss = self.config.loss;
        if loss > 0.0 && self.rng.loss.r#gen::<f64>() < loss {
            self.stats.lost_random += 1;
            self.record(lost(Fate::LostRandom));
            return;
        }
        let dup = self.config.duplicate;
        if dup > 0.0 && self.rng.duplicate.r#gen::<f64>() < dup {
            self.stats.duplicated += 1;
            self.schedule(now, seq, 0, packet.clone());
            self.schedule(now, seq, 1, packet);
        } else {
            self.schedule(now, seq, 0, packet);
        }
    }

    /// Steps the Gilbert-Elliott state and says whether it loses this packet.
    fn burst_loses(&mut self) -> bool {
        let Some(ge) = self.config.burst else {
            return false;
        };
        let flip = if self.bad { ge.r() } else { ge.p() };
        if self.rng.burst.r#gen::<f64>() < flip {
            self.bad = !self.bad;
        }
        let loss = if self.bad {
            ge.loss_bad()
        } else {
            ge.loss_good()
        };
        // Always draw, so the state sequence does not depend on the loss probabilities.
        self.rng.burst.r#gen::<f64>() < loss
    }

    fn jitter_sample(&mut self) -> Duration {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match self.config.jitter {
            Jitter::None => Duration::ZERO,
            Jitter::Uniform { max } => {
                Duration::from_nanos(self.rng.jitter.gen_range(0..=nanos(max)))
            }
            Jitter::Normal { mean, std_dev } => {
                // Irwin-Hall: the sum of 12 uniforms minus 6 has mean 0 and variance 1.
                let z: f64 = (0..12).map(|_| self.rng.jitter.r#gen::<f64>()).sum::<f64>() - 6.0;
                let x = nanos(mean) as f64 + nanos(std_dev) as f64 * z;
                let max = nanos(self.config.jitter.max_extra()) as f64;
                // `as` saturates and maps NaN to 0.
                Duration::from_nanos(x.clamp(0.0, max) as u64)
            }
        }
    }

    fn schedule(&mut self, now: Instant, seq: u64, copy: u8, packet: T) {
        let len = packet.wire_len();
        let mut event = TraceEvent {
            seq,
            copy,
            sent_at: now,
            len,
            fate: Fate::DroppedQueue,
        };

        // Bandwidth cap: serialise behind the backlog, or tail-drop.
        let mut on_wire = now;
        if let Some(bw) = self.config.bandwidth {
            let start = self.busy_until.map_or(now, |busy| busy.max(now));
            let backlog = start.saturating_duration_since(now);
            let too_long = backlog > bw.max_queue_delay;
            let too_big = bw.max_queue_bytes.is_some_and(|max| {
                let mine = len as u64 + u64::from(bw.overhead_bytes);
                bw.bytes_in(backlog).saturating_add(mine) > max
            });
            if too_long || too_big {
                self.stats.dropped_queue += 1;
                self.record(event);
                return;
            }
            on_wire = start + bw.serialization_time(len);
            self.busy_until = Some(on_wire);
        }

        let mut at = on_wire + self.config.delay + self.jitter_sample();
        let held = match self.config.reorder {
            Some(reorder) if reorder.probability > 0.0 => {
                self.rng.reorder.r#gen::<f64>() < reorder.probability
            }
            _ => false,
        };
        if let Some(last) = self.last_in_order {
            at = at.max(last);
        }
        if held {
            self.stats.reordered += 1;
            at += self.config.reorder.map_or(Duration::ZERO, |r| r.hold);
        } else {
            self.last_in_order = Some(at);
        }

        event.fate = Fate::Scheduled {
            deliver_at: at,
            held,
        };
        self.record(event);
        let order = self.next_order;
        self.next_order += 1;
        self.queue.push(Scheduled {
            at,
            order,
            seq,
            payload: packet,
        });
    }

    /// The next packet whose delivery time is `<= now`, if any. Copies due at the same
    /// instant come out in the order they were scheduled.
    pub fn poll_receive(&mut self, now: Instant) -> Option<T> {
        if self.queue.peek()?.at > now {
            return None;
        }
        let next = self.queue.pop()?;
        self.stats.delivered += 1;
        self.stats.bytes_delivered += next.payload.wire_len() as u64;
        match self.max_delivered {
            Some(max) if next.seq < max => self.stats.delivered_out_of_order += 1,
            Some(max) if next.seq == max => {}
            _ => self.max_delivered = Some(next.seq),
        }
        Some(next.payload)
    }

    /// When the next packet is due, if any is in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.peek().map(|s| s.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Bandwidth;

    /// A typed packet: the emulator only needs its size and a way to copy it.
    #[derive(Debug, Clone, PartialEq)]
    struct Frame {
        id: u32,
        size: usize,
    }

    impl Packet for Frame {
        fn wire_len(&self) -> usize {
            self.size
        }
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "test code needs one base Instant"
    )]
    fn base() -> Instant {
        Instant::now()
    }

    #[test]
    fn typed_packets_go_through_the_bandwidth_cap_by_size() {
        let bw = Bandwidth::new(8_000).max_queue_delay(Duration::from_secs(10));
        let mut netem: Netem<Frame> = Netem::new(NetemConfig::new().bandwidth(bw), 1);
        let t = base();
        netem.send(t, Frame { id: 1, size: 10 }); // 80 bits at 8 kbit/s: 10 ms
        netem.send(t, Frame { id: 2, size: 20 }); // then 20 ms more
        assert_eq!(netem.poll_timeout(), Some(t + Duration::from_millis(10)));
        assert_eq!(netem.poll_receive(t + Duration::from_millis(9)), None);
        let at = t + Duration::from_millis(30);
        assert_eq!(netem.poll_receive(at), Some(Frame { id: 1, size: 10 }));
        assert_eq!(netem.poll_receive(at), Some(Frame { id: 2, size: 20 }));
        assert_eq!(netem.stats().bytes_delivered, 30);
    }

    #[test]
    fn set_config_models_an_outage_without_touching_packets_in_flight() {
        let delay = Duration::from_millis(50);
        let mut netem: Netem = Netem::new(NetemConfig::new().delay(delay), 2);
        let t = base();
        netem.send(t, vec![1]);
        netem.set_config(NetemConfig::new().loss(1.0));
        netem.send(t, vec![2]);
        assert_eq!(netem.stats().lost_random, 1);
        assert_eq!(netem.poll_receive(t + delay), Some(vec![1]));
        assert_eq!(netem.in_flight(), 0);
        assert_eq!(netem.poll_timeout(), None);
    }
}
