//! An adaptive jitter buffer, sans-IO: packets in with their arrival time, one frame out per
//! playout tick. The caller owns the clock (`now`) and the decoder.
//!
//! ## How it decides
//!
//! Every packet gives a delay sample `d = arrival − media time` (both in ms, on the receiver's
//! clock; the constant offset between the clocks cancels out). Frames are played at
//! `media time + D`, where `D` is the *playout delay*. A packet is on time iff `d ≤ D`.
//!
//! - **Target**: `D_target` = the configured percentile (97 % by default, not the mean) of the
//!   last `window` delay samples plus a small margin, plus one frame when loss has been seen
//!   recently so the *next* packet is usually there to supply Opus FEC for a lost one. It is
//!   clamped to `[min_d + min_delay, min_d + max_delay]` where `min_d` is the smallest recent
//!   sample, so the buffer never holds more than `max_delay` of jitter. The target rises at
//!   once and decays by at most 5 ms/s, so percentile noise does not make the delay hunt.
//! - **Control**: at each tick `D_now = now − media time of the next frame` is compared with
//!   the target. Too much delay → drop a frame (*accelerate*); too little → play a concealment
//!   frame without advancing (*expand*). Both prefer a quiet moment (the caller says whether the
//!   last frame it played was quiet), and are forced outside silence only when the error is
//!   large, or when the next frame is missing while the delay is below target (an underrun
//!   then is most likely a late packet). This is also how clock drift is absorbed: the drift
//!   shows up as a slowly growing error, corrected one frame at a time in silence.
//! - **Outages**: while nothing arrives the playout position keeps moving (concealment), so the
//!   delay does not grow during an outage; packets that arrive after it are either on time or
//!   late (dropped), and samples further out than `max_delay` are not fed to the estimator, so
//!   a burst of stale packets does not inflate the target. A run of late packets or a jump in
//!   the media clock re-anchors the stream.
//! - **Loss**: a missing frame whose successor is buffered is returned as
//!   [`Playout::Fec`] (decode the successor's in-band FEC); otherwise [`Playout::Conceal`].
//!   With RFC 2198 redundancy, [`JitterBuffer::insert_redundant`] fills the gap before it is
//!   due, and the look-ahead grows to the redundancy distance.
//!
//! Storage is a fixed ring of slots allocated once; inserting and playing do not allocate.

use std::time::{Duration, Instant};

/// Ring capacity in frames (1.28 s of 20 ms frames).
const CAP: usize = 64;
/// Largest payload kept (bytes); larger ones are rejected.
pub const MAX_PAYLOAD: usize = 1500;
/// A jump in the delay samples larger than this (ms) re-anchors the stream.
const DISCONTINUITY_MS: f64 = 1000.0;
/// This many late packets in a row re-anchor the stream.
const LATE_RUN_RESYNC: u32 = 10;

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// RTP clock rate (48000 for Opus, 8000 for G.711).
    pub clock_rate: u32,
    /// Frame (packet) duration; every packet is assumed to carry one frame.
    pub frame: Duration,
    /// Smallest playout delay above the fastest recent packet.
    pub min_delay: Duration,
    /// Largest playout delay above the fastest recent packet.
    pub max_delay: Duration,
    /// Which percentile of the delay samples the target covers (0.5–1.0).
    pub percentile: f64,
    /// How many recent packets the estimate uses.
    pub window: usize,
    /// Safety margin added to the percentile.
    pub margin: Duration,
    /// Error (above the target) beyond which a frame is dropped even in speech.
    pub force_accelerate: Duration,
    /// Error (below the target) beyond which a frame is inserted even in speech.
    pub force_expand: Duration,
    /// Delay used until 20 packets have been measured.
    pub initial_delay: Duration,
}

impl JitterConfig {
    /// Defaults for 20 ms frames at `clock_rate`: 97th percentile over 250 packets (5 s),
    /// 3 ms margin, delay between 0 and 300 ms above the fastest packet.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            frame: Duration::from_millis(20),
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(300),
            percentile: 0.97,
            window: 250,
            margin: Duration::from_millis(3),
            force_accelerate: Duration::from_millis(60),
            force_expand: Duration::from_millis(40),
            initial_delay: Duration::from_millis(40),
        }
    }
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored for playout.
    Buffered,
    /// Already had it.
    Duplicate,
    /// Its frame was already played or skipped.
    Late,
    /// Too far ahead of the playout position, or too large: dropped.
    Overflow,
    /// A discontinuity: the buffer was re-anchored on this packet.
    Resync,
}

/// What to play for this tick.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// Nothing received yet (or still filling): play silence.
    Idle,
    /// Decode this payload.
    Packet(&'a [u8]),
    /// The frame was lost but the next packet is here: decode its in-band FEC.
    Fec(&'a [u8]),
    /// The frame was lost: conceal.
    Conceal,
    /// Delay adjustment: play one concealment frame without consuming a packet.
    Expand,
}

/// Counters, for tests, RTCP-XR-like reporting and the quality benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets offered to `insert`.
    pub received: u64,
    /// Duplicates discarded.
    pub duplicates: u64,
    /// Packets that came too late.
    pub late: u64,
    /// Packets dropped for overflow.
    pub overflow: u64,
    /// Frames played from a packet.
    pub played: u64,
    /// Frames recovered from the next packet's FEC.
    pub fec: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Frames inserted to grow the delay (or absorb drift).
    pub expanded: u64,
    /// Frames dropped to shrink the delay (or absorb drift).
    pub accelerated: u64,
    /// Times the stream was re-anchored.
    pub resyncs: u64,
    /// Frames filled in from RFC 2198 redundancy before their playout.
    pub red_recovered: u64,
    /// Sum over played packets of (play time − arrival time), ms.
    pub buffer_delay_sum_ms: f64,
}

impl JitterStats {
    /// Mean time a played packet waited in the buffer, ms (WebRTC's
    /// `jitterBufferDelay / jitterBufferEmittedCount`).
    pub fn mean_buffer_delay_ms(&self) -> f64 {
        if self.played == 0 {
            0.0
        } else {
            self.buffer_delay_sum_ms / self.played as f64
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    frame: i64,
    occupied: bool,
    arrival_ms: f64,
    data: Vec<u8>,
}

/// The adaptive jitter buffer. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    frame_ts: i64,
    frame_ms: f64,
    slots: Vec<Slot>,
    epoch: Option<Instant>,
    ts_high: Option<i64>,
    base_ts: i64,
    next: Option<i64>,
    delays: Vec<f64>,
    delay_pos: usize,
    scratch: Vec<f64>,
    target_ms: f64,
    min_d: f64,
    last_d: Option<f64>,
    loss_ema: f64,
    late_run: u32,
    prev_missing: bool,
    red_distance: i64,
    last_arrival_ms: f64,
    stats: JitterStats,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> Self {
        let frame_ts = (u128::from(cfg.clock_rate) * cfg.frame.as_nanos() / 1_000_000_000) as i64;
        let window = cfg.window.max(8);
        Self {
            cfg,
            frame_ts: frame_ts.max(1),
            frame_ms: ms(cfg.frame).max(0.125),
            slots: (0..CAP)
                .map(|_| Slot {
                    frame: 0,
                    occupied: false,
                    arrival_ms: 0.0,
                    data: Vec::with_capacity(MAX_PAYLOAD),
                })
                .collect(),
            epoch: None,
            ts_high: None,
            base_ts: 0,
            next: None,
            delays: Vec::with_capacity(window),
            delay_pos: 0,
            scratch: Vec::with_capacity(window),
            target_ms: 0.0,
            min_d: 0.0,
            last_d: None,
            loss_ema: 0.0,
            late_run: 0,
            prev_missing: false,
            red_distance: 0,
            last_arrival_ms: 0.0,
            stats: JitterStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// The current target playout delay above the fastest recent packet, ms.
    pub fn target_delay_ms(&self) -> f64 {
        self.target_ms - self.min_d
    }

    /// The current playout delay above the fastest recent packet, ms (`None` before playout
    /// starts).
    pub fn current_delay_ms(&self, now: Instant) -> Option<f64> {
        let next = self.next?;
        Some(self.now_ms(now) - next as f64 * self.frame_ms - self.min_d)
    }

    /// Frames currently buffered.
    pub fn buffered(&self) -> usize {
        self.slots.iter().filter(|s| s.occupied).count()
    }

    fn now_ms(&self, now: Instant) -> f64 {
        self.epoch
            .map(|e| ms(now.saturating_duration_since(e)) - ms(e.saturating_duration_since(now)))
            .unwrap_or(0.0)
    }

    fn slot_index(frame: i64) -> usize {
        frame.rem_euclid(CAP as i64) as usize
    }

    fn extend_ts(&mut self, ts: u32) -> i64 {
        match self.ts_high {
            None => {
                let e = i64::from(ts);
                self.ts_high = Some(e);
                e
            }
            Some(h) => {
                let delta = i64::from(ts.wrapping_sub(h as u32) as i32);
                let e = h + delta;
                if e > h {
                    self.ts_high = Some(e);
                }
                e
            }
        }
    }

    fn clear_slots(&mut self) {
        for s in &mut self.slots {
            s.occupied = false;
        }
    }

    fn resync(&mut self, ext_ts: i64) {
        self.clear_slots();
        self.base_ts = ext_ts;
        self.next = None;
        self.delays.clear();
        self.delay_pos = 0;
        self.last_d = None;
        self.late_run = 0;
        self.stats.resyncs += 1;
    }

    fn record_delay(&mut self, d: f64) {
        let window = self.cfg.window.max(8);
        // Outage outliers (far beyond what the buffer may hold) are not jitter to absorb.
        if self.delays.len() >= 8 && d > self.min_d + ms(self.cfg.max_delay) + self.frame_ms {
            return;
        }
        if self.delays.len() < window {
            self.delays.push(d);
        } else if let Some(slot) = self.delays.get_mut(self.delay_pos) {
            *slot = d;
        }
        self.delay_pos = (self.delay_pos + 1) % window;
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.delays);
        self.scratch.sort_by(f64::total_cmp);
        let n = self.scratch.len();
        let min_d = self.scratch.first().copied().unwrap_or(d);
        let idx = ((n as f64 - 1.0) * self.cfg.percentile.clamp(0.5, 1.0)).round() as usize;
        let p = self.scratch.get(idx).copied().unwrap_or(d);
        // Look ahead as far as recovery reaches: one frame for Opus in-band FEC, or the
        // RED distance when the peer sends RFC 2198 redundancy.
        let fec_lookahead = if self.loss_ema > 0.005 {
            self.frame_ms * self.red_distance.clamp(1, 3) as f64
        } else {
            0.0
        };
        let mut t = p + ms(self.cfg.margin) + fec_lookahead;
        if n < 20 {
            t = t.max(min_d + ms(self.cfg.initial_delay));
        }
        self.min_d = min_d;
        let t = t.clamp(
            min_d + ms(self.cfg.min_delay),
            min_d + ms(self.cfg.max_delay).max(ms(self.cfg.min_delay)),
        );
        // Rise at once, decay slowly (0.1 ms per packet, 5 ms/s at 50 packets/s): a noisy
        // percentile does not make the delay hunt up and down.
        self.target_ms = if n <= 1 || t > self.target_ms {
            t
        } else {
            self.target_ms - (self.target_ms - t).min(0.1)
        };
    }

    /// Offers a packet: its RTP timestamp and payload, arriving at `now`.
    pub fn insert(&mut self, now: Instant, rtp_timestamp: u32, payload: &[u8]) -> InsertOutcome {
        self.stats.received += 1;
        if payload.len() > MAX_PAYLOAD {
            self.stats.overflow += 1;
            return InsertOutcome::Overflow;
        }
        if self.epoch.is_none() {
            self.epoch = Some(now);
        }
        let now_ms = self.now_ms(now);
        self.last_arrival_ms = now_ms;
        let ext = self.extend_ts(rtp_timestamp);
        if self.last_d.is_none() && self.next.is_none() && self.buffered() == 0 {
            self.base_ts = ext;
        }
        let frame_of = |base: i64, ext: i64, fts: i64| (ext - base + fts / 2).div_euclid(fts);
        let mut k = frame_of(self.base_ts, ext, self.frame_ts);
        let mut d = now_ms - k as f64 * self.frame_ms;
        let mut outcome = InsertOutcome::Buffered;
        if self
            .last_d
            .is_some_and(|last| (d - last).abs() > DISCONTINUITY_MS)
        {
            self.resync(ext);
            k = 0;
            d = now_ms;
            outcome = InsertOutcome::Resync;
        }
        self.last_d = Some(d);
        self.record_delay(d);

        if let Some(next) = self.next {
            if k < next {
                self.stats.late += 1;
                self.late_run += 1;
                if self.late_run >= LATE_RUN_RESYNC {
                    // The media clock moved under us: start over on this packet.
                    self.resync(ext);
                    self.last_d = Some(now_ms);
                    self.record_delay(now_ms);
                    k = 0;
                    outcome = InsertOutcome::Resync;
                } else {
                    return InsertOutcome::Late;
                }
            } else if k >= next + CAP as i64 {
                self.stats.overflow += 1;
                return InsertOutcome::Overflow;
            }
        } else if let Some(first) = self.earliest()
            && (k >= first + CAP as i64 || k <= first - CAP as i64)
        {
            self.stats.overflow += 1;
            return InsertOutcome::Overflow;
        }
        self.late_run = 0;
        let Some(slot) = self.slots.get_mut(Self::slot_index(k)) else {
            return InsertOutcome::Overflow;
        };
        if slot.occupied && slot.frame == k {
            self.stats.duplicates += 1;
            return InsertOutcome::Duplicate;
        }
        slot.frame = k;
        slot.occupied = true;
        slot.arrival_ms = now_ms;
        slot.data.clear();
        slot.data.extend_from_slice(payload);
        outcome
    }

    /// Offers a redundant copy of an earlier frame (RFC 2198 RED block) with its own RTP
    /// timestamp: stored only if that frame is still missing and not yet due. Does not feed
    /// the delay estimator (its arrival says nothing about its own transit).
    pub fn insert_redundant(&mut self, rtp_timestamp: u32, payload: &[u8]) -> bool {
        if payload.len() > MAX_PAYLOAD || self.ts_high.is_none() {
            return false;
        }
        let Some(h) = self.ts_high else {
            return false;
        };
        let ext = h + i64::from(rtp_timestamp.wrapping_sub(h as u32) as i32);
        let k = (ext - self.base_ts + self.frame_ts / 2).div_euclid(self.frame_ts);
        let newest = (h - self.base_ts + self.frame_ts / 2).div_euclid(self.frame_ts);
        self.red_distance = self.red_distance.max(newest - k).min(3);
        if self.next.is_some_and(|n| k < n) || self.has(k) {
            return false;
        }
        if let Some(n) = self.next
            && k >= n + CAP as i64
        {
            return false;
        }
        let arrival_ms = self.last_arrival_ms;
        let Some(slot) = self.slots.get_mut(Self::slot_index(k)) else {
            return false;
        };
        slot.frame = k;
        slot.occupied = true;
        slot.arrival_ms = arrival_ms;
        slot.data.clear();
        slot.data.extend_from_slice(payload);
        self.stats.red_recovered += 1;
        true
    }

    fn earliest(&self) -> Option<i64> {
        self.slots
            .iter()
            .filter(|s| s.occupied)
            .map(|s| s.frame)
            .min()
    }

    fn has(&self, frame: i64) -> bool {
        self.slots
            .get(Self::slot_index(frame))
            .is_some_and(|s| s.occupied && s.frame == frame)
    }

    fn discard(&mut self, frame: i64) {
        if let Some(s) = self.slots.get_mut(Self::slot_index(frame))
            && s.frame == frame
        {
            s.occupied = false;
        }
    }

    /// Produces what to play for the tick at `now`. Call once per frame duration of the output
    /// device. `last_quiet` says whether the previously played frame was quiet (silence or
    /// background noise), where delay adjustments are inaudible.
    pub fn pull(&mut self, now: Instant, last_quiet: bool) -> Playout<'_> {
        let now_ms = self.now_ms(now);
        let hyst = 5.0;
        let next = match self.next {
            Some(n) => n,
            None => {
                let Some(first) = self.earliest() else {
                    return Playout::Idle;
                };
                if now_ms - first as f64 * self.frame_ms < self.target_ms {
                    return Playout::Idle;
                }
                self.next = Some(first);
                first
            }
        };
        let mut n = next;
        let err = now_ms - n as f64 * self.frame_ms - self.target_ms;
        if err > ms(self.cfg.max_delay) {
            // Far behind (e.g. after a burst): jump straight to the target.
            let to = ((now_ms - self.target_ms) / self.frame_ms).floor() as i64;
            while n < to {
                if self.has(n) {
                    self.discard(n);
                }
                self.stats.accelerated += 1;
                n += 1;
            }
        } else if err > self.frame_ms + hyst && (last_quiet || err > ms(self.cfg.force_accelerate))
        {
            self.discard(n);
            self.stats.accelerated += 1;
            n += 1;
        } else if err < -1.0 && (last_quiet || err < -ms(self.cfg.force_expand) || !self.has(n)) {
            // Below target and quiet, far below target, or about to underrun: wait one
            // frame. (An underrun while below target is most likely a late packet, not a
            // loss; waiting keeps it. During an outage this stops once the target is met.)
            self.stats.expanded += 1;
            self.next = Some(n);
            return Playout::Expand;
        }
        self.next = Some(n + 1);
        let missing = !self.has(n);
        // Loss *events* (the first missing frame of a run): an outage counts once, so it
        // does not keep the FEC look-ahead on for long after it.
        let event = missing && !self.prev_missing;
        self.prev_missing = missing;
        self.loss_ema = self.loss_ema * 0.99 + if event { 0.01 } else { 0.0 };
        if !missing {
            let idx = Self::slot_index(n);
            if let Some(arrival) = self.slots.get(idx).map(|s| s.arrival_ms) {
                self.stats.played += 1;
                self.stats.buffer_delay_sum_ms += (now_ms - arrival).max(0.0);
            }
            if let Some(s) = self.slots.get_mut(idx) {
                s.occupied = false;
            }
            return match self.slots.get(idx) {
                Some(s) => Playout::Packet(&s.data),
                None => Playout::Conceal,
            };
        }
        if self.has(n + 1) {
            self.stats.fec += 1;
            return match self.slots.get(Self::slot_index(n + 1)) {
                Some(s) => Playout::Fec(&s.data),
                None => Playout::Conceal,
            };
        }
        self.stats.concealed += 1;
        Playout::Conceal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods, reason = "tests need some epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    fn payload(k: u32) -> [u8; 4] {
        k.to_be_bytes()
    }

    fn id(p: &Playout<'_>) -> Option<u32> {
        match p {
            Playout::Packet(b) => Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            _ => None,
        }
    }

    /// Runs a timeline: `arrivals` are (arrival ms, frame index); one pull every 20 ms from
    /// t = 0 to `until_ms`. Returns what each pull played ("P<k>", "F<k>", "C", "E", "I").
    fn run(arrivals: &[(u64, u32)], until_ms: u64) -> (Vec<String>, JitterStats) {
        let t0 = epoch();
        let mut jb = JitterBuffer::new(JitterConfig::new(48_000));
        let mut out = Vec::new();
        let mut a = 0;
        let mut sorted = arrivals.to_vec();
        sorted.sort_by_key(|x| x.0);
        for tick in (0..=until_ms).step_by(20) {
            while a < sorted.len() && sorted[a].0 <= tick {
                let (at, k) = sorted[a];
                jb.insert(t0 + Duration::from_millis(at), 1000 + 960 * k, &payload(k));
                a += 1;
            }
            let p = jb.pull(t0 + Duration::from_millis(tick), true);
            out.push(match p {
                Playout::Packet(b) => format!("P{}", u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                Playout::Fec(b) => format!("F{}", u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                Playout::Conceal => "C".into(),
                Playout::Expand => "E".into(),
                Playout::Idle => "I".into(),
            });
        }
        (out, *jb.stats())
    }

    #[test]
    fn reorder_is_put_back_in_order() {
        // Frames sent every 20 ms; every third one is overtaken by its successor (arrives
        // 25 ms late).
        let arrivals: Vec<(u64, u32)> = (0..60u32)
            .map(|k| (u64::from(k) * 20 + if k % 3 == 1 { 25 } else { 0 }, k))
            .collect();
        let (out, st) = run(&arrivals, 1400);
        let played: Vec<u32> = out
            .iter()
            .filter_map(|s| s.strip_prefix('P').map(|n| n.parse().unwrap()))
            .collect();
        // Once the estimator has seen the reordering, nothing is lost: strictly increasing,
        // and everything after the first second played from packets.
        assert!(played.windows(2).all(|w| w[0] < w[1]), "{out:?}");
        assert!((10..60).all(|k| played.contains(&k)), "{out:?}");
        assert_eq!(st.duplicates, 0);
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped() {
        let t0 = epoch();
        let mut jb = JitterBuffer::new(JitterConfig::new(48_000));
        assert_eq!(jb.insert(t0, 0, &payload(0)), InsertOutcome::Buffered);
        assert_eq!(jb.insert(t0, 0, &payload(0)), InsertOutcome::Duplicate);
        assert_eq!(
            jb.insert(t0 + Duration::from_millis(20), 960, &payload(1)),
            InsertOutcome::Buffered
        );
        assert_eq!(id(&jb.pull(t0 + Duration::from_millis(20), true)), None);
        assert_eq!(id(&jb.pull(t0 + Duration::from_millis(40), true)), Some(0));
        assert_eq!(id(&jb.pull(t0 + Duration::from_millis(60), true)), Some(1));
        // Frame 1 again, after it was played: late, not replayed.
        assert_eq!(
            jb.insert(t0 + Duration::from_millis(65), 960, &payload(1)),
            InsertOutcome::Late
        );
        assert_eq!(jb.stats().duplicates, 1);
        assert_eq!(jb.stats().late, 1);
        assert!(jb.insert(t0, 0, &[0; MAX_PAYLOAD + 1]) == InsertOutcome::Overflow);
    }

    #[test]
    fn lost_frame_uses_next_packet_fec() {
        // Packets arrive with 0–30 ms of jitter so the target holds > 1 frame; frame 40 is
        // lost: it is recovered from frame 41's FEC.
        let arrivals: Vec<(u64, u32)> = (0..60u32)
            .filter(|&k| k != 40)
            .map(|k| (u64::from(k) * 20 + u64::from(k * 7 % 31), k))
            .collect();
        let (out, st) = run(&arrivals, 1400);
        let i = out.iter().position(|s| s == "F41").expect("FEC from 41");
        assert_eq!(out[i - 1], "P39", "{out:?}");
        // Next real frame is 41 itself (an expansion may come first: seeing loss, the buffer
        // grows by one frame to keep FEC look-ahead).
        let after = out[i + 1..].iter().find(|s| *s != "E").unwrap();
        assert_eq!(after, "P41", "{out:?}");
        assert_eq!(st.fec, 1);
        // Nothing concealed except after the stream ended.
        let trailing = out.iter().rev().take_while(|s| *s == "C").count();
        assert_eq!(st.concealed as usize, trailing, "{out:?}");
    }

    #[test]
    fn red_copy_fills_a_lost_frame_before_it_is_due() {
        let t0 = epoch();
        let mut jb = JitterBuffer::new(JitterConfig::new(48_000));
        let mut played = Vec::new();
        for tick in 0..40u32 {
            let now = t0 + Duration::from_millis(20 * u64::from(tick));
            if tick < 30 && tick != 10 {
                jb.insert(now, 960 * tick, &payload(tick));
                if tick > 0 {
                    // RFC 2198: each packet also carries the previous frame.
                    jb.insert_redundant(960 * (tick - 1), &payload(tick - 1));
                }
            }
            if let Some(k) = id(&jb.pull(now, true)) {
                played.push(k);
            }
        }
        assert_eq!(played, (0..30).collect::<Vec<_>>());
        assert_eq!(jb.stats().red_recovered, 1);
        assert_eq!(
            jb.stats().fec,
            0,
            "nothing needed FEC: the copy was there first"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Arbitrary arrivals (time steps, timestamps, sizes, RED copies) and pulls: nothing
        /// panics, the ring never overfills, and the counters add up.
        #[test]
        fn never_panics_and_counts_add_up(
            ops in proptest::collection::vec(
                (0u8..4, 0u64..200, proptest::prelude::any::<u32>(), 0usize..40), 0..400),
        ) {
            let t0 = epoch();
            let mut jb = JitterBuffer::new(JitterConfig::new(48_000));
            let mut t = 0u64;
            let mut inserted = 0u64;
            for (op, dt, ts, len) in ops {
                t += dt;
                let now = t0 + Duration::from_millis(t);
                match op {
                    0 | 1 => {
                        jb.insert(now, ts, &vec![7u8; len]);
                        inserted += 1;
                    }
                    2 => {
                        jb.insert_redundant(ts, &vec![7u8; len]);
                    }
                    _ => {
                        let _ = jb.pull(now, len % 2 == 0);
                    }
                }
                proptest::prop_assert!(jb.buffered() <= CAP);
                let _ = jb.current_delay_ms(now);
            }
            let st = jb.stats();
            proptest::prop_assert_eq!(st.received, inserted);
            proptest::prop_assert!(st.played <= st.received + st.red_recovered);
        }
    }

    #[test]
    fn timestamp_wrap_is_seamless() {
        let t0 = epoch();
        let mut jb = JitterBuffer::new(JitterConfig::new(48_000));
        let start = u32::MAX - 960 * 3 + 1;
        for k in 0..8u32 {
            jb.insert(
                t0 + Duration::from_millis(20 * u64::from(k)),
                start.wrapping_add(960 * k),
                &payload(k),
            );
        }
        let played: Vec<_> = (0..12u64)
            .filter_map(|i| id(&jb.pull(t0 + Duration::from_millis(20 * i), true)))
            .collect();
        assert_eq!(played, (0..8).collect::<Vec<_>>());
    }
}
