//! # sotto-zrtp — the ZRTP key agreement engine (RFC 6189)
//!
//! Owns ZRTP: every message of RFC 6189 §5, algorithm negotiation, the hash chain, DH and
//! Multistream key agreement, commit contention, the key schedule (s0, ZRTPSess, SRTP keys), the
//! SAS, Confirm encryption, retained secrets and retransmission timers. It hands SRTP keys to
//! `sotto-srtp` and cache updates to `sotto-store` through its outputs. Sans-IO: time arrives as
//! `now`, randomness through an injected source.
//!
//! # Driving a session
//!
//! One [`ZrtpSession`] per media stream. The driver feeds it datagrams (those
//! [`packet::is_zrtp`] recognises on the shared RTP port), timeouts and user actions, and drains
//! [`Output`]s after every input:
//!
//! ```
//! use std::time::Instant;
//! use sotto_proto::{Ssrc, Zid};
//! use sotto_proto::crypto::OsRandom;
//! use sotto_zrtp::{Config, Event, Input, MemoryCache, Output, RoleSetting, ZrtpSession};
//!
//! let now = Instant::now();
//! let unix_time = 1_700_000_000; // the driver's wall clock, seconds (cache expiry)
//! let mut alice = ZrtpSession::new(
//!     Config::new(Zid([1; 12]), Ssrc(1), unix_time),
//!     Box::new(OsRandom),
//!     Some(Box::new(MemoryCache::new())), // sotto-store's Store in a real driver
//!     now,
//! )?;
//! let mut bob_cfg = Config::new(Zid([2; 12]), Ssrc(2), unix_time);
//! bob_cfg.role = RoleSetting::Responder;
//! // The SDP answer would carry alice.hello_hash() as a=zrtp-hash; Bob checks it:
//! bob_cfg.peer_hello_hash = Some(alice.hello_hash());
//! let mut bob = ZrtpSession::new(bob_cfg, Box::new(OsRandom), None, now)?;
//!
//! // A lossless in-memory "network": move every Transmit to the other side.
//! let mut sas = [None, None];
//! for _ in 0..10 {
//!     let mut to_bob = Vec::new();
//!     let mut to_alice = Vec::new();
//!     for (i, (s, out)) in [(&mut alice, &mut to_bob), (&mut bob, &mut to_alice)].into_iter().enumerate() {
//!         while let Some(o) = s.poll_output() {
//!             match o {
//!                 Output::Transmit(bytes) => out.push(bytes),
//!                 Output::Event(Event::Secure(info)) => sas[i] = Some(info.sas.clone()),
//!                 Output::Event(Event::Failed(reason)) => panic!("{reason}"),
//!                 Output::Event(_) | Output::Timeout(_) => {} // a real driver arms a timer
//!             }
//!         }
//!     }
//!     for d in to_bob { bob.handle_input(now, Input::Datagram(&d))?; }
//!     for d in to_alice { alice.handle_input(now, Input::Datagram(&d))?; }
//! }
//! assert!(sas[0].is_some() && sas[0] == sas[1]);
//! // The users compare the SAS aloud; when it matches, remember it:
//! alice.handle_input(now, Input::ConfirmSas)?;
//! # Ok::<(), sotto_zrtp::Error>(())
//! ```
//!
//! # What is where
//!
//! * [`message`] and [`packet`]: RFC 6189 §5 wire formats (parse/emit, CRC-32C framing).
//! * [`algo`]: algorithm codes and the §4.1.2 negotiation (`E255` is accepted as GNU ZRTP's and
//!   ZRTP4J's name for Curve25519; we offer `X255` first, as libbzrtp names it, then `E255`).
//! * [`kdf`]: the KDF, s0, and every key derived from it (§4.4–§4.5).
//! * [`sas`]: B32 and B256 (PGP words) rendering.
//! * [`session`]: the state machine, timers (§6), contention (§4.2), Multistream (§4.4.3).
//! * [`cache`]: the ZID cache contract `sotto-store` implements.

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
