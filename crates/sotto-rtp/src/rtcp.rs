//! RTCP packets (RFC 3550 §6.4–6.7) and compound packets (§6.1, Appendix A.2).
//!
//! [`RtcpPacket::parse`] reads one packet; [`Compound`] walks a compound packet with the A.2
//! validity checks. SR, RR, SDES, BYE and APP are typed; any other packet type is kept as
//! [`RtcpPacket::Unknown`] and passed through unchanged on emit. RTCP is not on the per-frame
//! hot path, so the typed forms use `Vec` for their lists.

use crate::error::{Result, RtpError};
use sotto_proto::{Reader, Ssrc, Writer};

/// RTCP packet type SR (RFC 3550 §12.1).
pub const PT_SR: u8 = 200;
/// RTCP packet type RR.
pub const PT_RR: u8 = 201;
/// RTCP packet type SDES.
pub const PT_SDES: u8 = 202;
/// RTCP packet type BYE.
pub const PT_BYE: u8 = 203;
/// RTCP packet type APP.
pub const PT_APP: u8 = 204;
/// SDES item type CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, signed 24-bit.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (LSR).
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s (DLSR).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let ssrc = Ssrc(r.u32()?);
        let fraction_lost = r.u8()?;
        let lost = r.u24()?;
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Ok(Self {
            ssrc,
            fraction_lost,
            cumulative_lost,
            extended_highest_seq: r.u32()?,
            jitter: r.u32()?,
            last_sr: r.u32()?,
            delay_since_last_sr: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.ssrc.0);
        w.u8(self.fraction_lost);
        w.u24((self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF);
        w.u32(self.extended_highest_seq);
        w.u32(self.jitter);
        w.u32(self.last_sr);
        w.u32(self.delay_since_last_sr);
    }
}

/// Sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp of this report.
    pub ntp_timestamp: u64,
    /// The RTP timestamp for the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

/// A sender report (PT 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport {
    /// The sender.
    pub ssrc: Ssrc,
    /// Sender information.
    pub info: SenderInfo,
    /// Up to 31 report blocks.
    pub reports: Vec<ReportBlock>,
    /// Profile-specific extension bytes (multiple of 4).
    pub extension: Vec<u8>,
}

/// A receiver report (PT 201).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport {
    /// The reporter.
    pub ssrc: Ssrc,
    /// Up to 31 report blocks.
    pub reports: Vec<ReportBlock>,
    /// Profile-specific extension bytes (multiple of 4).
    pub extension: Vec<u8>,
}

/// One SDES item (RFC 3550 §6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesItem {
    /// Item type (1 = CNAME, ...). Never 0 (that ends the chunk).
    pub kind: u8,
    /// Item text, at most 255 bytes (UTF-8 by RFC, kept as bytes).
    pub value: Vec<u8>,
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: Ssrc,
    /// Its items.
    pub items: Vec<SdesItem>,
}

impl SdesChunk {
    /// The CNAME item, if present.
    pub fn cname(&self) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|i| i.kind == SDES_CNAME)
            .map(|i| i.value.as_slice())
    }
}

/// A goodbye (PT 203).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bye {
    /// Sources leaving.
    pub sources: Vec<Ssrc>,
    /// Optional reason, at most 255 bytes.
    pub reason: Option<Vec<u8>>,
}

/// An application-defined packet (PT 204), passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The 5-bit subtype.
    pub subtype: u8,
    /// The sender.
    pub ssrc: Ssrc,
    /// Four ASCII name bytes.
    pub name: [u8; 4],
    /// Application data (multiple of 4 bytes).
    pub data: Vec<u8>,
}

/// One RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket {
    /// SR.
    SenderReport(SenderReport),
    /// RR.
    ReceiverReport(ReceiverReport),
    /// SDES chunks.
    Sdes(Vec<SdesChunk>),
    /// BYE.
    Bye(Bye),
    /// APP.
    App(App),
    /// Any other packet type (e.g. RTPFB/PSFB), kept verbatim.
    Unknown {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count/format field.
        count: u8,
        /// The body after the 4-byte header (padding removed).
        body: Vec<u8>,
    },
}

fn count_u8(n: usize, what: &'static str) -> Result<u8> {
    if n > 31 {
        return Err(RtpError::Misuse { what });
    }
    Ok(n as u8)
}

impl RtcpPacket {
    /// Parses one RTCP packet at the start of `buf`; returns it and the number of bytes it
    /// occupied (header length field).
    pub fn parse(buf: &[u8]) -> Result<(Self, usize)> {
        let mut r = Reader::new(buf);
        let b0 = r.u8()?;
        let pt = r.u8()?;
        let words = r.u16()?;
        if b0 >> 6 != 2 {
            return Err(RtpError::Invalid {
                what: "RTCP version",
            });
        }
        let total = (usize::from(words) + 1) * 4;
        let mut body = r.take_named(total - 4, "RTCP packet body")?;
        if b0 & 0x20 != 0 {
            let pad = usize::from(body.last().copied().unwrap_or(0));
            if pad == 0 || pad > body.len() {
                return Err(RtpError::Invalid {
                    what: "RTCP padding count",
                });
            }
            body = body.get(..body.len() - pad).unwrap_or_default();
        }
        let count = b0 & 0x1F;
        let packet = Self::parse_body(pt, count, body)?;
        Ok((packet, total))
    }

    fn parse_body(pt: u8, count: u8, body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let p = match pt {
            PT_SR => {
                let ssrc = Ssrc(r.u32()?);
                let info = SenderInfo {
                    ntp_timestamp: r.u64()?,
                    rtp_timestamp: r.u32()?,
                    packet_count: r.u32()?,
                    octet_count: r.u32()?,
                };
                let reports = (0..count)
                    .map(|_| ReportBlock::parse(&mut r))
                    .collect::<Result<_>>()?;
                RtcpPacket::SenderReport(SenderReport {
                    ssrc,
                    info,
                    reports,
                    extension: r.rest().to_vec(),
                })
            }
            PT_RR => {
                let ssrc = Ssrc(r.u32()?);
                let reports = (0..count)
                    .map(|_| ReportBlock::parse(&mut r))
                    .collect::<Result<_>>()?;
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc,
                    reports,
                    extension: r.rest().to_vec(),
                })
            }
            PT_SDES => {
                let mut chunks = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let start = r.position();
                    let ssrc = Ssrc(r.u32()?);
                    let mut items = Vec::new();
                    loop {
                        let kind = r.u8()?;
                        if kind == 0 {
                            break;
                        }
                        let len = r.u8()?;
                        let value = r.take_named(usize::from(len), "SDES item")?.to_vec();
                        items.push(SdesItem { kind, value });
                    }
                    // Null octets up to the next 32-bit boundary (§6.5).
                    let used = r.position() - start;
                    let pad = (4 - used % 4) % 4;
                    r.take_named(pad, "SDES chunk padding")?;
                    chunks.push(SdesChunk { ssrc, items });
                }
                r.finish()?;
                RtcpPacket::Sdes(chunks)
            }
            PT_BYE => {
                let sources = (0..count)
                    .map(|_| r.u32().map(Ssrc))
                    .collect::<core::result::Result<_, _>>()?;
                let reason = if r.is_empty() {
                    None
                } else {
                    let len = r.u8()?;
                    let text = r.take_named(usize::from(len), "BYE reason")?.to_vec();
                    // Null padding to the 32-bit boundary: anything left must be zero.
                    if r.rest().iter().any(|&b| b != 0) {
                        return Err(RtpError::Invalid {
                            what: "BYE padding",
                        });
                    }
                    Some(text)
                };
                RtcpPacket::Bye(Bye { sources, reason })
            }
            PT_APP => RtcpPacket::App(App {
                subtype: count,
                ssrc: Ssrc(r.u32()?),
                name: r.take_array()?,
                data: r.rest().to_vec(),
            }),
            _ => RtcpPacket::Unknown {
                packet_type: pt,
                count,
                body: body.to_vec(),
            },
        };
        Ok(p)
    }

    /// Appends this packet to `out` (no padding bit; bodies are padded to 32 bits as each
    /// packet type prescribes).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let mut w = Writer::new(out);
        let (count, pt) = match self {
            RtcpPacket::SenderReport(sr) => (count_u8(sr.reports.len(), "over 31 reports")?, PT_SR),
            RtcpPacket::ReceiverReport(rr) => {
                (count_u8(rr.reports.len(), "over 31 reports")?, PT_RR)
            }
            RtcpPacket::Sdes(c) => (count_u8(c.len(), "over 31 SDES chunks")?, PT_SDES),
            RtcpPacket::Bye(b) => (count_u8(b.sources.len(), "over 31 BYE sources")?, PT_BYE),
            RtcpPacket::App(a) => (
                count_u8(usize::from(a.subtype), "APP subtype over 31")?,
                PT_APP,
            ),
            RtcpPacket::Unknown {
                packet_type, count, ..
            } => (
                count_u8(usize::from(*count), "count over 31")?,
                *packet_type,
            ),
        };
        w.u8(0x80 | count);
        w.u8(pt);
        w.u16(0); // length, patched below
        match self {
            RtcpPacket::SenderReport(sr) => {
                w.u32(sr.ssrc.0);
                w.u64(sr.info.ntp_timestamp);
                w.u32(sr.info.rtp_timestamp);
                w.u32(sr.info.packet_count);
                w.u32(sr.info.octet_count);
                for rb in &sr.reports {
                    rb.emit(&mut w);
                }
                w.bytes(&sr.extension);
            }
            RtcpPacket::ReceiverReport(rr) => {
                w.u32(rr.ssrc.0);
                for rb in &rr.reports {
                    rb.emit(&mut w);
                }
                w.bytes(&rr.extension);
            }
            RtcpPacket::Sdes(chunks) => {
                for c in chunks {
                    let chunk_start = w.len();
                    w.u32(c.ssrc.0);
                    for it in &c.items {
                        if it.kind == 0 {
                            return Err(RtpError::Misuse {
                                what: "SDES item type 0",
                            });
                        }
                        let len = u8::try_from(it.value.len()).map_err(|_| RtpError::Misuse {
                            what: "SDES item over 255 bytes",
                        })?;
                        w.u8(it.kind);
                        w.u8(len);
                        w.bytes(&it.value);
                    }
                    // At least one null octet ends the item list, then pad to 32 bits.
                    w.u8(0);
                    while !(w.len() - chunk_start).is_multiple_of(4) {
                        w.u8(0);
                    }
                }
            }
            RtcpPacket::Bye(b) => {
                for s in &b.sources {
                    w.u32(s.0);
                }
                if let Some(reason) = &b.reason {
                    let len = u8::try_from(reason.len()).map_err(|_| RtpError::Misuse {
                        what: "BYE reason over 255 bytes",
                    })?;
                    w.u8(len);
                    w.bytes(reason);
                    while !w.len().is_multiple_of(4) {
                        w.u8(0);
                    }
                }
            }
            RtcpPacket::App(a) => {
                w.u32(a.ssrc.0);
                w.bytes(&a.name);
                w.bytes(&a.data);
            }
            RtcpPacket::Unknown { body, .. } => w.bytes(body),
        }
        let len = out.len() - start;
        if !len.is_multiple_of(4) {
            out.truncate(start);
            return Err(RtpError::Misuse {
                what: "RTCP packet body not a multiple of 4 bytes",
            });
        }
        let words = u16::try_from(len / 4 - 1).map_err(|_| RtpError::Misuse {
            what: "RTCP packet too long",
        })?;
        if let Some(l) = out.get_mut(start + 2..start + 4) {
            l.copy_from_slice(&words.to_be_bytes());
        }
        Ok(())
    }
}

/// A compound RTCP packet (RFC 3550 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compound {
    /// The packets, in order.
    pub packets: Vec<RtcpPacket>,
}

impl Compound {
    /// Parses a compound packet with the validity checks of RFC 3550 Appendix A.2: every
    /// packet is version 2, the first is an SR or RR, only the last may be padded, and the
    /// lengths add up to the datagram length exactly.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let first_pt = buf.get(1).copied();
        if !matches!(first_pt, Some(PT_SR) | Some(PT_RR)) {
            if buf.len() < 4 {
                return Err(RtpError::Malformed(sotto_proto::WireError::Truncated {
                    what: "RTCP header",
                    needed: 4,
                    available: buf.len(),
                }));
            }
            return Err(RtpError::Invalid {
                what: "first RTCP packet not SR or RR",
            });
        }
        Self::parse_relaxed(buf)
    }

    /// Like [`Compound::parse`] without requiring SR/RR first (reduced-size RTCP, RFC 5506).
    pub fn parse_relaxed(buf: &[u8]) -> Result<Self> {
        let mut packets = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let padded = rest.first().is_some_and(|b| b & 0x20 != 0);
            let (p, used) = RtcpPacket::parse(rest)?;
            rest = rest.get(used..).unwrap_or_default();
            if padded && !rest.is_empty() {
                return Err(RtpError::Invalid {
                    what: "padding on a non-final RTCP packet",
                });
            }
            packets.push(p);
        }
        if packets.is_empty() {
            return Err(RtpError::Invalid {
                what: "empty RTCP compound packet",
            });
        }
        Ok(Self { packets })
    }

    /// Emits the compound packet.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        for p in &self.packets {
            p.emit(out)?;
        }
        Ok(())
    }

    /// Emits into a new `Vec`.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.emit(&mut v)?;
        Ok(v)
    }
}

/// Converts a 64-bit NTP timestamp to the middle 32 bits used as LSR (RFC 3550 §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rb(n: u32) -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(n),
            fraction_lost: 12,
            cumulative_lost: -3,
            extended_highest_seq: 70000,
            jitter: 33,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn compound_sr_sdes_bye_app_round_trip() {
        let c = Compound {
            packets: vec![
                RtcpPacket::SenderReport(SenderReport {
                    ssrc: Ssrc(0xAABB_CCDD),
                    info: SenderInfo {
                        ntp_timestamp: 0x0102_0304_0506_0708,
                        rtp_timestamp: 48000,
                        packet_count: 50,
                        octet_count: 4000,
                    },
                    reports: vec![rb(1)],
                    extension: vec![],
                }),
                RtcpPacket::Sdes(vec![SdesChunk {
                    ssrc: Ssrc(0xAABB_CCDD),
                    items: vec![SdesItem {
                        kind: SDES_CNAME,
                        value: b"alice@example".to_vec(),
                    }],
                }]),
                RtcpPacket::App(App {
                    subtype: 3,
                    ssrc: Ssrc(9),
                    name: *b"sott",
                    data: vec![1, 2, 3, 4],
                }),
                RtcpPacket::Bye(Bye {
                    sources: vec![Ssrc(0xAABB_CCDD)],
                    reason: Some(b"bye".to_vec()),
                }),
            ],
        };
        let bytes = c.to_vec().unwrap();
        // SR: 4 + 24 + 24 = 52 bytes; length field = 12.
        assert_eq!(&bytes[..4], &[0x81, 200, 0, 12]);
        // SDES: 4 hdr + 4 ssrc + 2 + 13 + 1 null = 24 → already aligned; length 5.
        assert_eq!(&bytes[52..56], &[0x81, 202, 0, 5]);
        let back = Compound::parse(&bytes).unwrap();
        assert_eq!(back, c);
        match &back.packets[1] {
            RtcpPacket::Sdes(ch) => assert_eq!(ch[0].cname(), Some(&b"alice@example"[..])),
            other => panic!("{other:?}"),
        }
        match &back.packets[0] {
            RtcpPacket::SenderReport(sr) => assert_eq!(sr.reports[0].cumulative_lost, -3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compound_checks_rfc3550_a2() {
        let bye = Compound {
            packets: vec![RtcpPacket::Bye(Bye {
                sources: vec![Ssrc(1)],
                reason: None,
            })],
        }
        .to_vec()
        .unwrap();
        assert!(Compound::parse(&bye).is_err());
        assert!(Compound::parse_relaxed(&bye).is_ok());
        // Padding bit on a non-final packet.
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: Ssrc(5),
            reports: vec![],
            extension: vec![],
        });
        let mut v = Vec::new();
        rr.emit(&mut v).unwrap();
        // Add 4 padding bytes to the RR.
        v[0] |= 0x20;
        v[3] += 1;
        v.extend_from_slice(&[0, 0, 0, 4]);
        assert!(Compound::parse(&v).is_ok());
        v.extend_from_slice(&bye);
        assert!(Compound::parse(&v).is_err());
        // Length overrunning the datagram.
        let mut short = bye.clone();
        short[3] = 9;
        assert!(Compound::parse_relaxed(&short).is_err());
    }

    #[test]
    fn unknown_type_passes_through() {
        let raw = [0x8F, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        let (p, used) = RtcpPacket::parse(&raw).unwrap();
        assert_eq!(used, 12);
        let mut out = Vec::new();
        p.emit(&mut out).unwrap();
        assert_eq!(out, raw);
    }

    fn arb_rb() -> impl Strategy<Value = ReportBlock> {
        (
            any::<u32>(),
            any::<u8>(),
            -0x80_0000i32..=0x7F_FFFF,
            any::<[u32; 4]>(),
        )
            .prop_map(|(s, f, l, x)| ReportBlock {
                ssrc: Ssrc(s),
                fraction_lost: f,
                cumulative_lost: l,
                extended_highest_seq: x[0],
                jitter: x[1],
                last_sr: x[2],
                delay_since_last_sr: x[3],
            })
    }

    fn arb_packet() -> impl Strategy<Value = RtcpPacket> {
        let words = prop::collection::vec(any::<[u8; 4]>(), 0..4)
            .prop_map(|w| w.into_iter().flatten().collect::<Vec<u8>>());
        prop_oneof![
            (
                any::<u32>(),
                any::<(u64, u32, u32, u32)>(),
                prop::collection::vec(arb_rb(), 0..4),
                words.clone()
            )
                .prop_map(|(s, i, r, e)| RtcpPacket::SenderReport(SenderReport {
                    ssrc: Ssrc(s),
                    info: SenderInfo {
                        ntp_timestamp: i.0,
                        rtp_timestamp: i.1,
                        packet_count: i.2,
                        octet_count: i.3,
                    },
                    reports: r,
                    extension: e,
                })),
            (
                any::<u32>(),
                prop::collection::vec(arb_rb(), 0..4),
                words.clone()
            )
                .prop_map(|(s, r, e)| RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc: Ssrc(s),
                    reports: r,
                    extension: e,
                })),
            prop::collection::vec(
                (
                    any::<u32>(),
                    prop::collection::vec(
                        (1u8..=255, prop::collection::vec(any::<u8>(), 0..20)),
                        0..3
                    )
                ),
                0..3
            )
            .prop_map(|c| RtcpPacket::Sdes(
                c.into_iter()
                    .map(|(s, it)| SdesChunk {
                        ssrc: Ssrc(s),
                        items: it
                            .into_iter()
                            .map(|(kind, value)| SdesItem { kind, value })
                            .collect()
                    })
                    .collect()
            )),
            (
                prop::collection::vec(any::<u32>(), 0..4),
                proptest::option::of(prop::collection::vec(1u8..=255, 0..30))
            )
                .prop_map(|(s, r)| RtcpPacket::Bye(Bye {
                    sources: s.into_iter().map(Ssrc).collect(),
                    reason: r
                })),
            (0u8..32, any::<u32>(), any::<[u8; 4]>(), words).prop_map(|(st, s, n, d)| {
                RtcpPacket::App(App {
                    subtype: st,
                    ssrc: Ssrc(s),
                    name: n,
                    data: d,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn rtcp_round_trips(first in arb_rb(), rest in prop::collection::vec(arb_packet(), 0..5)) {
            let mut packets = vec![RtcpPacket::ReceiverReport(ReceiverReport { ssrc: Ssrc(1), reports: vec![first], extension: vec![] })];
            packets.extend(rest);
            let c = Compound { packets };
            let bytes = c.to_vec().unwrap();
            prop_assert_eq!(bytes.len() % 4, 0);
            prop_assert_eq!(Compound::parse(&bytes).unwrap(), c);
        }

        #[test]
        fn rtcp_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Compound::parse(&bytes);
            let _ = Compound::parse_relaxed(&bytes);
        }
    }
}
