//! # sotto-zrtp — the ZRTP key agreement engine (RFC 6189)
//!
//! Owns ZRTP: every message of RFC 6189 §5, algorithm negotiation, the hash chain, DH and
//! Multistream key agreement, commit contention, the key schedule (s0, ZRTPSess, SRTP keys), the
//! SAS, Confirm encryption, retained secrets and retransmission timers. It hands SRTP keys to
//! `sotto-srtp` and cache updates to `sotto-store` through its outputs. Sans-IO: time arrives as
//! `now`, randomness through an injected source.

pub mod algo;
pub mod cache;
pub mod message;
pub mod packet;

pub use cache::{
    CacheEntry, CacheError, Expiry, MemoryCache, RetainedSecret, SharedCache, ZidCache,
};
pub mod error;
pub mod kdf;
pub mod sas;
pub mod session;

pub use algo::{AlgoPrefs, AuthTag, CipherAlgo, HashAlgo, KeyAgreement, SasType, Suite};
pub use error::{Error, FailureReason};
pub use session::{
    CacheStatus, Config, Event, Exporter, Input, MultistreamKey, Output, Role, RoleSetting,
    SecureInfo, SrtpKeys, StreamMode, ZrtpSession,
};
