//! Demultiplexing one media port (RFC 7983 §7, RFC 6189 §5, RFC 5761 §4).
//!
//! The first byte of a datagram tells the protocol apart:
//!
//! | first byte | protocol |
//! |---|---|
//! | 0–3 | STUN (RFC 5389) |
//! | 16–19 | ZRTP (RFC 6189; the first byte is `0x10`, and bytes 4–7 are the cookie `ZRTP`) |
//! | 20–63 | DTLS (not used by sotto; dropped) |
//! | 64–79 | TURN channel data (not used; dropped) |
//! | 128–191 | RTP or RTCP; RTCP when the payload type is 192–223 (RFC 5761 §4) |
//!
//! Anything else is [`Kind::Unknown`] and is dropped by the caller with a trace.

/// What a datagram on the media port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A STUN message (RFC 5389).
    Stun,
    /// A ZRTP packet (RFC 6189 §5: `0x10` first byte and the `ZRTP` magic cookie).
    Zrtp,
    /// RTP (RFC 3550), encrypted as SRTP once ZRTP is secure.
    Rtp,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    Rtcp,
    /// DTLS: not a protocol sotto speaks on this port.
    Dtls,
    /// TURN ChannelData: not a protocol sotto speaks on this port.
    TurnChannel,
    /// None of the above, or too short to tell.
    Unknown,
}

/// The ZRTP magic cookie, `"ZRTP"` (RFC 6189 §5).
pub const ZRTP_MAGIC_COOKIE: [u8; 4] = *b"ZRTP";

/// Classifies a datagram by its first bytes. Never panics; short input is `Unknown`.
pub fn classify(datagram: &[u8]) -> Kind {
    let Some(&first) = datagram.first() else {
        return Kind::Unknown;
    };
    match first {
        // STUN needs the 20-byte header with the magic cookie 0x2112A442 at offset 4.
        0..=3 => {
            if datagram.len() >= 20 && datagram.get(4..8) == Some(&[0x21, 0x12, 0xa4, 0x42][..]) {
                Kind::Stun
            } else {
                Kind::Unknown
            }
        }
        16..=19 => {
            if datagram.get(4..8) == Some(&ZRTP_MAGIC_COOKIE[..]) && datagram.len() >= 12 {
                Kind::Zrtp
            } else {
                Kind::Unknown
            }
        }
        20..=63 => Kind::Dtls,
        64..=79 => Kind::TurnChannel,
        128..=191 => match datagram.get(1) {
            // RFC 5761 §4: payload types 64–95 (with the marker bit: 192–223) are RTCP.
            Some(&pt) if (192..=223).contains(&pt) => {
                if datagram.len() >= 8 {
                    Kind::Rtcp
                } else {
                    Kind::Unknown
                }
            }
            Some(_) if datagram.len() >= 12 => Kind::Rtp,
            _ => Kind::Unknown,
        },
        _ => Kind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_protocol() {
        let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        stun.extend_from_slice(&[0; 12]);
        assert_eq!(classify(&stun), Kind::Stun);
        stun[4] = 0; // wrong cookie
        assert_eq!(classify(&stun), Kind::Unknown);

        let mut zrtp = vec![0x10, 0x00, 0x00, 0x01];
        zrtp.extend_from_slice(b"ZRTP");
        zrtp.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(classify(&zrtp), Kind::Zrtp);
        zrtp[5] = b'X';
        assert_eq!(classify(&zrtp), Kind::Unknown);

        let mut rtp = vec![0x80, 111];
        rtp.extend_from_slice(&[0; 10]);
        assert_eq!(classify(&rtp), Kind::Rtp);
        rtp[1] = 0x80 | 111; // marker bit set, still RTP
        assert_eq!(classify(&rtp), Kind::Rtp);
        for pt in [200u8, 201, 202, 203, 204, 205, 206] {
            rtp[1] = pt;
            assert_eq!(classify(&rtp), Kind::Rtcp, "pt {pt}");
        }
        assert_eq!(classify(&[0x80, 0]), Kind::Unknown, "too short for RTP");
        assert_eq!(classify(&[23, 0, 0]), Kind::Dtls);
        assert_eq!(classify(&[64, 0, 0, 0]), Kind::TurnChannel);
        assert_eq!(classify(&[]), Kind::Unknown);
        assert_eq!(classify(&[0xff; 40]), Kind::Unknown);
    }

    #[test]
    fn never_panics_on_any_short_input() {
        for first in 0..=255u8 {
            for len in 0..24 {
                let mut d = vec![first; len];
                if let Some(b) = d.get_mut(0) {
                    *b = first;
                }
                let _ = classify(&d);
            }
        }
    }
}
