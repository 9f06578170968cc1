//! # sotto-otr — a sans-IO Off-the-Record messaging engine
//!
//! An implementation of the "Off-the-Record Messaging Protocol version 3" specification, also
//! speaking version 2 to peers that only know it (python-potr, older clients): query messages
//! and whitespace tags, the authenticated key exchange (D-H Commit, D-H Key, Reveal Signature,
//! Signature) in the 1536-bit MODP group with DSA long-term keys, data messages with
//! AES-128-CTR and HMAC-SHA1, per-message key rotation, revealed old MAC keys, counters,
//! instance tags, fragmentation and reassembly, TLVs, the Socialist Millionaires' Protocol and
//! the extra symmetric key.
//!
//! ## What the user sees
//!
//! | [`OtrState`] | Pidgin showed | meaning |
//! |---|---|---|
//! | `NotPrivate` | not private | messages travel in the clear |
//! | `Unverified` | unverified | encrypted; the peer's fingerprint is not verified |
//! | `Private` | private | encrypted and verified (by the user, or by SMP) |
//! | `Finished` | finished | the peer ended the conversation; nothing is sent until the user ends or restarts it |
//!
//! A fingerprint that differs from the one the trust store remembered raises
//! [`Event::FingerprintChanged`] and clears "verified". The engine keeps no store itself: the
//! driver hands it what it knows ([`Session::set_known_peer`]) and persists what the events say
//! ([`TrustStore`]).
//!
//! ## Interoperability
//!
//! Tested against libotr 4.1 (protocol 3 and 2, through a C harness) and python-potr 1.0.2
//! (protocol 2): the AKE in both directions, key rotation over many messages, fragments, SMP
//! with and without a question, the extra symmetric key, ending a conversation. DSA signatures
//! follow libotr: the 32-byte MAC is signed as one integer taken modulo q.
//!
//! ## Security notes
//!
//! * MODP arithmetic (AKE, ratchet, SMP) uses `crypto-bigint` residues in constant time;
//!   MACs and SMP proof values are compared in constant time.
//! * DSA signing and verification use the RustCrypto `dsa` crate (deterministic RFC 6979
//!   nonces). Its big-integer arithmetic (`num-bigint-dig`) is not constant time.
//! * Session keys, D-H exponents, SMP secrets and decrypted buffers are zeroized.
//!
//! [`Session`] is one conversation with one peer. It is driven like every sotto engine: feed it
//! what arrives from the network and what the user does, then drain [`Session::poll_output`].
//! Time comes in as `now`, randomness as `&mut dyn Random`.
//!
//! ```
//! use sotto_otr::{Config, InstanceTag, LongTermKey, Output, Session, OtrState};
//! use sotto_proto::crypto::OsRandom;
//! use std::{sync::Arc, time::Instant};
//!
//! let mut rng = OsRandom;
//! let alice_key = Arc::new(LongTermKey::generate(&mut rng));
//! let bob_key = Arc::new(LongTermKey::generate(&mut rng));
//! let mut alice = Session::new(Config::default(), alice_key, InstanceTag::random(&mut rng));
//! let mut bob = Session::new(Config::default(), bob_key, InstanceTag::random(&mut rng));
//! let now = Instant::now();
//! alice.start();
//! // Shuttle network messages until both sides are quiet.
//! loop {
//!     let mut moved = false;
//!     while let Some(out) = alice.poll_output() {
//!         if let Output::SendToNetwork(text) = out {
//!             bob.handle_incoming(now, &text, &mut rng).ok();
//!             moved = true;
//!         }
//!     }
//!     while let Some(out) = bob.poll_output() {
//!         if let Output::SendToNetwork(text) = out {
//!             alice.handle_incoming(now, &text, &mut rng).ok();
//!             moved = true;
//!         }
//!     }
//!     if !moved { break; }
//! }
//! assert_eq!(alice.state(), OtrState::Unverified);
//! assert_eq!(bob.state(), OtrState::Unverified);
//! ```

mod group;
mod keys;
mod session;
mod smp;
pub mod text;
pub mod wire;

pub use keys::{Fingerprint, LongTermKey, PublicKey};
pub use session::{
    Config, Event, HEARTBEAT_INTERVAL, InstanceTag, KnownPeer, OtrState, Output, Session,
    SmpOutcome, TrustStore,
};

use sotto_proto::WireError;
use thiserror::Error;

/// Errors of the OTR engine, split by fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OtrError {
    /// The peer's bytes do not parse as an OTR message.
    #[error("malformed OTR message: {0}")]
    Malformed(&'static str),
    /// The message parsed but the peer broke the protocol (bad value, wrong state).
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(&'static str),
    /// The caller asked for something impossible in the current state.
    #[error("not possible now: {0}")]
    Misuse(&'static str),
    /// A MAC, signature or decryption check failed.
    #[error("cryptographic check failed")]
    Crypto,
}

impl From<WireError> for OtrError {
    fn from(_: WireError) -> Self {
        Self::Malformed("truncated or overlong field")
    }
}
