//! Outgoing RTCP and the peer's reports for one call (RFC 3550 §6).
//!
//! Every report is a compound packet (§6.1): an SR if we sent RTP since the last report, else
//! an RR, with a report block on the peer's stream once we have received from it, then an SDES
//! chunk carrying only a CNAME (random per call: it must not name the user, §6.5.1 allows any
//! unique string), and a BYE when the call ends (§6.6). The interval is RFC 3550 §6.3/A.7's
//! (5 s minimum, halved before the first report, times a uniform factor in [0.5, 1.5), divided
//! by e − 3/2); with two members and voice bandwidth the minimum always applies. The phone
//! protects every packet with SRTCP before it leaves.
//!
//! From the peer's reports come the figures RFC 3550 §6.4 defines: the fraction and number of
//! our packets it lost, the jitter it measured, and the round-trip time A − LSR − DLSR
//! (§6.4.1), computed from the NTP timestamp of our own last SR as the peer echoes it.

use std::time::{Duration, Instant};

use sotto_proto::Ssrc;
use sotto_proto::crypto::Random;
use sotto_rtp::{
    Bye, Compound, IntervalParams, ReceiverReport, ReceiverStats, RtcpPacket, SDES_CNAME,
    SdesChunk, SdesItem, SenderInfo, SenderReport, ntp_middle, rtcp_interval_random,
    update_avg_rtcp_size,
};

use crate::phone::MediaStats;

/// Seconds from 1900 (NTP era 0) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// IPv4 + UDP header bytes, counted in the average RTCP size (§6.3.3 "lower-layer headers").
const LOWER_LAYER: usize = 28;
/// The session bandwidth we assume for the RTCP share (§6.2: 5 % of it): Opus voice with
/// headers is well under 64 kbit/s; with two members the 5 s minimum dominates anyway.
const SESSION_BW_BYTES: f64 = 64_000.0 / 8.0;

/// RTCP state of one call.
pub(crate) struct RtcpSession {
    ssrc: Ssrc,
    cname: Vec<u8>,
    /// The call's clock origin and its NTP time.
    base: Instant,
    base_ntp: u64,
    next: Option<Instant>,
    initial: bool,
    avg_size: f64,
    we_sent: bool,
    peer_sent: bool,
    packets_sent: u32,
    octets_sent: u32,
    rx: Option<ReceiverStats>,
    /// The middle 32 bits of the peer's last SR and when it arrived (for LSR/DLSR).
    last_sr: Option<(u32, Instant)>,
    bye_sent: bool,
}

fn to_ntp_fraction(d: Duration) -> u64 {
    (d.as_secs() << 32) + ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// A duration in units of 1/65536 s (DLSR, §6.4.1), saturating.
fn to_dlsr(d: Duration) -> u32 {
    u32::try_from(to_ntp_fraction(d) >> 16).unwrap_or(u32::MAX)
}

fn from_units(units: u32, clock_rate: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / u64::from(clock_rate.max(1)))
}

impl RtcpSession {
    /// `unix_time` is the wall clock at `now`, in seconds.
    pub(crate) fn new(ssrc: Ssrc, cname: String, now: Instant, unix_time: u64) -> Self {
        Self {
            ssrc,
            cname: cname.into_bytes(),
            base: now,
            base_ntp: unix_time.saturating_add(NTP_UNIX_OFFSET) << 32,
            next: None,
            initial: true,
            avg_size: 100.0,
            we_sent: false,
            peer_sent: false,
            packets_sent: 0,
            octets_sent: 0,
            rx: None,
            last_sr: None,
            bye_sent: false,
        }
    }

    /// Our NTP clock (64-bit fixed point) at `now`.
    pub(crate) fn ntp(&self, now: Instant) -> u64 {
        self.base_ntp
            .wrapping_add(to_ntp_fraction(now.saturating_duration_since(self.base)))
    }

    fn interval(&self, rng: &mut dyn Random) -> Duration {
        let p = IntervalParams {
            members: 2,
            senders: u32::from(self.we_sent) + u32::from(self.peer_sent),
            rtcp_bw: SESSION_BW_BYTES * 0.05,
            we_sent: self.we_sent,
            avg_rtcp_size: self.avg_size,
            initial: self.initial,
        };
        rtcp_interval_random(&p, rng)
    }

    /// Media started: the first report is due after the initial interval.
    pub(crate) fn start(&mut self, now: Instant, rng: &mut dyn Random) {
        if self.next.is_none() && !self.bye_sent {
            self.next = Some(now + self.interval(rng));
        }
    }

    /// When the next report is due.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// We sent an RTP packet with this many payload octets.
    pub(crate) fn on_rtp_sent(&mut self, payload_len: usize) {
        self.we_sent = true;
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self
            .octets_sent
            .wrapping_add(u32::try_from(payload_len).unwrap_or(u32::MAX));
    }

    /// An authenticated RTP packet from the peer.
    pub(crate) fn on_rtp_received(
        &mut self,
        now: Instant,
        ssrc: Ssrc,
        seq: u16,
        ts: u32,
        clock_rate: u32,
    ) {
        self.peer_sent = true;
        let rx = match self.rx.as_mut() {
            Some(rx) if rx.ssrc() == ssrc => rx,
            _ => self.rx.insert(ReceiverStats::new(ssrc, clock_rate, seq)),
        };
        rx.on_packet(now, seq, ts);
    }

    /// Builds the compound report due now (with a BYE if `bye`), for `rtp_ts`, the RTP time
    /// of our stream at `now`. Schedules the next report unless this is the BYE.
    pub(crate) fn build(
        &mut self,
        now: Instant,
        rtp_ts: u32,
        bye: bool,
        rng: &mut dyn Random,
    ) -> Option<Vec<u8>> {
        let mut reports = Vec::new();
        if let Some(rx) = self.rx.as_mut() {
            let (lsr, dlsr) = self.last_sr.map_or((0, 0), |(m, at)| {
                (m, to_dlsr(now.saturating_duration_since(at)))
            });
            reports.push(rx.report_block(lsr, dlsr));
        }
        let first = if self.we_sent {
            RtcpPacket::SenderReport(SenderReport {
                ssrc: self.ssrc,
                info: SenderInfo {
                    ntp_timestamp: self.ntp(now),
                    rtp_timestamp: rtp_ts,
                    packet_count: self.packets_sent,
                    octet_count: self.octets_sent,
                },
                reports,
                extension: Vec::new(),
            })
        } else {
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.ssrc,
                reports,
                extension: Vec::new(),
            })
        };
        let mut packets = vec![
            first,
            RtcpPacket::Sdes(vec![SdesChunk {
                ssrc: self.ssrc,
                items: vec![SdesItem {
                    kind: SDES_CNAME,
                    value: self.cname.clone(),
                }],
            }]),
        ];
        if bye {
            packets.push(RtcpPacket::Bye(Bye {
                sources: vec![self.ssrc],
                reason: None,
            }));
        }
        let bytes = Compound { packets }.to_vec().ok()?;
        self.avg_size = update_avg_rtcp_size(self.avg_size, bytes.len() + LOWER_LAYER);
        self.initial = false;
        if bye {
            self.bye_sent = true;
            self.next = None;
        } else {
            // §6.3.6: senders are counted afresh in each interval.
            self.next = Some(now + self.interval(rng));
            self.we_sent = false;
            self.peer_sent = false;
        }
        Some(bytes)
    }

    /// Our CNAME.
    #[cfg(test)]
    pub(crate) fn cname(&self) -> &[u8] {
        &self.cname
    }

    /// Whether a BYE went out already.
    pub(crate) fn bye_sent(&self) -> bool {
        self.bye_sent
    }

    /// Whether we ever sent or scheduled a report (media ran).
    pub(crate) fn started(&self) -> bool {
        self.next.is_some() || !self.initial
    }

    /// Takes what the peer's (authenticated, decrypted) compound packet says.
    pub(crate) fn on_compound(
        &mut self,
        now: Instant,
        c: &Compound,
        clock_rate: u32,
        stats: &mut MediaStats,
    ) {
        for p in &c.packets {
            let (blocks, sr) = match p {
                RtcpPacket::SenderReport(sr) => (&sr.reports, Some(&sr.info)),
                RtcpPacket::ReceiverReport(rr) => (&rr.reports, None),
                RtcpPacket::Bye(_) => {
                    stats.peer_bye = true;
                    continue;
                }
                _ => continue,
            };
            if let Some(info) = sr {
                self.last_sr = Some((ntp_middle(info.ntp_timestamp), now));
            }
            stats.peer_reports += 1;
            for b in blocks.iter().filter(|b| b.ssrc == self.ssrc) {
                stats.peer_fraction_lost = Some(b.fraction_lost);
                stats.peer_cumulative_lost = Some(b.cumulative_lost);
                stats.peer_jitter = Some(from_units(b.jitter, clock_rate));
                if b.last_sr != 0 {
                    // §6.4.1: RTT = A − LSR − DLSR, in 1/65536 s, modulo 2^32.
                    let a = ntp_middle(self.ntp(now));
                    let rtt = a
                        .wrapping_sub(b.last_sr)
                        .wrapping_sub(b.delay_since_last_sr);
                    // A negative result (clock trouble or a forged report) is not a time.
                    if rtt < 0x8000_0000 {
                        stats.rtt = Some(Duration::from_nanos(
                            u64::from(rtt) * 1_000_000_000 / 65_536,
                        ));
                    }
                }
            }
        }
        if let Some(rx) = &self.rx {
            stats.jitter = Some(rx.jitter_duration());
            stats.rtp_lost = Some(rx.cumulative_lost());
        }
    }

    /// Our own receive figures, for the summary.
    pub(crate) fn fill_stats(&self, stats: &mut MediaStats) {
        if let Some(rx) = &self.rx {
            stats.jitter = Some(rx.jitter_duration());
            stats.rtp_lost = Some(rx.cumulative_lost());
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "a test needs some Instant to start from"
)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Random for Fixed {
        fn fill(&mut self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    /// RFC 3550 §6.4.1, Figure 2: the report arrives at A = 0xb710:8000 (46864.500 s) with
    /// LSR = 0xb705:2000 (46853.125 s) and DLSR = 0x0005:4000 (5.250 s): RTT = 0x0006:2000,
    /// 6.125 s.
    #[test]
    fn rtt_from_lsr_and_dlsr_rfc3550_6_4_1() {
        let t0 = Instant::now();
        let mut s = RtcpSession::new(Ssrc(7), "x".into(), t0, 0);
        // Make our clock read A = 0xb710_8000 (middle bits) at t0.
        s.base_ntp = 0xb710_8000u64 << 16;
        let block = sotto_rtp::ReportBlock {
            ssrc: Ssrc(7),
            fraction_lost: 64,
            cumulative_lost: 12,
            extended_highest_seq: 100,
            jitter: 480,
            last_sr: 0xb705_2000,
            delay_since_last_sr: 0x0005_4000,
        };
        let c = Compound {
            packets: vec![RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: Ssrc(9),
                reports: vec![block],
                extension: Vec::new(),
            })],
        };
        let mut stats = MediaStats::default();
        s.on_compound(t0, &c, 48_000, &mut stats);
        assert_eq!(stats.rtt, Some(Duration::from_millis(6125)));
        assert_eq!(stats.peer_fraction_lost, Some(64));
        assert_eq!(stats.peer_loss_percent(), Some(25.0));
        assert_eq!(stats.peer_cumulative_lost, Some(12));
        assert_eq!(stats.peer_jitter, Some(Duration::from_millis(10)));
    }

    /// §6.3.1 and A.7: 5 s minimum (2.5 s before the first report), times [0.5, 1.5), divided
    /// by e − 3/2.
    #[test]
    fn interval_bounds_rfc3550_6_3() {
        let t0 = Instant::now();
        let comp = core::f64::consts::E - 1.5;
        for (byte, factor) in [(0u8, 0.5), (0xff, 1.5)] {
            let mut s = RtcpSession::new(Ssrc(1), "c".into(), t0, 0);
            s.start(t0, &mut Fixed(byte));
            let first = s.next().unwrap().duration_since(t0).as_secs_f64();
            assert!((first - 2.5 * factor / comp).abs() < 1e-3, "{first}");
            s.on_rtp_sent(100);
            let bytes = s.build(t0, 0, false, &mut Fixed(byte)).unwrap();
            let next = s.next().unwrap().duration_since(t0).as_secs_f64();
            assert!((next - 5.0 * factor / comp).abs() < 1e-3, "{next}");
            // An SR (we sent), then SDES with our CNAME, no BYE.
            let c = Compound::parse(&bytes).unwrap();
            assert!(matches!(c.packets[0], RtcpPacket::SenderReport(_)));
            let RtcpPacket::Sdes(chunks) = &c.packets[1] else {
                panic!("no SDES")
            };
            assert_eq!(chunks[0].cname(), Some(&b"c"[..]));
            assert_eq!(
                chunks[0].items.len(),
                1,
                "a CNAME and nothing else about us"
            );
            assert_eq!(c.packets.len(), 2);
            // Nothing sent since: an RR next time; a BYE ends the schedule.
            let bytes = s.build(t0, 0, true, &mut Fixed(byte)).unwrap();
            let c = Compound::parse(&bytes).unwrap();
            assert!(matches!(c.packets[0], RtcpPacket::ReceiverReport(_)));
            assert!(matches!(c.packets[2], RtcpPacket::Bye(_)));
            assert!(s.next().is_none() && s.bye_sent());
        }
    }
}
