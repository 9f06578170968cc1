//! The ZRTP key schedule (RFC 6189 §4.4.1.4, §4.5): the KDF, s0, and everything derived from it.

use sotto_proto::crypto::{CryptoProvider, HashAlg};
use sotto_proto::{SecretArray, SecretBytes, Zid};

/// KDF(KI, Label, Context, L) = HMAC(KI, i ‖ Label ‖ 0x00 ‖ Context ‖ L), i = 1 as a 32-bit
/// big-endian counter, L the output length in *bits* as 32-bit big-endian; the output is
/// truncated to `out_len` bytes (§4.5.1). `out_len` is at most the hash length.
pub fn kdf(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    ki: &[u8],
    label: &[u8],
    context: &[u8],
    out_len: usize,
) -> SecretBytes {
    let bits = (out_len as u32).saturating_mul(8).to_be_bytes();
    let d = p
        .hmac_key(hash, ki)
        .mac(&[&1u32.to_be_bytes(), label, &[0u8], context, &bits]);
    SecretBytes::from_slice(d.as_slice()).truncated(out_len)
}

/// KDF_Context = ZIDi ‖ ZIDr ‖ total_hash (§4.4.1.4).
pub fn kdf_context(zid_i: &Zid, zid_r: &Zid, total_hash: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + total_hash.len());
    v.extend_from_slice(zid_i.as_bytes());
    v.extend_from_slice(zid_r.as_bytes());
    v.extend_from_slice(total_hash);
    v
}

/// s0 for DH mode (§4.4.1.4):
/// `hash(counter=1 ‖ DHResult ‖ "ZRTP-HMAC-KDF" ‖ ZIDi ‖ ZIDr ‖ total_hash ‖ len(s1) ‖ s1 ‖
/// len(s2) ‖ s2 ‖ len(s3) ‖ s3)`, lengths as 32-bit big-endian byte counts (0 for an absent
/// secret, which then contributes no bytes).
pub fn s0_dh(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    dh_result: &[u8],
    kdf_context: &[u8],
    s1: Option<&[u8]>,
    s2: Option<&[u8]>,
    s3: Option<&[u8]>,
) -> SecretBytes {
    let mut h = p.hash(hash);
    h.update(&1u32.to_be_bytes());
    h.update(dh_result);
    h.update(b"ZRTP-HMAC-KDF");
    h.update(kdf_context);
    for s in [s1, s2, s3] {
        let s = s.unwrap_or_default();
        h.update(&(s.len() as u32).to_be_bytes());
        h.update(s);
    }
    h.finish().into_secret()
}

/// Everything a session derives from s0 (§4.5.3, §4.6.1, §4.5.2).
pub struct Keys {
    /// s0 itself (kept for the exported key and the key derivations of the application).
    pub s0: SecretBytes,
    /// KDF_Context.
    pub context: Vec<u8>,
    /// The hash used.
    pub hash: HashAlg,
    /// Initiator SRTP master key.
    pub srtp_key_i: SecretBytes,
    /// Initiator SRTP master salt (112 bits).
    pub srtp_salt_i: SecretBytes,
    /// Responder SRTP master key.
    pub srtp_key_r: SecretBytes,
    /// Responder SRTP master salt.
    pub srtp_salt_r: SecretBytes,
    /// MAC key for Confirm2 / GoClear from the initiator.
    pub mackey_i: SecretBytes,
    /// MAC key for Confirm1 from the responder.
    pub mackey_r: SecretBytes,
    /// AES key for the initiator's Confirm.
    pub zrtpkey_i: SecretBytes,
    /// AES key for the responder's Confirm.
    pub zrtpkey_r: SecretBytes,
    /// The SAS hash (256 bits).
    pub sashash: SecretArray<32>,
    /// ZRTPSess (DH mode only; for Multistream of later streams).
    pub zrtp_sess: SecretBytes,
    /// The new retained secret rs1 (DH mode only).
    pub new_rs1: SecretArray<32>,
    /// ExportedKey (§4.5.2).
    pub exported_key: SecretBytes,
}

impl core::fmt::Debug for Keys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Derives every key from s0 (§4.5.3). `cipher_key_len` is the negotiated AES key length.
    pub fn derive(
        p: &dyn CryptoProvider,
        hash: HashAlg,
        s0: SecretBytes,
        context: Vec<u8>,
        cipher_key_len: usize,
    ) -> Self {
        let hl = hash.output_len();
        let k = |label: &[u8], len: usize| kdf(p, hash, s0.expose(), label, &context, len);
        let arr32 = |b: SecretBytes| {
            let mut a = SecretArray::<32>::zeroed();
            for (d, s) in a.expose_mut().iter_mut().zip(b.expose()) {
                *d = *s;
            }
            a
        };
        Self {
            srtp_key_i: k(b"Initiator SRTP master key", cipher_key_len),
            srtp_salt_i: k(b"Initiator SRTP master salt", 14),
            srtp_key_r: k(b"Responder SRTP master key", cipher_key_len),
            srtp_salt_r: k(b"Responder SRTP master salt", 14),
            mackey_i: k(b"Initiator HMAC key", hl),
            mackey_r: k(b"Responder HMAC key", hl),
            zrtpkey_i: k(b"Initiator ZRTP key", cipher_key_len),
            zrtpkey_r: k(b"Responder ZRTP key", cipher_key_len),
            sashash: arr32(k(b"SAS", 32)),
            zrtp_sess: k(b"ZRTP Session Key", hl),
            new_rs1: arr32(k(b"retained secret", 32)),
            exported_key: k(b"Exported key", hl),
            s0,
            context,
            hash,
        }
    }

    /// The SAS value: the leftmost 32 bits of sashash (§4.5.2).
    pub fn sas_value(&self) -> u32 {
        let b = self.sashash.expose();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// A key for the application from the exported key (§4.5.2), as libbzrtp's
    /// `bzrtp_exportKey` does: `KDF(ExportedKey, label, KDF_Context, hash length)`.
    pub fn export(&self, p: &dyn CryptoProvider, label: &[u8]) -> SecretBytes {
        kdf(
            p,
            self.hash,
            self.exported_key.expose(),
            label,
            &self.context,
            self.hash.output_len(),
        )
    }
}

/// s0 for Multistream mode (§4.4.3.2): `KDF(ZRTPSess, "ZRTP MSK", KDF_Context, hash length)`.
pub fn s0_multistream(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    zrtp_sess: &[u8],
    context: &[u8],
) -> SecretBytes {
    kdf(p, hash, zrtp_sess, b"ZRTP MSK", context, hash.output_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_proto::crypto::default_provider;

    #[test]
    fn kdf_is_hmac_of_the_rfc_layout() {
        // RFC 6189 §4.5.1: the KDF input layout, checked against a direct HMAC.
        let p = default_provider();
        let out = kdf(p, HashAlg::Sha256, b"key", b"Label", b"ctx", 16);
        let mut input = Vec::new();
        input.extend_from_slice(&[0, 0, 0, 1]);
        input.extend_from_slice(b"Label");
        input.push(0);
        input.extend_from_slice(b"ctx");
        input.extend_from_slice(&128u32.to_be_bytes());
        let full = p.hmac(HashAlg::Sha256, b"key", &[&input]);
        assert_eq!(out.expose(), &full.as_slice()[..16]);
    }

    #[test]
    fn s0_layout_with_absent_secrets() {
        let p = default_provider();
        let ctx = kdf_context(&Zid([1; 12]), &Zid([2; 12]), &[3; 32]);
        let s0 = s0_dh(p, HashAlg::Sha256, &[9; 32], &ctx, None, None, None);
        let mut m = vec![0, 0, 0, 1];
        m.extend_from_slice(&[9; 32]);
        m.extend_from_slice(b"ZRTP-HMAC-KDF");
        m.extend_from_slice(&ctx);
        m.extend_from_slice(&[0; 12]);
        assert_eq!(s0.expose(), p.hash_parts(HashAlg::Sha256, &[&m]).as_slice());
    }
}
