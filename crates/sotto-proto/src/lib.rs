//! # sotto-proto — the shared vocabulary of sotto
//!
//! Every other sotto crate speaks in the types defined here:
//!
//! * [`Reader`] and [`Writer`]: the only way peer bytes are read and our bytes are written.
//!   A `Reader` cannot panic: every read is bounds-checked and returns [`WireError`], and
//!   [`Reader::finish`] turns leftover bytes into an error, so a parser that forgets a field fails
//!   loudly instead of silently accepting trailing garbage.
//! * Identifiers as newtypes: [`Ssrc`], [`Zid`], [`AlgoCode`] (ZRTP's four-character algorithm
//!   names, kept even when unknown).
//! * Secret types ([`SecretBytes`], [`SecretArray`]): zeroized on drop, `Debug` prints
//!   `<redacted>`, equality in constant time.
//! * The crypto provider traits in [`crypto`] that the protocol engines use (hash, HMAC,
//!   AES-CTR/CFB/GCM, key agreement, randomness), and [`crypto::default_provider`], built on
//!   RustCrypto and dalek. sotto writes no crypto primitive itself; the protocol math around the
//!   primitives (KDF labels, IVs, truncation) lives in the protocol crates.
//!
//! This crate is sans-IO: no sockets, no clock, no threads. The single exception is
//! [`crypto::OsRandom`], the one documented place where OS randomness enters; drivers hand it to
//! the engines, tests hand them a seeded source instead.
//!
//! ```
//! use sotto_proto::{Reader, Writer, WireError};
//!
//! let mut buf = Vec::new();
//! let mut w = Writer::new(&mut buf);
//! w.u16(0x505a);
//! w.bytes(b"ZRTP");
//! let mut r = Reader::new(&buf);
//! assert_eq!(r.u16()?, 0x505a);
//! assert_eq!(&r.take_array::<4>()?, b"ZRTP");
//! r.finish()?;
//! # Ok::<(), WireError>(())
//! ```

pub mod crypto;
mod ids;
mod reader;
mod secret;
mod writer;

pub use ids::{AlgoCode, Ssrc, Zid};
pub use reader::{Reader, WireError};
pub use secret::{SecretArray, SecretBytes};
pub use writer::{SliceWriter, Writer};
