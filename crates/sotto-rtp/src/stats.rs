//! Receiver statistics (RFC 3550 Appendix A.1, A.3, A.8) and the RTCP transmission interval
//! (RFC 3550 §6.3.1, Appendix A.7).

use crate::rtcp::ReportBlock;
use sotto_proto::Ssrc;
use sotto_proto::crypto::Random;
use std::time::{Duration, Instant};

const RTP_SEQ_MOD: u32 = 1 << 16;
/// RFC 3550 A.1: a jump larger than this is treated as a restart candidate.
const MAX_DROPOUT: u32 = 3000;
/// RFC 3550 A.1: this far behind is a reordered or duplicate packet.
const MAX_MISORDER: u32 = 100;
/// RFC 3550 A.1: sequential packets needed before a source is valid.
const MIN_SEQUENTIAL: u32 = 2;

/// What [`ReceiverStats::on_packet`] concluded about a packet's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Counted.
    Valid,
    /// The source is still on probation (RFC 3550 A.1): not counted yet.
    Probation,
    /// A large jump; counted only if the next packet confirms it (a restarted sender).
    BadJump,
}

/// Per-source receiver statistics, following RFC 3550 Appendix A.1 (sequence validation),
/// A.3 (loss) and A.8 (interarrival jitter).
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: Ssrc,
    clock_rate: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet (timestamp units).
    transit: Option<i64>,
    /// Jitter scaled by 16, as in the integer form of RFC 3550 A.8.
    jitter_q4: u32,
    /// Jitter as a float (the exact A.8 recursion), timestamp units.
    jitter: f64,
    epoch: Option<Instant>,
}

impl ReceiverStats {
    /// Statistics for a source whose first packet has sequence number `seq`.
    /// `clock_rate` is the RTP timestamp rate (e.g. 48000 for Opus, 8000 for G.711).
    pub fn new(ssrc: Ssrc, clock_rate: u32, seq: u16) -> Self {
        let mut s = Self {
            ssrc,
            clock_rate: clock_rate.max(1),
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            jitter: 0.0,
            epoch: None,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 A.1 `update_seq`.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = u32::from(seq.wrapping_sub(self.max_seq));
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta <= RTP_SEQ_MOD - MAX_MISORDER {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the sender restarted.
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return SeqVerdict::BadJump;
            }
        }
        // else: duplicate or reordered packet, counted but max_seq unchanged.
        self.received = self.received.wrapping_add(1);
        SeqVerdict::Valid
    }

    /// Records a packet that arrived at `arrival` with sequence number `seq` and RTP timestamp
    /// `rtp_ts`.
    pub fn on_packet(&mut self, arrival: Instant, seq: u16, rtp_ts: u32) -> SeqVerdict {
        let epoch = *self.epoch.get_or_insert(arrival);
        let since = arrival.saturating_duration_since(epoch);
        let units = since.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
        self.on_packet_units(units as u32, seq, rtp_ts)
    }

    /// Like [`ReceiverStats::on_packet`] with the arrival time already in timestamp units
    /// (RFC 3550 A.8's `arrival`), wrapping modulo 2^32.
    pub fn on_packet_units(&mut self, arrival: u32, seq: u16, rtp_ts: u32) -> SeqVerdict {
        let verdict = self.update_seq(seq);
        if verdict != SeqVerdict::BadJump {
            // RFC 3550 A.8: transit = arrival - r->ts; d = |transit - s->transit|;
            // J += (|d| - J) / 16.
            let transit = i64::from(arrival.wrapping_sub(rtp_ts) as i32);
            if let Some(prev) = self.transit {
                let d = (transit - prev).unsigned_abs();
                let d = u32::try_from(d).unwrap_or(u32::MAX);
                self.jitter += (f64::from(d) - self.jitter) / 16.0;
                self.jitter_q4 = self
                    .jitter_q4
                    .wrapping_add(d)
                    .wrapping_sub((self.jitter_q4 + 8) >> 4);
            }
            self.transit = Some(transit);
        }
        verdict
    }

    /// The source.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Interarrival jitter in timestamp units as RTCP reports it (integer A.8 form).
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Interarrival jitter in timestamp units, floating-point A.8 recursion.
    pub fn jitter_exact(&self) -> f64 {
        self.jitter
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_secs_f64(self.jitter.max(0.0) / f64::from(self.clock_rate))
    }

    /// Extended highest sequence number received (RFC 3550 A.3 `extended_max`).
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected (A.3).
    pub fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received and counted (duplicates included, as RFC 3550 A.3 notes).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost (A.3), clamped to the signed 24-bit range of the RR field.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Produces a report block and starts a new reporting interval (A.3 fraction lost since
    /// the last call). `lsr` and `dlsr` are the RFC 3550 §6.4.1 fields, computed by the caller
    /// from the last SR it received from this source.
    pub fn report_block(&mut self, lsr: u32, dlsr: u32) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_seq: self.extended_max(),
            jitter: self.jitter(),
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        }
    }
}

/// Inputs to the RTCP transmission interval computation (RFC 3550 §6.3.1, A.7).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalParams {
    /// Session members, including us.
    pub members: u32,
    /// Members that sent RTP since the last report, including us if we did.
    pub senders: u32,
    /// RTCP bandwidth in octets per second (5 % of the session bandwidth, §6.2).
    pub rtcp_bw: f64,
    /// Whether we sent RTP since the last report.
    pub we_sent: bool,
    /// Average compound RTCP packet size in octets, lower-layer headers included.
    pub avg_rtcp_size: f64,
    /// Whether we have not sent an RTCP packet yet (halves the minimum).
    pub initial: bool,
}

/// The deterministic part of the RTCP interval, before randomisation (RFC 3550 A.7).
pub fn rtcp_deterministic_interval(p: &IntervalParams) -> f64 {
    const RTCP_MIN_TIME: f64 = 5.0;
    const RTCP_SENDER_BW_FRACTION: f64 = 0.25;
    const RTCP_RCVR_BW_FRACTION: f64 = 1.0 - RTCP_SENDER_BW_FRACTION;
    let t_min = if p.initial {
        RTCP_MIN_TIME / 2.0
    } else {
        RTCP_MIN_TIME
    };
    let mut n = f64::from(p.members.max(1));
    let mut bw = p.rtcp_bw;
    if f64::from(p.senders) <= f64::from(p.members) * RTCP_SENDER_BW_FRACTION {
        if p.we_sent {
            bw *= RTCP_SENDER_BW_FRACTION;
            n = f64::from(p.senders.max(1));
        } else {
            bw *= RTCP_RCVR_BW_FRACTION;
            n = (n - f64::from(p.senders)).max(1.0);
        }
    }
    let t = if bw > 0.0 {
        p.avg_rtcp_size * n / bw
    } else {
        t_min
    };
    t.max(t_min)
}

/// The randomised RTCP interval in seconds (RFC 3550 A.7): the deterministic interval times a
/// uniform factor in [0.5, 1.5), divided by e − 3/2 to compensate for timer reconsideration.
/// `unit` is a uniform random number in [0, 1).
pub fn rtcp_interval(p: &IntervalParams, unit: f64) -> f64 {
    const COMPENSATION: f64 = core::f64::consts::E - 1.5;
    rtcp_deterministic_interval(p) * (unit.clamp(0.0, 1.0) + 0.5) / COMPENSATION
}

/// [`rtcp_interval`] as a `Duration`, with the random factor drawn from `rng`.
pub fn rtcp_interval_random(p: &IntervalParams, rng: &mut dyn Random) -> Duration {
    let mut b = [0u8; 8];
    rng.fill(&mut b);
    let unit = (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(rtcp_interval(p, unit))
}

/// Updates the running average RTCP packet size (RFC 3550 §6.3.3: avg = size/16 + 15/16 avg).
pub fn update_avg_rtcp_size(avg: f64, packet_size: usize) -> f64 {
    (packet_size as f64) / 16.0 + avg * 15.0 / 16.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-computed RFC 3550 A.8 example at 8 kHz, 20 ms packets (160 units):
    ///
    /// | pkt | ts  | arrival | transit | D  | J (exact)                  | J·16 (int)         |
    /// |-----|-----|---------|---------|----|----------------------------|--------------------|
    /// | 0   | 0   | 0       | 0       | –  | 0                          | 0                  |
    /// | 1   | 160 | 200     | 40      | 40 | 0 + (40−0)/16 = 2.5        | 0+40−0 = 40        |
    /// | 2   | 320 | 320     | 0       | 40 | 2.5+(40−2.5)/16 = 4.84375  | 40+40−3 = 77       |
    /// | 3   | 480 | 480     | 0       | 0  | 4.84375·15/16 = 4.541015625| 77+0−5 = 72 → 4    |
    #[test]
    fn jitter_hand_computed_rfc3550_a8() {
        let mut s = ReceiverStats::new(Ssrc(1), 8000, 100);
        s.on_packet_units(0, 100, 0);
        s.on_packet_units(200, 101, 160);
        assert_eq!(s.jitter_exact(), 2.5);
        assert_eq!(s.jitter(), 40 >> 4);
        s.on_packet_units(320, 102, 320);
        assert_eq!(s.jitter_exact(), 4.84375);
        assert_eq!(s.jitter(), 77 >> 4);
        s.on_packet_units(480, 103, 480);
        assert_eq!(s.jitter_exact(), 4.541015625);
        assert_eq!(s.jitter(), 4);
    }

    #[test]
    #[allow(clippy::disallowed_methods, reason = "a test needs some epoch")]
    fn jitter_from_instants_matches_units() {
        let t0 = Instant::now();
        let mut s = ReceiverStats::new(Ssrc(1), 8000, 0);
        s.on_packet(t0, 0, 0);
        s.on_packet(t0 + Duration::from_millis(25), 1, 160);
        assert_eq!(s.jitter_exact(), 2.5);
    }

    #[test]
    fn loss_and_fraction_rfc3550_a3() {
        let mut s = ReceiverStats::new(Ssrc(7), 48000, 65530);
        // seq 65530 (probation), 65531 (valid: base), then 65532..=65535 and 0..=9 except
        // 65534, 2 and 3 are lost.
        let mut seqs: Vec<u16> = vec![65530, 65531];
        for q in (65532u32..65536).chain(0..10) {
            let q = q as u16;
            if ![65534u16, 2, 3].contains(&q) {
                seqs.push(q);
            }
        }
        for (i, &q) in seqs.iter().enumerate() {
            assert_ne!(
                s.on_packet_units(i as u32 * 960, q, i as u32 * 960),
                SeqVerdict::BadJump
            );
        }
        // Expected: 65531..=65535 (5) + 0..=9 (10) = 15; received 12 (65530 was probation).
        assert_eq!(s.expected(), 15);
        assert_eq!(s.received(), 12);
        assert_eq!(s.cumulative_lost(), 3);
        assert_eq!(s.extended_max(), 65536 + 9);
        let rb = s.report_block(0, 0);
        assert_eq!(rb.fraction_lost, (3 * 256 / 15) as u8);
        assert_eq!(rb.extended_highest_seq, 65545);
        // Next interval with no loss: fraction 0.
        s.on_packet_units(0, 10, 0);
        assert_eq!(s.report_block(0, 0).fraction_lost, 0);
    }

    #[test]
    fn restart_after_big_jump_needs_two_packets() {
        let mut s = ReceiverStats::new(Ssrc(1), 8000, 10);
        s.on_packet_units(0, 10, 0);
        s.on_packet_units(0, 11, 0);
        assert_eq!(s.on_packet_units(0, 20000, 0), SeqVerdict::BadJump);
        assert_eq!(s.on_packet_units(0, 20001, 0), SeqVerdict::Valid);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn interval_rfc3550_a7() {
        // Two members, both senders, 64 kbit/s session → rtcp_bw = 400 B/s. senders (2) >
        // 25 % of members, so n = 2 and t = 100 * 2 / 400 = 0.5 s → clamped to T_min = 5 s.
        let p = IntervalParams {
            members: 2,
            senders: 2,
            rtcp_bw: 400.0,
            we_sent: true,
            avg_rtcp_size: 100.0,
            initial: false,
        };
        assert_eq!(rtcp_deterministic_interval(&p), 5.0);
        assert_eq!(
            rtcp_deterministic_interval(&IntervalParams { initial: true, ..p }),
            2.5
        );
        // 1000 receivers and 1 sender (us): senders share 25 % of bw; n = 1.
        let big = IntervalParams {
            members: 1001,
            senders: 1,
            rtcp_bw: 400.0,
            we_sent: false,
            avg_rtcp_size: 100.0,
            initial: false,
        };
        // Receiver: bw 300, n = 1000 → 100*1000/300 = 333.3 s.
        let t = rtcp_deterministic_interval(&big);
        assert!((t - 100.0 * 1000.0 / 300.0).abs() < 1e-9);
        let lo = rtcp_interval(&big, 0.0);
        let hi = rtcp_interval(&big, 0.999_999);
        assert!((lo - t * 0.5 / (core::f64::consts::E - 1.5)).abs() < 1e-9);
        assert!(hi < t * 1.5 / (core::f64::consts::E - 1.5));
        assert!((update_avg_rtcp_size(100.0, 260) - 110.0).abs() < 1e-9);
    }
}
