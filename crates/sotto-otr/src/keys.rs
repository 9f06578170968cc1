//! DSA long-term keys (spec "Public keys, signatures, and fingerprints"), fingerprints, and
//! the small crypto helpers the engine needs (SHA-1, SHA-256, HMACs, AES-128-CTR) on top of
//! the sotto-proto provider.

use crate::OtrError;
use crate::wire::{put_mpi, read_mpi};
use core::fmt;
use dsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use dsa::{BigUint, Components, KeySize, SigningKey, VerifyingKey};
use sotto_proto::crypto::{HashAlg, Random, default_provider};
use sotto_proto::{Reader, SecretBytes};

/// Public key type 0x0000: DSA.
const PUBKEY_TYPE_DSA: u16 = 0;
/// Largest DSA p we accept from a peer, in bits (bounds the cost of a verification).
const MAX_P_BITS: usize = 3072;
/// DSA q must be 160 bits: OTR signatures are r and s as 20 bytes each.
const Q_BITS: usize = 160;

/// Adapter from the injected [`Random`] to `rand_core`, for the `dsa` crate's key generation.
pub(crate) struct RngAdapter<'a>(pub(crate) &'a mut dyn Random);

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for RngAdapter<'_> {}

/// The SHA-1 fingerprint of a long-term public key (spec: SHA-1 of the public key bytes,
/// without the 2-byte key type).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 20]);

impl Fingerprint {
    /// The 40 hex digits, upper case, in five groups of eight as Pidgin shows them.
    pub fn to_human(&self) -> String {
        let mut s = String::with_capacity(44);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push(' ');
            }
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_human())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_human())
    }
}

/// A peer's (or our) DSA public key.
#[derive(Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    encoded: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    fn from_verifying(key: VerifyingKey) -> Self {
        let c = key.components();
        let mut encoded = PUBKEY_TYPE_DSA.to_be_bytes().to_vec();
        for v in [c.p(), c.q(), c.g(), key.y()] {
            put_mpi(&mut encoded, &v.to_bytes_be());
        }
        Self { key, encoded }
    }

    /// The PUBKEY encoding: type 0x0000, then MPIs p, q, g, y.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        let d = sha1(&[self.encoded.get(2..).unwrap_or_default()]);
        Fingerprint(d)
    }

    /// Read a PUBKEY from `r`.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, OtrError> {
        let typ = r.u16()?;
        if typ != PUBKEY_TYPE_DSA {
            return Err(OtrError::PeerMisbehaved("unsupported public key type"));
        }
        let p = BigUint::from_bytes_be(read_mpi(r)?);
        let q = BigUint::from_bytes_be(read_mpi(r)?);
        let g = BigUint::from_bytes_be(read_mpi(r)?);
        let y = BigUint::from_bytes_be(read_mpi(r)?);
        if p.bits() > MAX_P_BITS || q.bits() > Q_BITS || p.bits() < 512 || q.bits() < 128 {
            return Err(OtrError::PeerMisbehaved("DSA key size not supported"));
        }
        if g >= p || y >= p {
            return Err(OtrError::PeerMisbehaved("invalid DSA key"));
        }
        let comps = Components::from_components(p, q, g)
            .map_err(|_| OtrError::PeerMisbehaved("invalid DSA key"))?;
        let key = VerifyingKey::from_components(comps, y)
            .map_err(|_| OtrError::PeerMisbehaved("invalid DSA key"))?;
        Ok(Self::from_verifying(key))
    }

    /// Verify an OTR DSA signature (r || s, 20 bytes each) over the 32-byte value `m`.
    pub(crate) fn verify(&self, m: &[u8; 32], sig: &[u8]) -> Result<(), OtrError> {
        if sig.len() != 2 * (Q_BITS / 8) {
            return Err(OtrError::Crypto);
        }
        let (r, s) = sig.split_at(Q_BITS / 8);
        let signature =
            dsa::Signature::from_components(BigUint::from_bytes_be(r), BigUint::from_bytes_be(s))
                .map_err(|_| OtrError::Crypto)?;
        let h = reduce_mod_q(m, self.key.components().q());
        self.key
            .verify_prehash(&h, &signature)
            .map_err(|_| OtrError::Crypto)
    }
}

/// OTR signs the 256-bit MAC value as one integer taken modulo q (libotr hands the whole
/// 32-byte value to libgcrypt as a plain MPI; python-potr does the same with pycrypto), not the
/// FIPS 186 leftmost-bits truncation. The `dsa` crate truncates a prehash to q's byte length, so
/// we give it `m mod q` as exactly 20 bytes, which it then uses unchanged.
fn reduce_mod_q(m: &[u8; 32], q: &BigUint) -> Vec<u8> {
    let h = BigUint::from_bytes_be(m) % q;
    let bytes = h.to_bytes_be();
    let n = q.bits().div_ceil(8);
    let mut out = vec![0u8; n.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// Our long-term DSA key pair.
pub struct LongTermKey {
    signing: SigningKey,
    public: PublicKey,
}

impl fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LongTermKey({})", self.public.fingerprint())
    }
}

impl LongTermKey {
    /// Generate a new 1024-bit / 160-bit DSA key (as libotr does). Takes a second or so.
    pub fn generate(rng: &mut dyn Random) -> Self {
        let mut a = RngAdapter(rng);
        #[allow(
            deprecated,
            reason = "OTR v2/v3 peers (libotr, python-potr) use 1024/160 DSA keys; the spec fixes it"
        )]
        let comps = Components::generate(&mut a, KeySize::DSA_1024_160);
        let signing = SigningKey::generate(&mut a, comps);
        Self::from_signing(signing)
    }

    fn from_signing(signing: SigningKey) -> Self {
        let public = PublicKey::from_verifying(signing.verifying_key().clone());
        Self { signing, public }
    }

    /// Rebuild a key from its numbers (big-endian p, q, g, y, x), e.g. as stored by sotto-store.
    pub fn from_parts(p: &[u8], q: &[u8], g: &[u8], y: &[u8], x: &[u8]) -> Result<Self, OtrError> {
        let comps = Components::from_components(
            BigUint::from_bytes_be(p),
            BigUint::from_bytes_be(q),
            BigUint::from_bytes_be(g),
        )
        .map_err(|_| OtrError::Misuse("invalid DSA key"))?;
        let vk = VerifyingKey::from_components(comps, BigUint::from_bytes_be(y))
            .map_err(|_| OtrError::Misuse("invalid DSA key"))?;
        let sk = SigningKey::from_components(vk, BigUint::from_bytes_be(x))
            .map_err(|_| OtrError::Misuse("invalid DSA key"))?;
        Self::check_q(sk)
    }

    fn check_q(sk: SigningKey) -> Result<Self, OtrError> {
        if sk.verifying_key().components().q().bits() > Q_BITS {
            return Err(OtrError::Misuse("DSA q must be at most 160 bits"));
        }
        Ok(Self::from_signing(sk))
    }

    /// The numbers of this key, big-endian: the public (p, q, g, y) and the secret x.
    pub fn to_parts(&self) -> ([Vec<u8>; 4], SecretBytes) {
        let vk = self.signing.verifying_key();
        let c = vk.components();
        (
            [
                c.p().to_bytes_be(),
                c.q().to_bytes_be(),
                c.g().to_bytes_be(),
                vk.y().to_bytes_be(),
            ],
            SecretBytes::new(self.signing.x().to_bytes_be()),
        )
    }

    /// Our public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Our fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint()
    }

    /// Sign the 32-byte value `m`: r || s, 20 bytes each.
    pub(crate) fn sign(&self, m: &[u8; 32]) -> Result<Vec<u8>, OtrError> {
        let h = reduce_mod_q(m, self.signing.verifying_key().components().q());
        let sig: dsa::Signature = self
            .signing
            .sign_prehash(&h)
            .map_err(|_| OtrError::Crypto)?;
        let mut out = Vec::with_capacity(40);
        for v in [sig.r(), sig.s()] {
            let b = v.to_bytes_be();
            out.extend(core::iter::repeat_n(
                0u8,
                (Q_BITS / 8).saturating_sub(b.len()),
            ));
            out.extend_from_slice(&b);
        }
        Ok(out)
    }
}

/// SHA-1 over concatenated parts.
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let d = default_provider().hash_parts(HashAlg::Sha1, parts);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_slice().get(..20).unwrap_or(&[0u8; 20]));
    out
}

/// SHA-256 over concatenated parts.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let d = default_provider().hash_parts(HashAlg::Sha256, parts);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_slice().get(..32).unwrap_or(&[0u8; 32]));
    out
}

/// HMAC-SHA256 over concatenated parts.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let d = default_provider().hmac(HashAlg::Sha256, key, parts);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_slice().get(..32).unwrap_or(&[0u8; 32]));
    out
}

/// HMAC-SHA1 over concatenated parts.
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let d = default_provider().hmac(HashAlg::Sha1, key, parts);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_slice().get(..20).unwrap_or(&[0u8; 20]));
    out
}

/// AES-128-CTR in place with the 16-byte initial counter block `iv`.
pub(crate) fn aes128_ctr(key: &[u8], iv: &[u8; 16], data: &mut [u8]) -> Result<(), OtrError> {
    let k = default_provider()
        .aes_key(key)
        .map_err(|_| OtrError::Crypto)?;
    k.ctr_apply(iv, data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_format() {
        let f = Fingerprint([0xab; 20]);
        assert_eq!(f.to_human(), "ABABABAB ABABABAB ABABABAB ABABABAB ABABABAB");
    }

    #[test]
    fn key_parts_roundtrip_and_signature() {
        use rand::{RngCore, SeedableRng};
        struct R(rand_chacha::ChaCha20Rng);
        impl Random for R {
            fn fill(&mut self, buf: &mut [u8]) {
                self.0.fill_bytes(buf);
            }
        }
        let mut r = R(rand_chacha::ChaCha20Rng::seed_from_u64(3));
        let k = LongTermKey::generate(&mut r);
        let (p, x) = k.to_parts();
        assert_eq!(p[0].len(), 128, "1024-bit p");
        assert_eq!(p[1].len(), 20, "160-bit q");
        let k2 = LongTermKey::from_parts(&p[0], &p[1], &p[2], &p[3], x.expose()).unwrap();
        assert_eq!(k.fingerprint(), k2.fingerprint());
        let m = [0xa5u8; 32];
        let sig = k2.sign(&m).unwrap();
        assert_eq!(sig.len(), 40);
        let mut rd = Reader::new(k.public().encoded());
        let pk = PublicKey::read(&mut rd).unwrap();
        rd.finish().unwrap();
        pk.verify(&m, &sig).unwrap();
        let mut bad = m;
        bad[31] ^= 1;
        assert!(pk.verify(&bad, &sig).is_err());
        // The fingerprint is SHA-1 over the PUBKEY without its 2-byte type.
        assert_eq!(pk.fingerprint().0, sha1(&[&k.public().encoded()[2..]]));
    }

    #[test]
    fn reduce_is_mod_q() {
        let q = BigUint::from(1_000_003u32);
        let m = [0xffu8; 32];
        let h = reduce_mod_q(&m, &q);
        assert_eq!(BigUint::from_bytes_be(&h), BigUint::from_bytes_be(&m) % &q);
    }
}
