//! The default provider on RustCrypto and dalek.

use super::{
    AesGcmKey, AesKey, CryptoError, CryptoProvider, Digest, HashAlg, HashContext, HmacKey,
    KeyAgreementAlg, KeyExchange, Random,
};
use crate::{SecretArray, SecretBytes};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cipher::{AsyncStreamCipher, BlockEncrypt, InnerIvInit, KeyInit, StreamCipher};
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U2048, U3072};
use hmac::{Hmac, Mac};
use sha2::Digest as _;
use zeroize::Zeroize;

/// The default [`CryptoProvider`]: RustCrypto for hashes, HMAC, AES and NIST curves,
/// `crypto-bigint` (constant-time Montgomery exponentiation) for finite-field DH,
/// `x25519-dalek` and `x448` for the Montgomery curves.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoProvider;

/// Randomness from the operating system (`getrandom`). The one place OS randomness enters sotto;
/// drivers create it and hand it to the sans-IO engines.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the single documented entry point for OS randomness"
    )]
    #[allow(
        clippy::panic,
        reason = "without working OS randomness no key can be made; continuing would be unsafe"
    )]
    fn fill(&mut self, buf: &mut [u8]) {
        if getrandom::getrandom(buf).is_err() {
            panic!("the operating system's random number generator failed");
        }
    }
}

enum HashState {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
}

impl HashContext for HashState {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
        }
    }

    fn finish(self: Box<Self>) -> Digest {
        match *self {
            Self::Sha1(h) => Digest::from_slice(&h.finalize()),
            Self::Sha256(h) => Digest::from_slice(&h.finalize()),
            Self::Sha384(h) => Digest::from_slice(&h.finalize()),
        }
    }
}

#[derive(Clone)]
enum HmacState {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
}

fn run_mac<M: Mac + Clone>(keyed: &M, parts: &[&[u8]]) -> Digest {
    let mut m = keyed.clone();
    for p in parts {
        m.update(p);
    }
    Digest::from_slice(&m.finalize().into_bytes())
}

impl HmacKey for HmacState {
    fn alg(&self) -> HashAlg {
        match self {
            Self::Sha1(_) => HashAlg::Sha1,
            Self::Sha256(_) => HashAlg::Sha256,
            Self::Sha384(_) => HashAlg::Sha384,
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Digest {
        match self {
            Self::Sha1(m) => run_mac(m, parts),
            Self::Sha256(m) => run_mac(m, parts),
            Self::Sha384(m) => run_mac(m, parts),
        }
    }
}

#[derive(Clone)]
enum AesState {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

fn ctr_with<C>(c: &C, iv: &[u8; 16], data: &mut [u8])
where
    C: BlockEncrypt
        + cipher::BlockCipher
        + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>
        + Clone,
{
    let core = ctr::CtrCore::<C, ctr::flavors::Ctr128BE>::inner_iv_init(c.clone(), iv.into());
    let mut ctr = cipher::StreamCipherCoreWrapper::from_core(core);
    ctr.apply_keystream(data);
}

fn cfb_enc<C>(c: &C, iv: &[u8; 16], data: &mut [u8])
where
    C: BlockEncrypt
        + cipher::BlockCipher
        + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>
        + Clone,
{
    cfb_mode::Encryptor::<C>::inner_iv_init(c.clone(), iv.into()).encrypt(data);
}

fn cfb_dec<C>(c: &C, iv: &[u8; 16], data: &mut [u8])
where
    C: BlockEncrypt
        + cipher::BlockCipher
        + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>
        + Clone,
{
    cfb_mode::Decryptor::<C>::inner_iv_init(c.clone(), iv.into()).decrypt(data);
}

impl AesKey for AesState {
    fn key_len(&self) -> usize {
        match self {
            Self::A128(_) => 16,
            Self::A192(_) => 24,
            Self::A256(_) => 32,
        }
    }

    fn encrypt_block(&self, block: &mut [u8; 16]) {
        let b = block.into();
        match self {
            Self::A128(c) => c.encrypt_block(b),
            Self::A192(c) => c.encrypt_block(b),
            Self::A256(c) => c.encrypt_block(b),
        }
    }

    fn ctr_apply(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            Self::A128(c) => ctr_with(c, iv, data),
            Self::A192(c) => ctr_with(c, iv, data),
            Self::A256(c) => ctr_with(c, iv, data),
        }
    }

    fn cfb_encrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            Self::A128(c) => cfb_enc(c, iv, data),
            Self::A192(c) => cfb_enc(c, iv, data),
            Self::A256(c) => cfb_enc(c, iv, data),
        }
    }

    fn cfb_decrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            Self::A128(c) => cfb_dec(c, iv, data),
            Self::A192(c) => cfb_dec(c, iv, data),
            Self::A256(c) => cfb_dec(c, iv, data),
        }
    }
}

enum GcmState {
    G128(Box<Aes128Gcm>),
    G256(Box<Aes256Gcm>),
}

impl AesGcmKey for GcmState {
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> Result<[u8; 16], CryptoError> {
        let tag = match self {
            Self::G128(c) => c.encrypt_in_place_detached(nonce.into(), aad, data),
            Self::G256(c) => c.encrypt_in_place_detached(nonce.into(), aad, data),
        }
        .map_err(|_| CryptoError::BadLength)?;
        Ok(tag.into())
    }

    fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        match self {
            Self::G128(c) => c.decrypt_in_place_detached(nonce.into(), aad, data, tag.into()),
            Self::G256(c) => c.decrypt_in_place_detached(nonce.into(), aad, data, tag.into()),
        }
        .map_err(|_| CryptoError::AuthenticationFailed)
    }
}

impl CryptoProvider for RustCryptoProvider {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn hash(&self, alg: HashAlg) -> Box<dyn HashContext> {
        Box::new(match alg {
            HashAlg::Sha1 => HashState::Sha1(sha1::Sha1::new()),
            HashAlg::Sha256 => HashState::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => HashState::Sha384(sha2::Sha384::new()),
        })
    }

    fn hmac_key(&self, alg: HashAlg, key: &[u8]) -> Box<dyn HmacKey> {
        // HMAC accepts keys of any length (RFC 2104 §2), so these constructors cannot fail;
        // the fallback to an empty key is unreachable but keeps this path panic-free.
        Box::new(match alg {
            HashAlg::Sha1 => HmacState::Sha1(
                <Hmac<sha1::Sha1> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| <Hmac<sha1::Sha1> as KeyInit>::new(&Default::default())),
            ),
            HashAlg::Sha256 => HmacState::Sha256(
                <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| <Hmac<sha2::Sha256> as KeyInit>::new(&Default::default())),
            ),
            HashAlg::Sha384 => HmacState::Sha384(
                <Hmac<sha2::Sha384> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| <Hmac<sha2::Sha384> as KeyInit>::new(&Default::default())),
            ),
        })
    }

    fn aes_key(&self, key: &[u8]) -> Result<Box<dyn AesKey>, CryptoError> {
        let bad = |_| CryptoError::BadLength;
        Ok(Box::new(match key.len() {
            16 => AesState::A128(Aes128::new_from_slice(key).map_err(bad)?),
            24 => AesState::A192(Aes192::new_from_slice(key).map_err(bad)?),
            32 => AesState::A256(Aes256::new_from_slice(key).map_err(bad)?),
            _ => return Err(CryptoError::BadLength),
        }))
    }

    fn aes_gcm_key(&self, key: &[u8]) -> Result<Box<dyn AesGcmKey>, CryptoError> {
        let bad = |_| CryptoError::BadLength;
        Ok(Box::new(match key.len() {
            16 => GcmState::G128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?)),
            32 => GcmState::G256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?)),
            _ => return Err(CryptoError::BadLength),
        }))
    }

    fn key_exchange(
        &self,
        alg: KeyAgreementAlg,
        rng: &mut dyn Random,
    ) -> Result<Box<dyn KeyExchange>, CryptoError> {
        Ok(match alg {
            KeyAgreementAlg::X25519 => {
                let mut sk = [0u8; 32];
                rng.fill(&mut sk);
                let secret = x25519_dalek::StaticSecret::from(sk);
                sk.zeroize();
                let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
                Box::new(X25519Kx { secret, public })
            }
            KeyAgreementAlg::X448 => {
                let mut secret = SecretArray::<56>::zeroed();
                rng.fill(secret.expose_mut());
                let public = x448::x448(*secret.expose(), x448::X448_BASEPOINT_BYTES)
                    .ok_or(CryptoError::Unsupported)?;
                Box::new(X448Kx { secret, public })
            }
            KeyAgreementAlg::P256 => Box::new(P256Kx::generate(rng)),
            KeyAgreementAlg::P384 => Box::new(P384Kx::generate(rng)),
            KeyAgreementAlg::Dh2048 => Box::new(DhKx::<32>::generate(rng)),
            KeyAgreementAlg::Dh3072 => Box::new(DhKx::<48>::generate(rng)),
        })
    }
}

struct X25519Kx {
    secret: x25519_dalek::StaticSecret,
    public: [u8; 32],
}

impl KeyExchange for X25519Kx {
    fn alg(&self) -> KeyAgreementAlg {
        KeyAgreementAlg::X25519
    }
    fn public_key(&self) -> &[u8] {
        &self.public
    }
    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let peer: [u8; 32] = peer_public
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicValue)?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // RFC 7748 §6.1: reject the all-zero output of a small-order point.
        if !shared.was_contributory() {
            return Err(CryptoError::InvalidPublicValue);
        }
        Ok(SecretBytes::from_slice(shared.as_bytes()))
    }
}

struct X448Kx {
    secret: SecretArray<56>,
    public: [u8; 56],
}

impl KeyExchange for X448Kx {
    fn alg(&self) -> KeyAgreementAlg {
        KeyAgreementAlg::X448
    }
    fn public_key(&self) -> &[u8] {
        &self.public
    }
    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let peer: [u8; 56] = peer_public
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicValue)?;
        // `x448` rejects low-order points; also reject an all-zero result (RFC 7748 §6.2).
        let mut shared =
            x448::x448(*self.secret.expose(), peer).ok_or(CryptoError::InvalidPublicValue)?;
        let out = SecretBytes::from_slice(&shared);
        let zero = shared.iter().all(|&b| b == 0);
        shared.zeroize();
        if zero {
            return Err(CryptoError::InvalidPublicValue);
        }
        Ok(out)
    }
}

macro_rules! nist_kx {
    ($name:ident, $curve:ident, $alg:expr, $flen:expr) => {
        struct $name {
            secret: $curve::SecretKey,
            public: [u8; 2 * $flen],
        }

        impl $name {
            fn generate(rng: &mut dyn Random) -> Self {
                // Rejection sampling: a uniformly random scalar in [1, n).
                let mut bytes = [0u8; $flen];
                let secret = loop {
                    rng.fill(&mut bytes);
                    if let Ok(sk) = $curve::SecretKey::from_slice(&bytes) {
                        break sk;
                    }
                };
                bytes.zeroize();
                let point = secret.public_key().to_encoded_point(false);
                let mut public = [0u8; 2 * $flen];
                // Uncompressed SEC1 is 0x04 ‖ x ‖ y; ZRTP sends x ‖ y.
                for (d, s) in public.iter_mut().zip(point.as_bytes().iter().skip(1)) {
                    *d = *s;
                }
                Self { secret, public }
            }
        }

        impl KeyExchange for $name {
            fn alg(&self) -> KeyAgreementAlg {
                $alg
            }
            fn public_key(&self) -> &[u8] {
                &self.public
            }
            fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
                use $curve::elliptic_curve::sec1::ToEncodedPoint as _;
                if peer_public.len() != 2 * $flen {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let mut sec1 = Vec::with_capacity(1 + 2 * $flen);
                sec1.push(4u8);
                sec1.extend_from_slice(peer_public);
                // from_sec1_bytes checks the point is on the curve and not the identity.
                let peer = $curve::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared =
                    $curve::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
                let _ = peer.to_encoded_point(false);
                Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
            }
        }
    };
}

use p256::elliptic_curve::sec1::ToEncodedPoint as _;
nist_kx!(P256Kx, p256, KeyAgreementAlg::P256, 32);
nist_kx!(P384Kx, p384, KeyAgreementAlg::P384, 48);

/// Finite-field DH over the RFC 3526 groups with generator 2. `LIMBS_BYTES` selects the group:
/// 32 → 2048-bit (the exponent is 256 bits), 48 → 3072-bit (also 256 bits: RFC 6189 §5.1.5).
struct DhKx<const GROUP: usize> {
    exponent: SecretArray<32>,
    public: Vec<u8>,
}

const DH_EXPONENT_BITS: usize = 256;

fn modp_2048() -> U2048 {
    U2048::from_be_hex(super::MODP_2048_P)
}

fn modp_3072() -> U3072 {
    U3072::from_be_hex(super::MODP_3072_P)
}

macro_rules! dh_group {
    ($uint:ty, $prime:expr, $exp:expr, $base:expr) => {{
        let p: $uint = $prime;
        let params = DynResidueParams::new(&p);
        let mut e_bytes = [0u8; <$uint>::BYTES];
        let tail = e_bytes.len() - 32;
        for (d, s) in e_bytes.iter_mut().skip(tail).zip($exp.iter()) {
            *d = *s;
        }
        let e = <$uint>::from_be_slice(&e_bytes);
        e_bytes.zeroize();
        let r = DynResidue::new(&$base, params)
            .pow_bounded_exp(&e, DH_EXPONENT_BITS)
            .retrieve();
        (p, r)
    }};
}

impl<const GROUP: usize> DhKx<GROUP> {
    fn generate(rng: &mut dyn Random) -> Self {
        let mut exponent = SecretArray::<32>::zeroed();
        // A zero exponent would give the public value 1; redraw on the (2^-256) chance.
        loop {
            rng.fill(exponent.expose_mut());
            if exponent.expose().iter().any(|&b| b != 0) {
                break;
            }
        }
        let public = if GROUP == 32 {
            let (_, r) = dh_group!(U2048, modp_2048(), exponent.expose(), U2048::from_u8(2));
            r.to_be_bytes().to_vec()
        } else {
            let (_, r) = dh_group!(U3072, modp_3072(), exponent.expose(), U3072::from_u8(2));
            r.to_be_bytes().to_vec()
        };
        Self { exponent, public }
    }
}

impl<const GROUP: usize> KeyExchange for DhKx<GROUP> {
    fn alg(&self) -> KeyAgreementAlg {
        if GROUP == 32 {
            KeyAgreementAlg::Dh2048
        } else {
            KeyAgreementAlg::Dh3072
        }
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        // RFC 6189 §4.4.1.1 / RFC 2631: the peer's value must lie in [2, p-2].
        macro_rules! agree_in {
            ($uint:ty, $prime:expr) => {{
                if peer_public.len() != <$uint>::BYTES {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let p: $uint = $prime;
                let y = <$uint>::from_be_slice(peer_public);
                let p_minus_1 = p.wrapping_sub(&<$uint>::ONE);
                if y <= <$uint>::ONE || y >= p_minus_1 {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let (_, r) = dh_group!($uint, p, self.exponent.expose(), y);
                let out = r.to_be_bytes();
                if r <= <$uint>::ONE || r == p_minus_1 {
                    return Err(CryptoError::InvalidPublicValue);
                }
                SecretBytes::from_slice(&out)
            }};
        }
        Ok(if GROUP == 32 {
            agree_in!(U2048, modp_2048())
        } else {
            agree_in!(U3072, modp_3072())
        })
    }
}
