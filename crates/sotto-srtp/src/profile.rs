//! The SRTP protection profiles ZRTP can key (RFC 3711, RFC 6188, RFC 7714).

use core::fmt;
use core::str::FromStr;

/// An SRTP protection profile: cipher, key sizes and authentication tag lengths.
///
/// Names follow the SDES crypto-suite names (RFC 4568 §6.2, RFC 6188 §6, RFC 7714 §14.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// AES-128 counter mode, HMAC-SHA1 tag of 80 bits (RFC 3711).
    Aes128CmHmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 tag of 32 bits on SRTP, 80 bits on SRTCP (RFC 3711,
    /// RFC 4568 §6.2.2).
    Aes128CmHmacSha1_32,
    /// AES-256 counter mode with the AES_256_CM_PRF, HMAC-SHA1 tag of 80 bits (RFC 6188).
    Aes256CmHmacSha1_80,
    /// AES-256 counter mode with the AES_256_CM_PRF, HMAC-SHA1 tag of 32 bits on SRTP, 80 bits
    /// on SRTCP (RFC 6188).
    Aes256CmHmacSha1_32,
    /// AES-128-GCM AEAD, 16-octet tag (RFC 7714).
    AeadAes128Gcm,
    /// AES-256-GCM AEAD, 16-octet tag (RFC 7714).
    AeadAes256Gcm,
}

impl Profile {
    /// Every profile, in the order of the issue list.
    pub const ALL: [Self; 6] = [
        Self::Aes128CmHmacSha1_80,
        Self::Aes128CmHmacSha1_32,
        Self::Aes256CmHmacSha1_80,
        Self::Aes256CmHmacSha1_32,
        Self::AeadAes128Gcm,
        Self::AeadAes256Gcm,
    ];

    /// The SDES crypto-suite name, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes128CmHmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::Aes128CmHmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            Self::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Self::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// Parses a crypto-suite name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether this is an AEAD (AES-GCM) profile.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AeadAes128Gcm | Self::AeadAes256Gcm)
    }

    /// Master (and session) encryption key length in octets.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 | Self::Aes128CmHmacSha1_32 | Self::AeadAes128Gcm => 16,
            Self::Aes256CmHmacSha1_80 | Self::Aes256CmHmacSha1_32 | Self::AeadAes256Gcm => 32,
        }
    }

    /// Master (and session) salt length in octets: 14 for AES-CM, 12 for AES-GCM (RFC 7714 §12).
    pub const fn salt_len(self) -> usize {
        if self.is_aead() { 12 } else { 14 }
    }

    /// SRTP authentication tag length in octets.
    pub const fn srtp_tag_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 | Self::Aes256CmHmacSha1_80 => 10,
            Self::Aes128CmHmacSha1_32 | Self::Aes256CmHmacSha1_32 => 4,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 16,
        }
    }

    /// SRTCP authentication tag length in octets (80-bit HMAC for every AES-CM profile).
    pub const fn srtcp_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 10 }
    }

    /// Octets `protect_rtp` adds to a packet (tag, plus the MKI when one is configured).
    pub const fn srtp_overhead(self, mki_len: usize) -> usize {
        self.srtp_tag_len() + mki_len
    }

    /// Octets `protect_rtcp` adds to a packet (E flag and index, tag, MKI).
    pub const fn srtcp_overhead(self, mki_len: usize) -> usize {
        4 + self.srtcp_tag_len() + mki_len
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(crate::Error::InvalidConfig("unknown SRTP profile name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_name(p.name()), Some(p));
            assert_eq!(p.to_string().parse::<Profile>().unwrap(), p);
        }
        assert_eq!(
            Profile::from_name("aead_aes_128_gcm"),
            Some(Profile::AeadAes128Gcm)
        );
        assert!(Profile::from_name("AES_CM_192_HMAC_SHA1_80").is_none());
    }

    #[test]
    fn sizes_match_rfc_tables() {
        // RFC 3711 §8.2 / RFC 4568 §6.2: 80-bit SRTCP tag even for the _32 suites.
        assert_eq!(Profile::Aes128CmHmacSha1_32.srtp_tag_len(), 4);
        assert_eq!(Profile::Aes128CmHmacSha1_32.srtcp_tag_len(), 10);
        // RFC 7714 §12: 96-bit salt, 128-bit tag.
        assert_eq!(Profile::AeadAes256Gcm.salt_len(), 12);
        assert_eq!(Profile::AeadAes256Gcm.key_len(), 32);
        assert_eq!(Profile::Aes256CmHmacSha1_80.key_len(), 32);
        assert_eq!(Profile::Aes256CmHmacSha1_80.salt_len(), 14);
    }
}
