//! RFC 7714 §16 (SRTP) and §17 (SRTCP) AES-GCM test vectors. The RFC gives the session key and
//! salt directly (no KDF), SSRC 0x5501a0b2 / ROC 0 / SEQ 0xf17b for SRTP and SSRC "Mars" with
//! SRTCP index 0x5d4 for SRTCP.

use zeroize::Zeroizing;

use crate::cipher::{GcmKeys, Transform};
use crate::{Error, Profile, SrtpContext};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

const SALT: &str = "517569642070726f2071756f";
const KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

const RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
                   69736120 696e2070 61727465 73207472 6573";
const RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                    deadbeef deadbeef deadbeef deadbeef deadbeef";

fn ctx(profile: Profile, key: &str) -> SrtpContext {
    let mk = || {
        let salt: [u8; 12] = h(SALT).try_into().unwrap();
        Transform::Gcm(GcmKeys::new(&h(key), Zeroizing::new(salt)).unwrap())
    };
    SrtpContext::from_session_keys(profile, mk(), mk())
}

fn check_rtp(profile: Profile, key: &str, expected: &str) {
    let plain = h(RTP);
    let expected = h(expected);
    let mut tx = ctx(profile, key);
    let mut buf = plain.clone();
    tx.protect_rtp_vec(&mut buf).unwrap();
    assert_eq!(hex::encode(&buf), hex::encode(&expected));
    let mut rx = ctx(profile, key);
    rx.unprotect_rtp_vec(&mut buf).unwrap();
    assert_eq!(buf, plain);
}

fn check_rtcp(profile: Profile, key: &str, expected: &str, auth_only: &str) {
    let plain = h(RTCP);
    let expected = h(expected);
    let mut tx = ctx(profile, key);
    tx.set_srtcp_index(0x4d61_7273, 0x5d4).unwrap();
    let mut buf = plain.clone();
    tx.protect_rtcp_vec(&mut buf).unwrap();
    assert_eq!(hex::encode(&buf), hex::encode(&expected));
    let mut rx = ctx(profile, key);
    rx.unprotect_rtcp_vec(&mut buf).unwrap();
    assert_eq!(buf, plain);
    // The E = 0 (authenticated only) form, unprotect direction.
    let mut rx = ctx(profile, key);
    let mut buf = h(auth_only);
    let pristine = buf.clone();
    rx.unprotect_rtcp_vec(&mut buf).unwrap();
    assert_eq!(buf, plain);
    // A flipped tag bit in the E = 0 form fails and leaves the buffer as it was.
    let mut rx = ctx(profile, key);
    let mut bad = pristine.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    let copy = bad.clone();
    assert_eq!(
        rx.unprotect_rtcp(&mut bad),
        Err(Error::AuthenticationFailed)
    );
    assert_eq!(bad, copy);
}

/// RFC 7714 §16.1.1: AEAD_AES_128_GCM SRTP encryption.
#[test]
fn rfc7714_section_16_1_aes_128_gcm_srtp() {
    check_rtp(
        Profile::AeadAes128Gcm,
        KEY_128,
        "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5
         0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
    );
}

/// RFC 7714 §16.2.1: AEAD_AES_256_GCM SRTP encryption.
#[test]
fn rfc7714_section_16_2_aes_256_gcm_srtp() {
    check_rtp(
        Profile::AeadAes256Gcm,
        KEY_256,
        "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238
         9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
    );
}

/// RFC 7714 §17.1: AEAD_AES_128_GCM SRTCP (encrypted, and authenticated-only E = 0).
#[test]
fn rfc7714_section_17_1_aes_128_gcm_srtcp() {
    check_rtcp(
        Profile::AeadAes128Gcm,
        KEY_128,
        "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d
         c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872
         45d9eade 800005d4",
        "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
         deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790
         125f62b3 000005d4",
    );
}

/// RFC 7714 §17.2: AEAD_AES_256_GCM SRTCP (encrypted, and authenticated-only E = 0).
#[test]
fn rfc7714_section_17_2_aes_256_gcm_srtcp() {
    check_rtcp(
        Profile::AeadAes256Gcm,
        KEY_256,
        "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50
         a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c
         b26ac3be 800005d4",
        "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
         deadbeef deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393
         ed2615fe 000005d4",
    );
}

/// RFC 7714 §8.1 IV formation, checked against the IV the §16 walkthrough prints.
#[test]
fn rfc7714_section_16_iv() {
    let salt: [u8; 12] = h(SALT).try_into().unwrap();
    let iv = crate::cipher::srtp_gcm_iv(&salt, 0x5501_a0b2, 0xf17b);
    assert_eq!(hex::encode(iv), "51753c6580c2726f20718414");
}
