//! The values the store hands out: our identity, peers' cache entries and contacts.

use sotto_proto::Zid;
use sotto_zrtp::cache::RetainedSecret;

/// What the user sees about a peer: the three states the UI shows, as Jitsi does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// The user compared the SAS with this peer and confirmed it; the cache still matches.
    Verified,
    /// Known peer, SAS never confirmed (or the user withdrew the confirmation).
    Unverified,
    /// The cached secret did not match on a call (RFC 6189 §4.6.1.1 cache mismatch): the peer's
    /// key changed, or someone is in the middle. Shown as a warning until the SAS is confirmed
    /// again.
    KeyChanged,
}

impl PeerState {
    /// The state for the two stored flags. A key change always wins over "verified".
    pub fn from_flags(verified: bool, key_changed: bool) -> Self {
        match (verified, key_changed) {
            (_, true) => Self::KeyChanged,
            (true, false) => Self::Verified,
            (false, false) => Self::Unverified,
        }
    }

    /// A short lower-case word for UIs and JSON (`verified`, `unverified`, `key-changed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Unverified => "unverified",
            Self::KeyChanged => "key-changed",
        }
    }
}

impl core::fmt::Display for PeerState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the store keeps about one peer ZID: the ZID cache entry (RFC 6189 §4.9) plus the
/// contact fields. Nothing about calls: no times of calls beyond first/last seen, no numbers, no
/// SAS.
#[derive(Debug)]
pub struct PeerRecord {
    /// The peer's ZID (the key).
    pub zid: Zid,
    /// A name the user gave this contact, if any.
    pub display_name: Option<String>,
    /// The newest retained secret.
    pub rs1: Option<RetainedSecret>,
    /// The previous retained secret.
    pub rs2: Option<RetainedSecret>,
    /// The PBX secret (RFC 6189 §7.3), only for a peer the user enrolled as a trusted PBX.
    pub pbx_secret: Option<RetainedSecret>,
    /// The SAS verified flag (RFC 6189 §4.6.1 "V flag").
    pub verified: bool,
    /// A cache mismatch was seen and not yet cleared by a new SAS confirmation.
    pub key_changed: bool,
    /// Unix time (seconds) the peer was first stored.
    pub first_seen: u64,
    /// Unix time (seconds) of the last update.
    pub last_seen: u64,
}

impl PeerRecord {
    /// A new, empty entry for `zid` first seen at `now`.
    pub fn new(zid: Zid, now: u64) -> Self {
        Self {
            zid,
            display_name: None,
            rs1: None,
            rs2: None,
            pbx_secret: None,
            verified: false,
            key_changed: false,
            first_seen: now,
            last_seen: now,
        }
    }

    /// The state to show the user.
    pub fn state(&self) -> PeerState {
        PeerState::from_flags(self.verified, self.key_changed)
    }

    /// rs1 if present and still valid at `now` (Unix seconds).
    pub fn live_rs1(&self, now: u64) -> Option<&RetainedSecret> {
        self.rs1.as_ref().filter(|s| s.expiry.is_valid_at(now))
    }

    /// rs2 if present and still valid at `now`.
    pub fn live_rs2(&self, now: u64) -> Option<&RetainedSecret> {
        self.rs2.as_ref().filter(|s| s.expiry.is_valid_at(now))
    }

    /// The PBX secret if present and still valid at `now`.
    pub fn live_pbx_secret(&self, now: u64) -> Option<&RetainedSecret> {
        self.pbx_secret
            .as_ref()
            .filter(|s| s.expiry.is_valid_at(now))
    }

    /// RFC 6189 §4.6.1 cache update after a successful key agreement: the old rs1 becomes rs2
    /// and `new_rs1` becomes rs1 (`None` stores no new secret). When to rotate, and what to do
    /// on a cache mismatch or a zero expiration interval, is the ZRTP engine's decision.
    pub fn rotate_rs(&mut self, new_rs1: Option<RetainedSecret>) {
        self.rs2 = self.rs1.take();
        self.rs1 = new_rs1;
    }

    /// The contact view of this record (no secrets).
    pub fn contact(&self) -> Contact {
        Contact {
            zid: self.zid,
            display_name: self.display_name.clone(),
            state: self.state(),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }
}

/// A peer as the contacts screen shows it: no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The peer's ZID.
    pub zid: Zid,
    /// A name the user gave this contact, if any.
    pub display_name: Option<String>,
    /// Verified, unverified, or key changed.
    pub state: PeerState,
    /// Unix time (seconds) the peer was first stored.
    pub first_seen: u64,
    /// Unix time (seconds) of the last update.
    pub last_seen: u64,
}

impl Contact {
    /// The display name, or the ZID in hex when there is none.
    pub fn label(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| self.zid.to_hex())
    }
}

/// Our own identity: the ZID of this installation (RFC 6189 §4.9) and a pseudonymous display
/// name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIdentity {
    /// Our ZID, 96 random bits.
    pub zid: Zid,
    /// A pseudonymous display name (`"amber-heron-42"`), unrelated to the OS user name.
    pub display_name: String,
    /// Unix time (seconds) this identity was created.
    pub created_at: u64,
}
