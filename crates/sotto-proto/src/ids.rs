//! Protocol identifiers as newtypes, so a SSRC is never confused with a sequence number and a ZID
//! never with a hash.

use core::fmt;

/// RTP synchronization source identifier (RFC 3550 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

impl From<u32> for Ssrc {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

/// ZRTP endpoint identifier (RFC 6189 §4.9): 96 random bits chosen once per installation.
///
/// Not secret (it is sent in the clear in Hello), but it is the key of the ZID cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Zid(pub [u8; 12]);

impl Zid {
    /// The 12 bytes of the ZID.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// Lower-case hex, 24 characters: how ZIDs are shown and stored.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(24);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses 24 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 24 {
            return None;
        }
        let mut out = [0u8; 12];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let hi = hex_val(*pair.first()?)?;
            let lo = hex_val(*pair.get(1)?)?;
            *o = (hi << 4) | lo;
        }
        Some(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Zid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zid({})", self.to_hex())
    }
}

impl fmt::Display for Zid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A four-byte algorithm or message-type code as ZRTP writes them (`"S256"`, `"X255"`, `"AES1"`;
/// RFC 6189 §5.1.2–5.1.6). Unknown codes are kept as they came, so an open enum built on this
/// type never loses what the peer offered.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlgoCode(pub [u8; 4]);

impl AlgoCode {
    /// A code from its four ASCII characters (`AlgoCode::new(*b"S256")`).
    pub const fn new(code: [u8; 4]) -> Self {
        Self(code)
    }

    /// The four bytes on the wire.
    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }
}

impl fmt::Display for AlgoCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AlgoCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlgoCode(\"{self}\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zid_hex_round_trip() {
        let z = Zid([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xab, 0xff]);
        assert_eq!(z.to_hex(), "00010203040506070809abff");
        assert_eq!(Zid::from_hex(&z.to_hex()), Some(z));
        assert_eq!(Zid::from_hex(&z.to_hex().to_uppercase()), Some(z));
        assert_eq!(Zid::from_hex("00"), None);
        assert_eq!(Zid::from_hex("zz0102030405060708090a0b"), None);
        assert_eq!(Zid::from_hex("é0102030405060708090a0b"), None);
    }

    #[test]
    fn algo_code_displays_unknown_bytes_safely() {
        assert_eq!(AlgoCode::new(*b"S256").to_string(), "S256");
        assert_eq!(
            AlgoCode::new([b'A', 0, 0xff, b' ']).to_string(),
            "A\\x00\\xff "
        );
    }
}
