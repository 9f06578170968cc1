//! # sotto-store — persistent state: ZID cache, contacts, verification flags
//!
//! Owns what sotto remembers on disk, in one SQLite file: our identity (the ZID of this
//! installation and a pseudonymous display name), and per peer ZID the ZRTP cache entry of
//! RFC 6189 §4.9 (retained secrets rs1 and rs2 with their expiry, an optional PBX secret, the
//! SAS-verified flag, a key-changed flag) plus what the contacts screen needs (a display name,
//! first and last seen). **Nothing else**: no call history, no SAS, no numbers or addresses, no
//! logs.
//!
//! * Schema versioned with `PRAGMA user_version` and migrations; a file from a newer sotto, a
//!   foreign SQLite file, a non-SQLite file or a damaged one is refused with a message naming it,
//!   and left untouched.
//! * WAL journal; every update is one transaction, so a crash leaves the previous state.
//! * The file is created 0600 (SQLite gives its `-wal` and `-shm` files the same mode) and a
//!   directory it creates 0700. Secrets are [`SecretArray`](sotto_proto::SecretArray) in memory
//!   and BLOBs on disk: **the database is as sensitive as a private key**; protecting it at rest
//!   is the job of full-disk encryption (a passphrase-encrypted store is future work).
//! * [`Store::open_ephemeral`] is the `--ephemeral` mode: the same API in memory, nothing
//!   written to disk.
//! * Time is Unix seconds passed in by the caller ([`unix_now`] for drivers), randomness an
//!   injected [`Random`](sotto_proto::crypto::Random).
//!
//! ```
//! use sotto_proto::{SecretArray, Zid, crypto::OsRandom};
//! use sotto_store::{Expiry, PeerState, RetainedSecret, Store};
//!
//! let mut store = Store::open_ephemeral()?;
//! let me = store.identity_or_create(&mut OsRandom, 1_700_000_000)?;
//! assert_eq!(me.display_name.split('-').count(), 3);
//!
//! // After a successful ZRTP handshake with a peer:
//! let peer = Zid([7; 12]);
//! let rs1 = RetainedSecret::new(SecretArray::new([1; 32]), Expiry::Never);
//! store.rotate_retained_secret(&peer, 1_700_000_000, Some(rs1))?;
//! // The user compared the SAS and pressed "confirm":
//! store.verify(&peer)?;
//! store.set_display_name(&peer, Some("Ana"))?;
//! assert_eq!(store.resolve("ana")?.state, PeerState::Verified);
//! # Ok::<(), sotto_store::StoreError>(())
//! ```

mod error;
mod fsperm;
mod model;
mod names;
mod otr_trust;
mod schema;
mod store;
mod zid_cache;

pub use error::{DbError, Location, Result, StoreError};
pub use model::{Contact, LocalIdentity, PeerRecord, PeerState};
pub use otr_trust::{FingerprintSeen, OtrFingerprint};
/// The retained-secret types are the ZRTP engine's own, so the two crates cannot disagree.
pub use sotto_zrtp::cache::{Expiry, RetainedSecret};
pub use store::{MAX_NAME_CHARS, Store, unix_now};
