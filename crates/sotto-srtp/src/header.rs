//! The few RTP/RTCP header fields SRTP needs, read with bounds checks (RFC 3550 §5.1, §6.4).
//!
//! This is deliberately a view, not a parser: sotto-rtp owns the full RTP/RTCP model. Here we
//! only need where the header ends (CSRCs and header extension stay clear but authenticated),
//! the SSRC and the sequence number.

use crate::error::{Error, Result};

/// Fields of an RTP header that SRTP uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeaderView {
    /// Octets of fixed header, CSRC list and header extension.
    pub header_len: usize,
    /// Synchronization source.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Timestamp.
    pub timestamp: u32,
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

impl RtpHeaderView {
    /// Reads the header of an RTP packet (whose payload may be empty).
    #[inline]
    pub fn parse(pkt: &[u8]) -> Result<Self> {
        let b0 = *pkt.first().ok_or(Error::TooShort)?;
        if pkt.len() < 12 {
            return Err(Error::TooShort);
        }
        if b0 >> 6 != 2 {
            return Err(Error::Malformed("RTP version is not 2"));
        }
        let b1 = *pkt.get(1).ok_or(Error::TooShort)?;
        let cc = usize::from(b0 & 0x0F);
        let mut header_len = 12 + 4 * cc;
        if b0 & 0x10 != 0 {
            let words = be16(pkt, header_len + 2).ok_or(Error::TooShort)?;
            header_len += 4 + 4 * usize::from(words);
        }
        if header_len > pkt.len() {
            return Err(Error::TooShort);
        }
        Ok(Self {
            header_len,
            ssrc: be32(pkt, 8).ok_or(Error::TooShort)?,
            seq: be16(pkt, 2).ok_or(Error::TooShort)?,
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            timestamp: be32(pkt, 4).ok_or(Error::TooShort)?,
        })
    }
}

/// Fields of the first RTCP header of a compound packet that SRTCP uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpHeaderView {
    /// Packet type of the first packet.
    pub packet_type: u8,
    /// SSRC of the sender of the first packet.
    pub ssrc: u32,
}

impl RtcpHeaderView {
    /// The fixed 8 octets SRTCP leaves in the clear.
    pub const LEN: usize = 8;

    /// Reads the first 8 octets of an RTCP packet.
    #[inline]
    pub fn parse(pkt: &[u8]) -> Result<Self> {
        if pkt.len() < Self::LEN {
            return Err(Error::TooShort);
        }
        let b0 = *pkt.first().ok_or(Error::TooShort)?;
        if b0 >> 6 != 2 {
            return Err(Error::Malformed("RTCP version is not 2"));
        }
        Ok(Self {
            packet_type: *pkt.get(1).ok_or(Error::TooShort)?,
            ssrc: be32(pkt, 4).ok_or(Error::TooShort)?,
        })
    }
}

/// Reads a big-endian u32 at `at` (for the SRTCP E flag and index word).
#[inline]
pub(crate) fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    be32(b, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrc_and_extension_lengths() {
        // V=2, X=1, CC=2; two CSRCs; extension profile 0xBEDE with 1 word.
        let mut p = vec![0x92, 0x60, 0x12, 0x34, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]);
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 9, 9, 9, 9]);
        p.extend_from_slice(b"payload");
        let h = RtpHeaderView::parse(&p).unwrap();
        assert_eq!(h.header_len, 12 + 8 + 8);
        assert_eq!(h.ssrc, 0xdeadbeef);
        assert_eq!(h.seq, 0x1234);
        assert_eq!(h.payload_type, 0x60);
        // Truncated extension.
        assert_eq!(RtpHeaderView::parse(&p[..26]), Err(Error::TooShort));
        assert_eq!(RtpHeaderView::parse(&p[..22]), Err(Error::TooShort));
        // Wrong version.
        p[0] = 0x52;
        assert!(matches!(RtpHeaderView::parse(&p), Err(Error::Malformed(_))));
    }

    #[test]
    fn never_panics_on_short_input() {
        for n in 0..40 {
            let p = vec![0x9F; n];
            let _ = RtpHeaderView::parse(&p);
            let _ = RtcpHeaderView::parse(&p);
        }
    }
}
