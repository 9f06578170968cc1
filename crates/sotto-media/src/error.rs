//! The one error type of this crate.

use thiserror::Error;

/// Why a media operation failed. Split by fault: bad peer bytes ([`MediaError::Malformed`]),
/// local misuse ([`MediaError::Misuse`]), or a codec's internal failure
/// ([`MediaError::Codec`]). Audio never carries secrets, so details are fine here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A payload from the peer could not be decoded.
    #[error("malformed payload: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The caller passed something unusable (wrong frame size, bad setting).
    #[error("misuse: {what}")]
    Misuse {
        /// What was wrong.
        what: &'static str,
    },
    /// The codec library reported an error.
    #[error("codec error: {0}")]
    Codec(String),
    /// Reading or writing a WAV file failed.
    #[error("wav: {0}")]
    Wav(String),
    /// The resampler failed.
    #[error("resampler: {0}")]
    Resample(String),
    /// The echo canceller / noise suppressor refused a frame.
    #[error("audio processing: {0}")]
    Processing(String),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, MediaError>;
