//! The crypto provider: the small set of primitives sotto's protocol engines need, behind traits.
//!
//! The engines never name a crypto crate. They ask a [`CryptoProvider`] for a prepared key
//! object once per key (HMAC inner/outer state precomputed, AES key schedule expanded) and then
//! use it many times without allocating. The protocol math around the primitives — KDF labels,
//! IV construction, truncation — belongs to the protocol crates.
//!
//! [`default_provider`] is built on RustCrypto (`sha1`, `sha2`, `hmac`, `aes`, `ctr`,
//! `cfb-mode`, `aes-gcm`, `p256`, `p384`, `crypto-bigint`) and on `x25519-dalek` / `x448`:
//! pure Rust, widely used, audited in parts, and built with nothing but the Rust toolchain.
//!
//! Randomness is a [`Random`] value handed in by the caller: [`OsRandom`] in drivers,
//! a seeded generator in simulations.

mod rust_crypto;

use crate::SecretBytes;
use core::fmt;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use rust_crypto::{OsRandom, RustCryptoProvider};

/// A crypto operation failed. Deliberately carries no detail an attacker could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key, IV or public value had the wrong length.
    #[error("wrong key or value length")]
    BadLength,
    /// Authentication of a message or tag failed.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The peer's public value is invalid (not on the curve, 0, 1, p-1, small order, ...).
    #[error("invalid public value from peer")]
    InvalidPublicValue,
    /// The provider does not implement this algorithm.
    #[error("algorithm not supported by this crypto provider")]
    Unsupported,
}

/// Hash functions the protocols use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// SHA-1: only for SRTP's HMAC-SHA1 (RFC 3711) and OTR.
    Sha1,
    /// SHA-256 (ZRTP `S256`).
    Sha256,
    /// SHA-384 (ZRTP `S384`).
    Sha384,
}

impl HashAlg {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }
}

/// A hash or HMAC output, up to 48 bytes. Zeroized on drop because HMAC outputs are often keys
/// (KDF output); `Debug` therefore prints only the length.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Digest {
    bytes: [u8; 48],
    len: usize,
}

impl Digest {
    /// Builds a digest from up to 48 bytes (longer input is truncated to 48).
    pub fn from_slice(b: &[u8]) -> Self {
        let mut bytes = [0u8; 48];
        let len = b.len().min(48);
        for (d, s) in bytes.iter_mut().zip(b) {
            *d = *s;
        }
        Self { bytes, len }
    }

    /// The digest bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length digest (never produced by a provider).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves the bytes into a [`SecretBytes`].
    pub fn into_secret(self) -> SecretBytes {
        SecretBytes::from_slice(self.as_slice())
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({} bytes)", self.len)
    }
}

/// An incremental hash computation.
pub trait HashContext: Send {
    /// Feeds more data.
    fn update(&mut self, data: &[u8]);
    /// Finishes and returns the digest.
    fn finish(self: Box<Self>) -> Digest;
}

/// An HMAC key with its inner and outer states precomputed: `mac` costs no allocation and no key
/// schedule.
pub trait HmacKey: Send + Sync {
    /// The hash under this HMAC.
    fn alg(&self) -> HashAlg;
    /// HMAC over the concatenation of `parts`.
    fn mac(&self, parts: &[&[u8]]) -> Digest;
    /// HMAC over the concatenation of `parts`, truncated to `out.len()` bytes (at most the hash
    /// length; a longer `out` is filled only up to the hash length).
    fn mac_into(&self, parts: &[&[u8]], out: &mut [u8]) {
        let d = self.mac(parts);
        for (o, s) in out.iter_mut().zip(d.as_slice()) {
            *o = *s;
        }
    }
    /// Checks a (possibly truncated) tag in constant time.
    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), CryptoError> {
        use subtle::ConstantTimeEq;
        let d = self.mac(parts);
        let full = d.as_slice();
        match full.get(..tag.len()) {
            Some(expected) if !tag.is_empty() && bool::from(expected.ct_eq(tag)) => Ok(()),
            _ => Err(CryptoError::AuthenticationFailed),
        }
    }
}

/// An expanded AES key (128, 192 or 256 bits) with the modes sotto needs.
pub trait AesKey: Send + Sync {
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Encrypts one block in place (ECB; used for key derivation and counter-mode keystreams).
    fn encrypt_block(&self, block: &mut [u8; 16]);
    /// XORs `data` with the AES-CTR keystream starting at counter block `iv` (the whole 128-bit
    /// block increments big-endian, as RFC 3711 §4.1.1 and SP 800-38A describe).
    fn ctr_apply(&self, iv: &[u8; 16], data: &mut [u8]);
    /// AES-CFB-128 encryption in place (ZRTP Confirm messages, RFC 6189 §5.7).
    fn cfb_encrypt(&self, iv: &[u8; 16], data: &mut [u8]);
    /// AES-CFB-128 decryption in place.
    fn cfb_decrypt(&self, iv: &[u8; 16], data: &mut [u8]);
}

/// An expanded AES-GCM key (RFC 7714 SRTP AEAD).
pub trait AesGcmKey: Send + Sync {
    /// Encrypts `data` in place and returns the 16-byte tag.
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> Result<[u8; 16], CryptoError>;
    /// Checks `tag` and decrypts `data` in place; on failure `data` is left unchanged.
    fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError>;
}

/// Key agreement algorithms, named by group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAgreementAlg {
    /// Curve25519 (RFC 7748); ZRTP `X255` / `E255`.
    X25519,
    /// Curve448 (RFC 7748); ZRTP `X448`.
    X448,
    /// NIST P-256 ECDH; ZRTP `EC25`.
    P256,
    /// NIST P-384 ECDH; ZRTP `EC38`.
    P384,
    /// 2048-bit MODP group 14 (RFC 3526), generator 2; ZRTP `DH2k`.
    Dh2048,
    /// 3072-bit MODP group 15 (RFC 3526), generator 2; ZRTP `DH3k`.
    Dh3072,
}

impl KeyAgreementAlg {
    /// Length of a public value on the wire, as ZRTP carries it (RFC 6189 §5.1.5): the
    /// big-endian group element for DH, x‖y for the NIST curves, the u-coordinate for X25519/X448.
    pub const fn public_len(self) -> usize {
        match self {
            Self::X25519 => 32,
            Self::X448 => 56,
            Self::P256 => 64,
            Self::P384 => 96,
            Self::Dh2048 => 256,
            Self::Dh3072 => 384,
        }
    }

    /// Length of the shared secret (DHResult): the padded group element for DH, the
    /// x-coordinate for ECDH.
    pub const fn shared_len(self) -> usize {
        match self {
            Self::X25519 => 32,
            Self::X448 => 56,
            Self::P256 => 32,
            Self::P384 => 48,
            Self::Dh2048 => 256,
            Self::Dh3072 => 384,
        }
    }
}

/// One side of an ephemeral key agreement: holds the private value until [`KeyExchange::agree`].
pub trait KeyExchange: Send {
    /// The algorithm.
    fn alg(&self) -> KeyAgreementAlg;
    /// Our public value in the format of [`KeyAgreementAlg::public_len`].
    fn public_key(&self) -> &[u8];
    /// Computes the shared secret with the peer's public value, after validating it (on the
    /// curve; not 0, 1 or p-1; not of small order; result not all zero). Consumes the private
    /// value.
    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError>;
}

/// A source of random bytes, injected into every engine that needs one.
pub trait Random: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// What the protocol engines need from a crypto library.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// A short name for logs and diagnostics.
    fn name(&self) -> &'static str;
    /// Starts an incremental hash.
    fn hash(&self, alg: HashAlg) -> Box<dyn HashContext>;
    /// Prepares an HMAC key.
    fn hmac_key(&self, alg: HashAlg, key: &[u8]) -> Box<dyn HmacKey>;
    /// Expands an AES key (16, 24 or 32 bytes).
    fn aes_key(&self, key: &[u8]) -> Result<Box<dyn AesKey>, CryptoError>;
    /// Expands an AES-GCM key (16 or 32 bytes).
    fn aes_gcm_key(&self, key: &[u8]) -> Result<Box<dyn AesGcmKey>, CryptoError>;
    /// Generates an ephemeral key pair with randomness from `rng`.
    fn key_exchange(
        &self,
        alg: KeyAgreementAlg,
        rng: &mut dyn Random,
    ) -> Result<Box<dyn KeyExchange>, CryptoError>;

    /// One-shot hash of the concatenation of `parts`.
    fn hash_parts(&self, alg: HashAlg, parts: &[&[u8]]) -> Digest {
        let mut h = self.hash(alg);
        for p in parts {
            h.update(p);
        }
        h.finish()
    }

    /// One-shot HMAC of the concatenation of `parts`.
    fn hmac(&self, alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Digest {
        self.hmac_key(alg, key).mac(parts)
    }
}

/// The provider sotto uses unless told otherwise.
pub fn default_provider() -> &'static dyn CryptoProvider {
    static PROVIDER: RustCryptoProvider = RustCryptoProvider;
    &PROVIDER
}

/// RFC 3526 group 14 (2048-bit MODP) prime, big-endian hex.
pub const MODP_2048_P: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";
/// RFC 3526 group 15 (3072-bit MODP) prime, big-endian hex.
pub const MODP_3072_P: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

#[cfg(test)]
mod tests;
