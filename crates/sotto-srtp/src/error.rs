//! The one error type of this crate.

/// Who is at fault for an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The packet is not a well-formed (S)RTP/(S)RTCP packet.
    Malformed,
    /// The packet is well formed but the peer (or an attacker) sent something we refuse.
    Peer,
    /// The caller used the API wrongly (bad key length, buffer too small, reused index).
    LocalMisuse,
    /// A cryptographic check failed (no further detail on purpose).
    Crypto,
}

/// Errors of SRTP/SRTCP processing. A failed packet never changes the context.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet is shorter than its header plus the SRTP trailer.
    #[error("packet too short")]
    TooShort,
    /// The packet's header is not valid (version, CSRC count, extension length).
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The authentication tag did not verify.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The packet index was already received (RFC 3711 §3.3.2).
    #[error("replayed packet")]
    Replayed,
    /// The packet index is behind the replay window.
    #[error("packet too old for the replay window")]
    TooOld,
    /// The SSRC has no stream and the policy does not learn new ones.
    #[error("unknown SSRC {0:#010x}")]
    UnknownSsrc(u32),
    /// The packet's MKI is not the configured one.
    #[error("MKI does not match the configured master key")]
    MkiMismatch,
    /// The session already tracks its maximum number of SSRCs.
    #[error("too many SSRCs in this session")]
    TooManyStreams,
    /// The caller's buffer cannot hold the protected packet.
    #[error("buffer too small: {needed} octets needed")]
    BufferTooSmall {
        /// Octets the buffer needs.
        needed: usize,
    },
    /// Key or salt of the wrong length for the profile.
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// `protect` was asked to send a packet index it already used (keystream reuse).
    #[error("packet index already used on this SSRC")]
    IndexReused,
    /// The 48-bit SRTP or 31-bit SRTCP index space is used up; rekey.
    #[error("packet index space exhausted; rekey")]
    IndexExhausted,
}

impl Error {
    /// Who is at fault.
    pub const fn fault(&self) -> Fault {
        match self {
            Self::TooShort | Self::Malformed(_) => Fault::Malformed,
            Self::Replayed
            | Self::TooOld
            | Self::UnknownSsrc(_)
            | Self::MkiMismatch
            | Self::TooManyStreams => Fault::Peer,
            Self::AuthenticationFailed => Fault::Crypto,
            Self::BufferTooSmall { .. }
            | Self::InvalidKey(_)
            | Self::InvalidConfig(_)
            | Self::IndexReused
            | Self::IndexExhausted => Fault::LocalMisuse,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
