//! The ZID cache contract (RFC 6189 §4.9, §4.6.1): what the engine needs from persistent storage.
//!
//! ZRTP's key continuity rests on *retained secrets*: after every successful DH exchange both
//! endpoints derive a new shared secret `rs1` and keep it, indexed by the peer's ZID. On the next
//! call each side proves (through `rs1IDi`/`rs1IDr` in DHPart1/2) that it holds the same secret;
//! the secret is then mixed into `s0`. A man in the middle who was not present on the first call
//! cannot know it, so a *mismatch* is a loud warning (architecture: "clears Verified").
//!
//! This module defines:
//!
//! * [`ZidCache`]: the trait the engine calls. `sotto-store` implements it on SQLite (WAL, one
//!   transaction per update, versioned schema); [`MemoryCache`] implements it in memory for tests.
//! * [`CacheEntry`]: what is known about one peer ZID.
//! * [`RetainedSecret`] and [`Expiry`]: a 32-byte secret and when it stops being valid.
//! * [`CacheError`]: why the storage failed.
//!
//! # Time, sans-IO style
//!
//! The engine has no wall clock. The driver gives the session the current **unix time in
//! seconds** once, in `Config::unix_time` (see the session `Config`); the engine uses it to (a) ignore
//! secrets whose [`Expiry::At`] lies in the past and (b) compute the absolute expiry of a new
//! secret from the cache expiration interval negotiated in Confirm (§4.9, §5.7): the engine
//! passes an absolute [`Expiry`] to [`ZidCache::store_secret`], so the storage never does time
//! arithmetic and never needs a clock of its own for ZRTP purposes. Storage may still record
//! first/last-seen timestamps (it receives `unix_time` for that too).
//!
//! # Our own ZID
//!
//! The engine's own ZID is part of its configuration (`Config::zid`, a [`Zid`]), not of this
//! trait: the driver reads it once per installation from `sotto-store` (which should generate 96
//! random bits the first time and keep them forever, RFC 6189 §4.9) and passes it to every
//! session. A cache file belongs to exactly one local ZID; the store should refuse to mix them.
//!
//! # When the engine calls what
//!
//! 1. [`ZidCache::load`] when the peer's Hello arrives (we then know its ZID): the returned entry
//!    feeds `rs1IDi/r`, `rs2IDi/r` and `pbxsecretIDi/r` (§4.3) and the `s1`/`s2`/`s3` choice.
//!    Called at most once per DH session. Multistream sessions never touch the cache.
//! 2. [`ZidCache::store_secret`] once, after the Confirm exchange authenticated (both Confirm
//!    MACs checked), unless the negotiated cache expiration interval is 0 (§4.9: do not retain).
//!    The implementation must, atomically (one transaction): move the current rs1 (with its
//!    expiry) to rs2, store the new rs1 with the given expiry, and update last-seen.
//! 3. [`ZidCache::record_mismatch`] when the peer had a cached secret for us, or we for it, and
//!    no retained secret matched (§4.6.1.1). The implementation must clear the verified flag in
//!    the same transaction (architecture: a mismatch clears `Verified`). The engine then also
//!    calls `store_secret` for the new rs1 (the RFC replaces the cache after a mismatch).
//! 4. [`ZidCache::set_verified`] when the user confirms (`true`) or rejects (`false`) the SAS,
//!    and when the peer's Confirm has V=0 while ours would say verified (§4.6.1.1: "The V flag").
//!
//! A storage failure never makes the engine skip security checks: a failed `load` is treated as
//! "no cache entry" (the SAS must then be compared by voice, and the event says so), a failed
//! store is reported in the `Secure` event's cache status.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sotto_proto::{SecretArray, Zid};
use thiserror::Error;

/// When a retained secret stops being usable (RFC 6189 §4.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expiry {
    /// Never expires (cache expiration interval `0xFFFFFFFF` on the wire).
    Never,
    /// Expires at this absolute unix time, in seconds. The secret is valid while
    /// `unix_time < at`.
    At(u64),
}

impl Expiry {
    /// The absolute expiry for a secret created at `unix_time` with the §4.9 cache expiration
    /// interval `interval` (seconds; `0xFFFFFFFF` = never). An interval of 0 means "do not
    /// retain": callers check for it before storing, and this function returns `At(unix_time)`,
    /// an already-expired value, for it.
    pub fn from_interval(unix_time: u64, interval: u32) -> Self {
        if interval == u32::MAX {
            Self::Never
        } else {
            Self::At(unix_time.saturating_add(u64::from(interval)))
        }
    }

    /// True if a secret with this expiry may still be used at `unix_time`.
    pub fn is_valid_at(self, unix_time: u64) -> bool {
        match self {
            Self::Never => true,
            Self::At(at) => unix_time < at,
        }
    }

    /// For storage: `None` for [`Expiry::Never`], `Some(unix seconds)` otherwise.
    pub fn as_unix(self) -> Option<u64> {
        match self {
            Self::Never => None,
            Self::At(at) => Some(at),
        }
    }

    /// Inverse of [`Expiry::as_unix`].
    pub fn from_unix(v: Option<u64>) -> Self {
        v.map_or(Self::Never, Self::At)
    }
}

/// One retained secret (rs1, rs2, or a PBX secret): 256 bits and its expiry.
#[derive(Debug)]
pub struct RetainedSecret {
    /// The secret. Always 32 bytes: the RFC truncates longer KDF output to 256 bits (§4.6.1).
    pub secret: SecretArray<32>,
    /// When it stops being valid.
    pub expiry: Expiry,
}

impl RetainedSecret {
    /// A secret with its expiry.
    pub fn new(secret: SecretArray<32>, expiry: Expiry) -> Self {
        Self { secret, expiry }
    }

    /// An explicit copy (secrets are not `Clone`).
    pub fn clone_secret(&self) -> Self {
        Self {
            secret: self.secret.clone_secret(),
            expiry: self.expiry,
        }
    }

    /// The secret if it is still valid at `unix_time`.
    pub fn valid_at(&self, unix_time: u64) -> Option<&SecretArray<32>> {
        self.expiry.is_valid_at(unix_time).then_some(&self.secret)
    }
}

/// Everything the cache knows about one peer ZID.
#[derive(Debug, Default)]
pub struct CacheEntry {
    /// The most recent retained secret, if any.
    pub rs1: Option<RetainedSecret>,
    /// The one before it, if any (kept so a call whose Conf2ACK was lost still matches, §4.6.1).
    pub rs2: Option<RetainedSecret>,
    /// The user compared the SAS with this peer and confirmed it (the "V" flag, §4.6.1.1/§7.1).
    pub verified: bool,
    /// A PBX secret from a trusted-MiTM enrollment (§7.3.1). sotto never enrolls by default, so
    /// this is normally `None`.
    pub pbx_secret: Option<RetainedSecret>,
    /// A name the user gave this peer (shown beside the SAS), if any. Not used by the protocol.
    pub display_name: Option<String>,
    /// A key-continuity mismatch was recorded for this peer and the user has not re-verified
    /// since. Informational for the UI; the engine does not read it.
    pub mismatch: bool,
}

impl CacheEntry {
    /// An explicit copy (the secrets are not `Clone`).
    pub fn clone_entry(&self) -> Self {
        Self {
            rs1: self.rs1.as_ref().map(RetainedSecret::clone_secret),
            rs2: self.rs2.as_ref().map(RetainedSecret::clone_secret),
            verified: self.verified,
            pbx_secret: self.pbx_secret.as_ref().map(RetainedSecret::clone_secret),
            display_name: self.display_name.clone(),
            mismatch: self.mismatch,
        }
    }
}

/// Why the cache storage failed. Says nothing about the secrets.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The storage backend failed (I/O, SQLite error, ...). The text is for logs.
    #[error("cache storage failed: {0}")]
    Storage(String),
    /// The stored data is not in a format this version understands (schema version, length).
    #[error("cache data is corrupt or from an unknown schema: {0}")]
    Corrupt(String),
    /// The cache belongs to another local ZID than the one in use.
    #[error("cache belongs to another local ZID")]
    WrongLocalZid,
    /// A lock was poisoned (a thread panicked while holding it).
    #[error("cache lock poisoned")]
    Poisoned,
}

/// Persistent per-peer ZRTP state, keyed by the peer's ZID. See the module docs for when the
/// engine calls each method and what each must do atomically.
///
/// Implementations must be cheap enough to call from the handshake (one indexed lookup, one small
/// transaction). `Send` so a session can move between threads.
pub trait ZidCache: Send {
    /// The entry for `peer`, or `None` if we never completed an exchange with it.
    fn load(&mut self, peer: &Zid) -> Result<Option<CacheEntry>, CacheError>;

    /// After a successful exchange: rs2 := old rs1 (with its expiry), rs1 := `new_rs1` with
    /// `expiry`; create the entry if needed (verified = false); record `unix_time` as last seen
    /// (and first seen for a new entry). One transaction.
    fn store_secret(
        &mut self,
        peer: &Zid,
        new_rs1: &SecretArray<32>,
        expiry: Expiry,
        unix_time: u64,
    ) -> Result<(), CacheError>;

    /// Sets (user confirmed the SAS) or clears (user rejected it, or the peer no longer has it
    /// verified) the verified flag. Setting it also clears the `mismatch` mark. A no-op if there
    /// is no entry for `peer`.
    fn set_verified(&mut self, peer: &Zid, verified: bool) -> Result<(), CacheError>;

    /// A key-continuity mismatch with `peer` (§4.6.1.1): clear the verified flag and set the
    /// `mismatch` mark. A no-op if there is no entry for `peer`.
    fn record_mismatch(&mut self, peer: &Zid) -> Result<(), CacheError>;
}

/// A cache kept in memory: for tests and for `--cache`-less diagnostic runs.
#[derive(Default)]
pub struct MemoryCache {
    entries: HashMap<Zid, CacheEntry>,
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("peers", &self.entries.len())
            .finish()
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for `peer`, for test assertions.
    pub fn get(&self, peer: &Zid) -> Option<&CacheEntry> {
        self.entries.get(peer)
    }

    /// Replaces the entry for `peer` (tests use this to plant a stale or wrong secret).
    pub fn insert(&mut self, peer: Zid, entry: CacheEntry) {
        self.entries.insert(peer, entry);
    }
}

impl ZidCache for MemoryCache {
    fn load(&mut self, peer: &Zid) -> Result<Option<CacheEntry>, CacheError> {
        Ok(self.entries.get(peer).map(CacheEntry::clone_entry))
    }

    fn store_secret(
        &mut self,
        peer: &Zid,
        new_rs1: &SecretArray<32>,
        expiry: Expiry,
        _unix_time: u64,
    ) -> Result<(), CacheError> {
        let e = self.entries.entry(*peer).or_default();
        e.rs2 = e.rs1.take();
        e.rs1 = Some(RetainedSecret::new(new_rs1.clone_secret(), expiry));
        Ok(())
    }

    fn set_verified(&mut self, peer: &Zid, verified: bool) -> Result<(), CacheError> {
        if let Some(e) = self.entries.get_mut(peer) {
            e.verified = verified;
            if verified {
                e.mismatch = false;
            }
        }
        Ok(())
    }

    fn record_mismatch(&mut self, peer: &Zid) -> Result<(), CacheError> {
        if let Some(e) = self.entries.get_mut(peer) {
            e.verified = false;
            e.mismatch = true;
        }
        Ok(())
    }
}

/// A cache shared by several sessions (two streams of a call, or concurrent calls): any
/// [`ZidCache`] behind an `Arc<Mutex<_>>`. Clone it and hand one clone to each session.
pub struct SharedCache<C: ZidCache>(pub Arc<Mutex<C>>);

impl<C: ZidCache> SharedCache<C> {
    /// Wraps `cache`.
    pub fn new(cache: C) -> Self {
        Self(Arc::new(Mutex::new(cache)))
    }
}

impl<C: ZidCache> Clone for SharedCache<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C: ZidCache> fmt::Debug for SharedCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedCache")
    }
}

impl<C: ZidCache> ZidCache for SharedCache<C> {
    fn load(&mut self, peer: &Zid) -> Result<Option<CacheEntry>, CacheError> {
        self.0.lock().map_err(|_| CacheError::Poisoned)?.load(peer)
    }

    fn store_secret(
        &mut self,
        peer: &Zid,
        new_rs1: &SecretArray<32>,
        expiry: Expiry,
        unix_time: u64,
    ) -> Result<(), CacheError> {
        self.0
            .lock()
            .map_err(|_| CacheError::Poisoned)?
            .store_secret(peer, new_rs1, expiry, unix_time)
    }

    fn set_verified(&mut self, peer: &Zid, verified: bool) -> Result<(), CacheError> {
        self.0
            .lock()
            .map_err(|_| CacheError::Poisoned)?
            .set_verified(peer, verified)
    }

    fn record_mismatch(&mut self, peer: &Zid) -> Result<(), CacheError> {
        self.0
            .lock()
            .map_err(|_| CacheError::Poisoned)?
            .record_mismatch(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_from_interval() {
        // RFC 6189 §4.9: 0xFFFFFFFF means the secret never expires.
        assert_eq!(Expiry::from_interval(1000, u32::MAX), Expiry::Never);
        assert_eq!(Expiry::from_interval(1000, 60), Expiry::At(1060));
        assert!(Expiry::At(1060).is_valid_at(1059));
        assert!(!Expiry::At(1060).is_valid_at(1060));
        assert!(Expiry::Never.is_valid_at(u64::MAX));
        assert_eq!(Expiry::from_unix(Expiry::At(5).as_unix()), Expiry::At(5));
        assert_eq!(Expiry::from_unix(Expiry::Never.as_unix()), Expiry::Never);
    }

    #[test]
    fn memory_cache_rotates_rs1_into_rs2() {
        let mut c = MemoryCache::new();
        let z = Zid([7; 12]);
        assert!(c.load(&z).unwrap().is_none());
        c.store_secret(&z, &SecretArray::new([1; 32]), Expiry::Never, 10)
            .unwrap();
        c.store_secret(&z, &SecretArray::new([2; 32]), Expiry::At(99), 11)
            .unwrap();
        let e = c.load(&z).unwrap().unwrap();
        assert_eq!(e.rs1.as_ref().unwrap().secret.expose(), &[2; 32]);
        assert_eq!(e.rs1.as_ref().unwrap().expiry, Expiry::At(99));
        assert_eq!(e.rs2.as_ref().unwrap().secret.expose(), &[1; 32]);
        assert_eq!(e.rs2.as_ref().unwrap().expiry, Expiry::Never);
        assert!(!e.verified);
    }

    #[test]
    fn verified_and_mismatch() {
        let mut c = SharedCache::new(MemoryCache::new());
        let z = Zid([9; 12]);
        c.store_secret(&z, &SecretArray::new([1; 32]), Expiry::Never, 0)
            .unwrap();
        c.set_verified(&z, true).unwrap();
        assert!(c.load(&z).unwrap().unwrap().verified);
        c.record_mismatch(&z).unwrap();
        let e = c.load(&z).unwrap().unwrap();
        assert!(!e.verified && e.mismatch);
        c.set_verified(&z, true).unwrap();
        let e = c.load(&z).unwrap().unwrap();
        assert!(e.verified && !e.mismatch);
    }
}
