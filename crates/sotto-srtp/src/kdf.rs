//! SRTP key derivation (RFC 3711 §4.3; AES_256_CM_PRF of RFC 6188 §3 for 256-bit master keys).

use aes::{Aes128, Aes256};
use cipher::{KeyIvInit, StreamCipher};
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// Key derivation labels (RFC 3711 §4.3.1 and §4.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Label {
    /// SRTP encryption key (0x00).
    RtpEncryption = 0x00,
    /// SRTP authentication key (0x01).
    RtpAuthentication = 0x01,
    /// SRTP salting key (0x02).
    RtpSalt = 0x02,
    /// SRTCP encryption key (0x03).
    RtcpEncryption = 0x03,
    /// SRTCP authentication key (0x04).
    RtcpAuthentication = 0x04,
    /// SRTCP salting key (0x05).
    RtcpSalt = 0x05,
}

/// Derives one session key into `out` (RFC 3711 §4.3.1).
///
/// `x = (label || index DIV kdr) XOR master_salt`, and `out` is the AES-CM keystream under the
/// master key starting at counter `x * 2^16`. `index_div_kdr` is the 48-bit `r` (0 when the key
/// derivation rate is 0). A master key of 16 octets uses AES-128, of 32 octets AES-256 (RFC 6188
/// `AES_256_CM_PRF`). A 12-octet master salt (AES-GCM, RFC 7714 §11) is padded on the right with
/// two zero octets to the 112 bits the PRF takes, which is what libsrtp does.
pub fn derive(
    master_key: &[u8],
    master_salt: &[u8],
    label: Label,
    index_div_kdr: u64,
    out: &mut [u8],
) -> Result<()> {
    if master_salt.len() != 14 && master_salt.len() != 12 {
        return Err(Error::InvalidKey(
            "master salt must be 14 (AES-CM) or 12 (AES-GCM) octets",
        ));
    }
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(master_salt) {
        *d = *s;
    }
    // key_id = label || r, 56 bits, right-aligned in the 112-bit salt: octets 7..14.
    if let Some(b) = iv.get_mut(7) {
        *b ^= label as u8;
    }
    let r = (index_div_kdr & 0xFFFF_FFFF_FFFF).to_be_bytes();
    for (d, s) in iv.iter_mut().skip(8).zip(r.iter().skip(2)) {
        *d ^= *s;
    }
    out.fill(0);
    match master_key.len() {
        16 => {
            ctr::Ctr128BE::<Aes128>::new_from_slices(master_key, &iv)
                .map_err(|_| Error::InvalidKey("bad AES-128 master key"))?
                .apply_keystream(out);
        }
        32 => {
            ctr::Ctr128BE::<Aes256>::new_from_slices(master_key, &iv)
                .map_err(|_| Error::InvalidKey("bad AES-256 master key"))?
                .apply_keystream(out);
        }
        _ => return Err(Error::InvalidKey("master key must be 16 or 32 octets")),
    }
    iv.zeroize();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    /// RFC 3711 Appendix B.3 (key derivation test vectors), kdr = 0.
    #[test]
    fn rfc3711_appendix_b3_key_derivation() {
        let key = h("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = h("0EC675AD498AFEEBB6960B3AABE6");
        let mut ck = [0u8; 16];
        derive(&key, &salt, Label::RtpEncryption, 0, &mut ck).unwrap();
        assert_eq!(ck.to_vec(), h("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut cs = [0u8; 14];
        derive(&key, &salt, Label::RtpSalt, 0, &mut cs).unwrap();
        assert_eq!(cs.to_vec(), h("30CBBC08863D8C85D49DB34A9AE1"));
        // The appendix lists a 94-octet auth key; HMAC-SHA1 uses its first 20 octets.
        let mut ak = [0u8; 94];
        derive(&key, &salt, Label::RtpAuthentication, 0, &mut ak).unwrap();
        assert_eq!(
            ak.to_vec(),
            h(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
               E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
               6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );
    }

    /// RFC 6188 §7.2 (AES_256_CM_PRF test cases).
    #[test]
    fn rfc6188_section_7_2_aes_256_cm_prf() {
        let key = h("f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6");
        let salt = h("3b04803de51ee7c96423ab5b78d2");
        let mut ck = [0u8; 32];
        derive(&key, &salt, Label::RtpEncryption, 0, &mut ck).unwrap();
        assert_eq!(
            ck.to_vec(),
            h("5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4")
        );
        let mut cs = [0u8; 14];
        derive(&key, &salt, Label::RtpSalt, 0, &mut cs).unwrap();
        assert_eq!(cs.to_vec(), h("fa31791685ca444a9e07c6c64e93"));
        let mut ak = [0u8; 20];
        derive(&key, &salt, Label::RtpAuthentication, 0, &mut ak).unwrap();
        assert_eq!(ak.to_vec(), h("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05"));
    }

    /// RFC 3711 Appendix B.2 (AES-CM keystream): session key and salt used directly, SSRC 0,
    /// index 0; the first three blocks and the last three of the 65282-block segment.
    #[test]
    fn rfc3711_appendix_b2_aes_cm_keystream() {
        let key = h("2B7E151628AED2A6ABF7158809CF4F3C");
        let salt: [u8; 14] = h("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let ks = crate::cipher::CtrKey::new(&key).unwrap();
        let iv = crate::cipher::srtp_cm_iv(&salt, 0, 0);
        let mut stream = vec![0u8; 65282 * 16];
        ks.apply(&iv, &mut stream);
        assert_eq!(stream[..16].to_vec(), h("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(
            stream[16..32].to_vec(),
            h("D23513162B02D0F72A43A2FE4A5F97AB")
        );
        assert_eq!(
            stream[32..48].to_vec(),
            h("41E95B3BB0A2E8DD477901E4FCA894C0")
        );
        let n = stream.len();
        assert_eq!(
            stream[n - 48..n - 32].to_vec(),
            h("EC8CDF7398607CB0F2D21675EA9EA1E4")
        );
        assert_eq!(
            stream[n - 32..n - 16].to_vec(),
            h("362B7C3C6773516318A077D7FC5073AE")
        );
        assert_eq!(
            stream[n - 16..].to_vec(),
            h("6A2CC3787889374FBEB4C81B17BA6C44")
        );
    }

    /// RFC 6188 §7.1 (AES-256-CM keystream test case).
    #[test]
    fn rfc6188_section_7_1_aes_256_cm_keystream() {
        let key = h("57f82fe3613fd170a85ec93c40b1f0922ec4cb0dc025b58272147cc438944a98");
        let salt: [u8; 14] = h("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let ks = crate::cipher::CtrKey::new(&key).unwrap();
        let iv = crate::cipher::srtp_cm_iv(&salt, 0, 0);
        let mut stream = [0u8; 48];
        ks.apply(&iv, &mut stream);
        assert_eq!(
            stream.to_vec(),
            h(
                "92bdd28a93c3f52511c677d08b5515a4 9da71b2378a854f67050756ded165bac
               63c4868b7096d88421b563b8c94c9a31"
            )
        );
    }

    #[test]
    fn bad_lengths_rejected() {
        let mut out = [0u8; 16];
        assert!(derive(&[0; 24], &[0; 14], Label::RtpEncryption, 0, &mut out).is_err());
        assert!(derive(&[0; 16], &[0; 13], Label::RtpEncryption, 0, &mut out).is_err());
    }
}
