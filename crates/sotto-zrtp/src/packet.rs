//! ZRTP packet framing (RFC 6189 §5, Figure 2): a 12-byte header (`0x10 0x00`, sequence number,
//! the `ZRTP` magic cookie, the sender's SSRC), one ZRTP message, and a CRC-32C trailer. The
//! first byte and the cookie let ZRTP share a UDP port with RTP/RTCP/DTLS (RFC 7983 §7).

use sotto_proto::{Reader, Ssrc, WireError, Writer};

/// The magic cookie `'ZRTP'` (§5).
pub const MAGIC_COOKIE: u32 = 0x5a52_5450;
/// Header bytes before the message.
pub const HEADER_LEN: usize = 12;
/// Header plus CRC.
pub const OVERHEAD: usize = HEADER_LEN + 4;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// CRC-32C of `data` (RFC 3309's polynomial). On the wire ZRTP writes this value's bytes least
/// significant first, as SCTP does (RFC 3309 Appendix); libbzrtp and GNU ZRTP agree.
pub fn crc32c(data: &[u8]) -> u32 {
    CRC32C.checksum(data)
}

/// True if `datagram` looks like a ZRTP packet: first nibble `0001` and the magic cookie at
/// bytes 4..8. Cheap; use it to demultiplex a shared port before [`Packet::parse`].
pub fn is_zrtp(datagram: &[u8]) -> bool {
    matches!(datagram, [b0, _, _, _, 0x5a, 0x52, 0x54, 0x50, ..] if b0 & 0xf0 == 0x10)
}

/// A parsed ZRTP packet borrowing its message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Sequence number (incremented per packet sent, §5).
    pub seq: u16,
    /// The sender's SSRC.
    pub ssrc: Ssrc,
    /// The ZRTP message: from the `0x505a` preamble to the end of the message.
    pub message: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses and checks the header and the CRC. A bad CRC is [`WireError::Invalid`]: such
    /// packets are silently dropped (§5: "the packet is discarded").
    pub fn parse(datagram: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(datagram);
        let b0 = r.u8()?;
        let _unused = r.u8()?;
        if b0 != 0x10 {
            return Err(WireError::Invalid {
                what: "ZRTP packet first byte",
            });
        }
        let seq = r.u16()?;
        if r.u32()? != MAGIC_COOKIE {
            return Err(WireError::Invalid {
                what: "ZRTP magic cookie",
            });
        }
        let ssrc = Ssrc(r.u32()?);
        let rest = r.rest();
        let msg_len = rest.len().checked_sub(4).ok_or(WireError::Truncated {
            what: "ZRTP CRC",
            needed: 4,
            available: rest.len(),
        })?;
        let (message, crc_bytes) = rest.split_at(msg_len);
        let crc_arr: [u8; 4] = crc_bytes
            .try_into()
            .map_err(|_| WireError::Invalid { what: "ZRTP CRC" })?;
        let crc = u32::from_le_bytes(crc_arr);
        let body_len = datagram.len().saturating_sub(4);
        let covered = datagram.get(..body_len).unwrap_or_default();
        if crc32c(covered) != crc {
            return Err(WireError::Invalid { what: "ZRTP CRC" });
        }
        Ok(Self { seq, ssrc, message })
    }

    /// Frames `message` into a packet with header and CRC.
    pub fn emit(seq: u16, ssrc: Ssrc, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + OVERHEAD);
        let mut w = Writer::new(&mut out);
        w.u8(0x10);
        w.u8(0);
        w.u16(seq);
        w.u32(MAGIC_COOKIE);
        w.u32(ssrc.0);
        w.bytes(message);
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The CRC-32C check value ("123456789" -> 0xE3069283), RFC 3720 B.4 / the crc catalogue.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn round_trip_and_corruption() {
        let msg = [
            0x50, 0x5a, 0, 3, b'H', b'e', b'l', b'l', b'o', b'A', b'C', b'K',
        ];
        let p = Packet::emit(7, Ssrc(0xdead_beef), &msg);
        assert!(is_zrtp(&p));
        let parsed = Packet::parse(&p).unwrap();
        assert_eq!(parsed.seq, 7);
        assert_eq!(parsed.ssrc, Ssrc(0xdead_beef));
        assert_eq!(parsed.message, &msg);
        for i in 0..p.len() {
            let mut bad = p.clone();
            bad[i] ^= 0x01;
            assert!(Packet::parse(&bad).is_err(), "flip at {i} accepted");
        }
        assert!(Packet::parse(&p[..10]).is_err());
        assert!(!is_zrtp(&[0x80, 0, 0, 0, 0x5a, 0x52, 0x54, 0x50]));
    }
}
