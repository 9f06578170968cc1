//! The crate's error type, split by who is at fault, and the reasons a session fails.

use sotto_proto::WireError;
use thiserror::Error;

use crate::algo::AlgoClass;

/// Errors returned by the engine's methods (local misuse) or by the parsers (malformed input).
/// Peer misbehaviour during a handshake is reported as [`crate::Event::Failed`] with a
/// [`FailureReason`], not as an `Err`: the driver keeps driving and reads the event.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Peer bytes did not parse.
    #[error("malformed ZRTP input: {0}")]
    Malformed(#[from] WireError),
    /// The caller used the API wrongly (e.g. confirmed a SAS before `Secure`).
    #[error("local misuse: {0}")]
    Misuse(&'static str),
    /// Configuration is invalid (e.g. an empty key agreement list).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A crypto operation failed. No detail on purpose.
    #[error("crypto failure")]
    Crypto,
}

/// Why a session failed. Shown to the user; never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// Retransmissions were exhausted waiting for the peer (§6).
    #[error("timeout: no answer to {0} after all retransmissions")]
    Timeout(&'static str),
    /// No algorithm in common for this class (Error 0x51–0x55).
    #[error("no common {0:?} algorithm")]
    NoCommonAlgorithm(AlgoClass),
    /// The peer's Hello does not match the `a=zrtp-hash` from its SDP (§8.1).
    #[error("peer Hello does not match the zrtp-hash from signalling")]
    HelloHashMismatch,
    /// A hash-chain preimage or a message MAC did not verify (§9).
    #[error("hash chain or message MAC check failed for {0}")]
    HashChain(&'static str),
    /// The Confirm MAC did not verify (Error 0x70).
    #[error("Confirm MAC check failed")]
    ConfirmMac,
    /// The DHPart2 did not match the hvi commitment in Commit (Error 0x62).
    #[error("DHPart2 does not match the Commit's hvi")]
    CommitmentMismatch,
    /// The peer's DH public value is invalid (Error 0x61).
    #[error("invalid DH public value from peer")]
    BadPublicValue,
    /// The peer speaks an unsupported version (Error 0x30).
    #[error("unsupported ZRTP version")]
    UnsupportedVersion,
    /// The peer uses our own ZID (Error 0x90).
    #[error("peer uses our ZID")]
    EqualZid,
    /// Preshared mode, or Multistream without a first stream (Error 0x56).
    #[error("no shared secret available, DH mode required")]
    DhModeRequired,
    /// The peer sent an Error message with this code (§5.9).
    #[error("peer reported ZRTP error 0x{0:x}")]
    PeerError(u32),
    /// A message was structurally wrong (Error 0x10 sent).
    #[error("malformed message from peer")]
    Malformed,
    /// Local crypto failure (Error 0x20 sent).
    #[error("internal crypto failure")]
    Crypto,
}

impl FailureReason {
    /// The §5.9 error code we send for this failure, if any.
    pub fn error_code(&self) -> Option<u32> {
        Some(match self {
            Self::NoCommonAlgorithm(AlgoClass::Hash) => 0x51,
            Self::NoCommonAlgorithm(AlgoClass::Cipher) => 0x52,
            Self::NoCommonAlgorithm(AlgoClass::KeyAgreement) => 0x53,
            Self::NoCommonAlgorithm(AlgoClass::AuthTag) => 0x54,
            Self::NoCommonAlgorithm(AlgoClass::Sas) => 0x55,
            Self::ConfirmMac => 0x70,
            Self::CommitmentMismatch => 0x62,
            Self::BadPublicValue => 0x61,
            Self::UnsupportedVersion => 0x30,
            Self::EqualZid => 0x90,
            Self::DhModeRequired => 0x56,
            Self::Malformed => 0x10,
            Self::Crypto => 0x20,
            Self::Timeout(_)
            | Self::HelloHashMismatch
            | Self::HashChain(_)
            | Self::PeerError(_) => return None,
        })
    }
}
