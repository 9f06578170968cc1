//! HMAC-SHA1 (RFC 2104) for the SRTP hot path: the `hmac` crate's `Hmac<Sha1>`, keyed once per
//! context (inner and outer pad states computed at key time) and cloned per packet, so a packet
//! costs the SHA-1 compressions it needs plus a small state copy, and no allocation.
//!
//! An earlier version assembled HMAC by hand over `sha1::compress` (about 15 % faster on this
//! machine). It was replaced: sotto does not write crypto primitives, HMAC included, and the
//! speed difference does not justify owning padding and length encoding code. The figures in
//! `docs/performance.md` are measured with this version.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A keyed HMAC-SHA1 with the inner (ipad) and outer (opad) states precomputed by the `hmac`
/// crate (which zeroizes nothing itself; the key schedule lives as long as the SRTP context).
#[derive(Clone)]
pub(crate) struct HmacSha1 {
    keyed: Hmac<Sha1>,
}

impl HmacSha1 {
    /// Any key length (SRTP uses 20 octets); a key longer than a block is hashed, as RFC 2104
    /// says.
    pub(crate) fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so this cannot fail; the fallback keeps the path
        // panic-free.
        let keyed = <Hmac<Sha1> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| <Hmac<Sha1> as hmac::digest::KeyInit>::new(&Default::default()));
        Self { keyed }
    }

    /// HMAC-SHA1 of `data` (for SRTP: header || payload || ROC, contiguous in the packet
    /// buffer).
    #[inline]
    pub(crate) fn mac(&self, data: &[u8]) -> [u8; 20] {
        let mut m = self.keyed.clone();
        m.update(data);
        m.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <hmac::Hmac<sha1::Sha1> as hmac::Mac>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    /// RFC 2202 §3 test cases 1, 2 and 6.
    #[test]
    fn rfc2202_hmac_sha1_vectors() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
        ];
        for (key, msg, expected) in cases {
            assert_eq!(hex::encode(HmacSha1::new(key).mac(msg)), expected);
        }
    }

    #[test]
    fn equals_the_hmac_crate_for_every_length() {
        let key: Vec<u8> = (0..20u8).map(|i| i.wrapping_mul(37)).collect();
        let h = HmacSha1::new(&key);
        for n in 0..=300usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            assert_eq!(h.mac(&data).to_vec(), reference(&key, &data), "length {n}");
        }
    }
}
