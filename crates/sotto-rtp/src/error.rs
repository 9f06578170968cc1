//! The one error type of this crate.

use sotto_proto::WireError;
use thiserror::Error;

/// Why an RTP/RTCP packet could not be parsed or emitted.
///
/// Split by fault: malformed peer bytes ([`RtpError::Malformed`], [`RtpError::Invalid`]) versus
/// local misuse ([`RtpError::Misuse`], [`RtpError::BufferTooSmall`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The peer's bytes were truncated or had trailing data.
    #[error("malformed packet: {0}")]
    Malformed(WireError),
    /// A field had a value RFC 3550 / 8285 / 4733 does not allow.
    #[error("invalid {what}")]
    Invalid {
        /// Which field, in the RFC's words.
        what: &'static str,
    },
    /// The caller asked for something that cannot be encoded (e.g. 16 CSRCs, an extension id
    /// outside the range of the chosen form).
    #[error("cannot encode: {what}")]
    Misuse {
        /// What was wrong with the request.
        what: &'static str,
    },
    /// The output buffer was too small.
    #[error("output buffer too small: needed {needed} byte(s), {available} free")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl From<WireError> for RtpError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::BufferTooSmall { needed, available } => {
                RtpError::BufferTooSmall { needed, available }
            }
            WireError::Invalid { what } => RtpError::Invalid { what },
            other => RtpError::Malformed(other),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, RtpError>;
