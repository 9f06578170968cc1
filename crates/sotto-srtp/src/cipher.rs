//! The per-context cryptographic transforms with pre-expanded keys (the hot path).
//!
//! AES-CM + HMAC-SHA1 (RFC 3711 §4.1.1, §4.2.1) and AES-GCM (RFC 7714). The primitives are used
//! directly here rather than through `sotto_proto`'s boxed provider traits: the AES key schedule
//! is expanded once per context, the HMAC inner and outer SHA-1 states are computed once (a
//! per-packet clone of `Hmac<Sha1>` copies them on the stack), and nothing is allocated per
//! packet. AES-CM and HMAC-SHA1 are RustCrypto's (`aes` uses AES-NI, `sha1` SHA-NI). AES-GCM is
//! ring's with the default feature `ring` (BoringSSL's VAES/VPCLMULQDQ AVX2 code, else AES-NI +
//! PCLMULQDQ, chosen at run time), RustCrypto's `aes-gcm` without it.

use crate::hmac_sha1::HmacSha1;
use aes::{Aes128, Aes256};
use cipher::{InnerIvInit, KeyInit, StreamCipher};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kdf::{Label, derive};
use crate::profile::Profile;

/// AES-CTR (128-bit big-endian counter) over a borrowed, already expanded key.
type CtrRef<'a, C> = cipher::StreamCipherCoreWrapper<ctr::CtrCore<&'a C, ctr::flavors::Ctr128BE>>;

/// An expanded AES key used in counter mode.
#[allow(
    clippy::large_enum_variant,
    reason = "built once per context; inline keys save an indirection per packet"
)]
pub(crate) enum CtrKey {
    A128(Aes128),
    A256(Aes256),
}

impl CtrKey {
    pub(crate) fn new(key: &[u8]) -> Result<Self> {
        match key.len() {
            16 => Aes128::new_from_slice(key).map(Self::A128),
            32 => Aes256::new_from_slice(key).map(Self::A256),
            _ => return Err(Error::InvalidKey("AES key must be 16 or 32 octets")),
        }
        .map_err(|_| Error::InvalidKey("AES key"))
    }

    /// XORs the AES-CM keystream starting at counter block `iv` into `data`.
    #[inline]
    pub(crate) fn apply(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            Self::A128(k) => {
                CtrRef::<Aes128>::from_core(ctr::CtrCore::inner_iv_init(k, iv.into()))
                    .apply_keystream(data);
            }
            Self::A256(k) => {
                CtrRef::<Aes256>::from_core(ctr::CtrCore::inner_iv_init(k, iv.into()))
                    .apply_keystream(data);
            }
        }
    }
}

/// `k_s * 2^16` as a 128-bit integer (the salt in the top 112 bits).
#[inline]
fn shifted_salt(salt: &[u8; 14]) -> u128 {
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(salt) {
        *d = *s;
    }
    u128::from_be_bytes(b)
}

/// AES-CM IV (RFC 3711 §4.1.1): `(k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)`.
#[cfg(test)]
pub(crate) fn srtp_cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    cm_iv(shifted_salt(salt), ssrc, index)
}

#[inline]
fn cm_iv(shifted_salt: u128, ssrc: u32, index: u64) -> [u8; 16] {
    let index = u128::from(index & 0xFFFF_FFFF_FFFF);
    (shifted_salt ^ (u128::from(ssrc) << 64) ^ (index << 16)).to_be_bytes()
}

/// AES-GCM IV for SRTP (RFC 7714 §8.1): `(00 00 || SSRC || ROC || SEQ) XOR salt`.
#[inline]
pub(crate) fn srtp_gcm_iv(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = *salt;
    let s = ssrc.to_be_bytes();
    let i = index.to_be_bytes(); // ROC || SEQ are the low 48 bits
    for (d, x) in iv.iter_mut().skip(2).zip(s) {
        *d ^= x;
    }
    for (d, x) in iv.iter_mut().skip(6).zip(i.iter().skip(2)) {
        *d ^= *x;
    }
    iv
}

/// AES-GCM IV for SRTCP (RFC 7714 §9.1): `(00 00 || SSRC || 00 00 || 0 || index) XOR salt`.
#[inline]
pub(crate) fn srtcp_gcm_iv(salt: &[u8; 12], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = *salt;
    let s = ssrc.to_be_bytes();
    let i = (index & 0x7FFF_FFFF).to_be_bytes();
    for (d, x) in iv.iter_mut().skip(2).zip(s) {
        *d ^= x;
    }
    for (d, x) in iv.iter_mut().skip(8).zip(i) {
        *d ^= x;
    }
    iv
}

/// AES-CM + HMAC-SHA1 session keys for one of SRTP or SRTCP.
pub(crate) struct CmKeys {
    ctr: CtrKey,
    /// The session salt, already multiplied by 2^16.
    salt: Zeroizing<u128>,
    mac: HmacSha1,
}

impl CmKeys {
    #[inline]
    pub(crate) fn keystream(&self, iv_ssrc: u32, index: u64, data: &mut [u8]) {
        // (The counter block also lives, unzeroized, inside `ctr` while it runs: zeroizing our
        // copy would buy nothing.)
        self.ctr.apply(&cm_iv(*self.salt, iv_ssrc, index), data);
    }

    /// HMAC-SHA1 of `data` (full 20 octets; callers truncate).
    #[inline]
    pub(crate) fn mac(&self, data: &[u8]) -> [u8; 20] {
        self.mac.mac(data)
    }
}

/// The expanded AES-GCM key: ring's (AES key schedule and GHASH key table, built once per
/// context) with the default feature `ring`, RustCrypto's `aes-gcm` without it.
#[cfg(feature = "ring")]
pub(crate) struct GcmCipher(ring::aead::LessSafeKey);

/// The expanded AES-GCM key: ring's (AES key schedule and GHASH key table, built once per
/// context) with the default feature `ring`, RustCrypto's `aes-gcm` without it.
#[cfg(not(feature = "ring"))]
pub(crate) enum GcmCipher {
    A128(Box<aes_gcm::Aes128Gcm>),
    A256(Box<aes_gcm::Aes256Gcm>),
}

#[cfg(feature = "ring")]
impl GcmCipher {
    fn new(enc: &[u8]) -> Result<Self> {
        let alg = match enc.len() {
            16 => &ring::aead::AES_128_GCM,
            32 => &ring::aead::AES_256_GCM,
            _ => return Err(Error::InvalidKey("AES-GCM key must be 16 or 32 octets")),
        };
        let key =
            ring::aead::UnboundKey::new(alg, enc).map_err(|_| Error::InvalidKey("AES-GCM key"))?;
        Ok(Self(ring::aead::LessSafeKey::new(key)))
    }

    #[inline]
    fn seal(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &mut [u8]) {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*iv);
        // Sealing only fails for inputs over 2^36 octets, which a datagram cannot reach.
        if let Ok(t) = self
            .0
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), data)
        {
            copy_prefix(t.as_ref(), tag);
        }
    }

    /// ring decrypts and authenticates in one pass; on a tag mismatch it zeroes `data`.
    #[inline]
    fn open(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        let Ok(tag) = ring::aead::Tag::try_from(tag) else {
            return false;
        };
        let nonce = ring::aead::Nonce::assume_unique_for_key(*iv);
        self.0
            .open_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), tag, data, 0..)
            .is_ok()
    }
}

#[cfg(not(feature = "ring"))]
impl GcmCipher {
    fn new(enc: &[u8]) -> Result<Self> {
        use aes_gcm::{Aes128Gcm, Aes256Gcm};
        Ok(match enc.len() {
            16 => Self::A128(Box::new(
                Aes128Gcm::new_from_slice(enc).map_err(|_| Error::InvalidKey("AES-GCM key"))?,
            )),
            32 => Self::A256(Box::new(
                Aes256Gcm::new_from_slice(enc).map_err(|_| Error::InvalidKey("AES-GCM key"))?,
            )),
            _ => return Err(Error::InvalidKey("AES-GCM key must be 16 or 32 octets")),
        })
    }

    #[inline]
    fn seal(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &mut [u8]) {
        use aes_gcm::AeadInPlace;
        let nonce = aes_gcm::Nonce::from_slice(iv);
        let t = match self {
            Self::A128(c) => c.encrypt_in_place_detached(nonce, aad, data),
            Self::A256(c) => c.encrypt_in_place_detached(nonce, aad, data),
        };
        // Encryption only fails for inputs over 2^36 octets, which a datagram cannot reach.
        if let Ok(t) = t {
            copy_prefix(&t, tag);
        }
    }

    /// `aes-gcm` checks the tag and only then decrypts.
    #[inline]
    fn open(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        use aes_gcm::AeadInPlace;
        if tag.len() != 16 {
            return false;
        }
        let nonce = aes_gcm::Nonce::from_slice(iv);
        let tag = aes_gcm::Tag::from_slice(tag);
        match self {
            Self::A128(c) => c.decrypt_in_place_detached(nonce, aad, data, tag).is_ok(),
            Self::A256(c) => c.decrypt_in_place_detached(nonce, aad, data, tag).is_ok(),
        }
    }
}

/// Copies `min(src.len(), dst.len())` octets (one `memcpy`, not a byte loop).
#[inline]
fn copy_prefix(src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
}

/// AES-GCM session keys for one of SRTP or SRTCP.
pub(crate) struct GcmKeys {
    aead: GcmCipher,
    pub(crate) salt: Zeroizing<[u8; 12]>,
}

impl GcmKeys {
    /// Encrypts `data` in place and writes the 16-octet tag into `tag`.
    #[inline]
    pub(crate) fn seal(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &mut [u8]) {
        self.aead.seal(iv, aad, data, tag);
    }

    /// Authenticates and decrypts `data` in place; `false` (and `data` not the plaintext) if
    /// the tag does not match.
    #[inline]
    pub(crate) fn open(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        self.aead.open(iv, aad, data, tag)
    }
}

/// The session transform of one direction-independent stream kind (SRTP or SRTCP).
#[allow(
    clippy::large_enum_variant,
    reason = "built once per context; inline keys save an indirection per packet"
)]
pub(crate) enum Transform {
    Cm(CmKeys),
    Gcm(GcmKeys),
}

impl Transform {
    /// Derives the SRTP (`rtcp == false`) or SRTCP session keys for `r = index DIV kdr`.
    pub(crate) fn derive(
        profile: Profile,
        master_key: &[u8],
        master_salt: &[u8],
        rtcp: bool,
        r: u64,
    ) -> Result<Self> {
        if master_key.len() != profile.key_len() {
            return Err(Error::InvalidKey(
                "master key length does not match the profile",
            ));
        }
        if master_salt.len() != profile.salt_len() {
            return Err(Error::InvalidKey(
                "master salt length does not match the profile",
            ));
        }
        let (le, la, ls) = if rtcp {
            (
                Label::RtcpEncryption,
                Label::RtcpAuthentication,
                Label::RtcpSalt,
            )
        } else {
            (
                Label::RtpEncryption,
                Label::RtpAuthentication,
                Label::RtpSalt,
            )
        };
        let mut enc = Zeroizing::new([0u8; 32]);
        let enc = enc
            .get_mut(..profile.key_len())
            .ok_or(Error::InvalidKey("key length"))?;
        derive(master_key, master_salt, le, r, enc)?;
        if profile.is_aead() {
            let mut salt = Zeroizing::new([0u8; 12]);
            derive(master_key, master_salt, ls, r, salt.as_mut_slice())?;
            Ok(Self::Gcm(GcmKeys::new(enc, salt)?))
        } else {
            let mut salt = Zeroizing::new([0u8; 14]);
            derive(master_key, master_salt, ls, r, salt.as_mut_slice())?;
            let mut auth = Zeroizing::new([0u8; 20]);
            derive(master_key, master_salt, la, r, auth.as_mut_slice())?;
            Ok(Self::Cm(CmKeys::new(enc, salt, auth.as_slice())?))
        }
    }
}

impl CmKeys {
    pub(crate) fn new(enc: &[u8], salt: Zeroizing<[u8; 14]>, auth: &[u8]) -> Result<Self> {
        Ok(Self {
            ctr: CtrKey::new(enc)?,
            salt: Zeroizing::new(shifted_salt(&salt)),
            mac: HmacSha1::new(auth),
        })
    }
}

impl GcmKeys {
    pub(crate) fn new(enc: &[u8], salt: Zeroizing<[u8; 12]>) -> Result<Self> {
        Ok(Self {
            aead: GcmCipher::new(enc)?,
            salt,
        })
    }
}
