//! # sotto-srtp — SRTP and SRTCP (RFC 3711, 6188, 7714)
//!
//! Owns the SRTP/SRTCP cryptographic contexts: key derivation (RFC 3711 §4.3), AES-CM with
//! HMAC-SHA1 (RFC 3711, RFC 6188 for 256-bit keys), AEAD AES-GCM (RFC 7714), rollover counter
//! estimation, the replay window, protect/unprotect in caller-owned buffers. Sans-IO.
