//! # sotto-srtp — SRTP and SRTCP (RFC 3711, 6188, 7714)
//!
//! Owns the SRTP/SRTCP cryptographic contexts: key derivation (RFC 3711 §4.3), AES-CM with
//! HMAC-SHA1 (RFC 3711, RFC 6188 for 256-bit keys), AEAD AES-GCM (RFC 7714), rollover counter
//! estimation, the replay window, protect/unprotect in caller-owned buffers. Sans-IO.
//!
//! One [`SrtpContext`] per master key and direction. It tracks any number of SSRCs (each with
//! its own ROC, SRTCP index and replay windows); what to do with an SSRC never seen before is
//! the [`UnknownSsrc`] policy. Protect and unprotect work in place in the caller's buffer:
//!
//! - [`SrtpContext::protect_rtp`]`(buf, len)` encrypts `buf[..len]` and appends the tag (and
//!   MKI) — `buf` must have [`SrtpContext::srtp_overhead`] spare octets.
//! - [`SrtpContext::unprotect_rtp`]`(buf)` checks replay, then the tag, then decrypts, and
//!   returns the RTP length. On any error the context is unchanged.
//!
//! The same pair exists for SRTCP. Errors say what happened ([`Error`], with [`Fault`]) but a
//! failed authentication carries no detail.
//!
//! Secrets: the AES-CM key schedules zeroize on drop (`aes` with `zeroize`); session salts and
//! derived key material are zeroized. Not zeroized: the precomputed HMAC-SHA1 pad states inside
//! the `hmac` crate's `Hmac<Sha1>` (it implements no zeroization), and the AES-GCM key state:
//! with the default feature `ring`, ring's `LessSafeKey` (AES key schedule and GHASH table) is
//! dropped without being wiped; without it, `aes-gcm` wipes the AES key schedule but not its
//! GHASH key. These live as long as the context.

mod cipher;
mod context;
mod error;
mod header;
mod hmac_sha1;
pub mod kdf;
mod profile;
mod replay;

pub use context::{Config, SrtpContext, UnknownSsrc};
pub use error::{Error, Fault, Result};
pub use header::{RtcpHeaderView, RtpHeaderView};
pub use profile::Profile;

#[cfg(test)]
mod vectors;
