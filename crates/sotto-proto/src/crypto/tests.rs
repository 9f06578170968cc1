//! Known-answer tests for the default provider. Every value here was also checked against an
//! independent implementation (OpenSSL through Python's `cryptography`) when it was written.

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Replays fixed bytes: makes key generation reproducible in tests.
struct FixedRandom(Vec<u8>);

impl Random for FixedRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        assert!(self.0.len() >= buf.len(), "FixedRandom ran dry");
        let rest = self.0.split_off(buf.len());
        buf.copy_from_slice(&self.0);
        self.0 = rest;
    }
}

/// A counter-based generator for tests that just need distinct values.
struct CountingRandom(u8);

impl Random for CountingRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(29).wrapping_add(7);
            *b = self.0;
        }
    }
}

fn p() -> &'static dyn CryptoProvider {
    default_provider()
}

#[test]
fn sha_known_answers_fips_180_4() {
    assert_eq!(
        p().hash_parts(HashAlg::Sha1, &[b"a", b"bc"]).as_slice(),
        h("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    assert_eq!(
        p().hash_parts(HashAlg::Sha256, &[b"abc"]).as_slice(),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        p().hash_parts(HashAlg::Sha384, &[b"ab", b"c"]).as_slice(),
        h(
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
        )
    );
    assert_eq!(HashAlg::Sha384.output_len(), 48);
}

#[test]
fn hmac_rfc_4231_and_2202_test_case_1() {
    let key = [0x0b; 20];
    assert_eq!(
        p().hmac(HashAlg::Sha256, &key, &[b"Hi ", b"There"])
            .as_slice(),
        h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    );
    assert_eq!(
        p().hmac(HashAlg::Sha384, &key, &[b"Hi There"]).as_slice(),
        h(
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"
        )
    );
    let k1 = p().hmac_key(HashAlg::Sha1, &key);
    let expected = h("b617318655057264e28bc0b6fb378c8ef146be00");
    assert_eq!(k1.mac(&[b"Hi There"]).as_slice(), expected);
    // The precomputed key is reusable.
    assert_eq!(k1.mac(&[b"Hi", b" There"]).as_slice(), expected);
    let mut short = [0u8; 10];
    k1.mac_into(&[b"Hi There"], &mut short);
    assert_eq!(&short[..], &expected[..10]);
    k1.verify(&[b"Hi There"], &short).unwrap();
    short[9] ^= 1;
    assert_eq!(
        k1.verify(&[b"Hi There"], &short),
        Err(CryptoError::AuthenticationFailed)
    );
    assert!(
        k1.verify(&[b"Hi There"], &[]).is_err(),
        "an empty tag never verifies"
    );
}

#[test]
fn aes_block_fips_197_appendix_c() {
    let pt = h("00112233445566778899aabbccddeeff");
    for (key, ct) in [
        (
            h("000102030405060708090a0b0c0d0e0f"),
            "69c4e0d86a7b0430d8cdb78070b4c55a",
        ),
        (
            (0u8..32).collect::<Vec<_>>(),
            "8ea2b7ca516745bfeafc49904b496089",
        ),
    ] {
        let k = p().aes_key(&key).unwrap();
        let mut block: [u8; 16] = pt.clone().try_into().unwrap();
        k.encrypt_block(&mut block);
        assert_eq!(block.to_vec(), h(ct));
    }
    assert_eq!(p().aes_key(&[0; 15]).err(), Some(CryptoError::BadLength));
}

#[test]
fn aes_ctr_and_cfb_sp800_38a() {
    let key = h("2b7e151628aed2a6abf7158809cf4f3c");
    let pt = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    let k = p().aes_key(&key).unwrap();

    // F.5.1 CTR-AES128.Encrypt (first two blocks).
    let ctr_iv: [u8; 16] = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
    let mut data = pt.clone();
    k.ctr_apply(&ctr_iv, &mut data);
    assert_eq!(
        data,
        h("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff")
    );

    // F.3.13 CFB128-AES128.Encrypt (first two blocks), and a partial block round trip.
    let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
    let mut data = pt.clone();
    k.cfb_encrypt(&iv, &mut data);
    assert_eq!(
        data,
        h("3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b")
    );
    k.cfb_decrypt(&iv, &mut data);
    assert_eq!(data, pt);
    let mut odd = pt[..21].to_vec();
    k.cfb_encrypt(&iv, &mut odd);
    assert_eq!(odd, h("3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0")[..21]);
    k.cfb_decrypt(&iv, &mut odd);
    assert_eq!(odd, pt[..21]);
}

#[test]
fn aes_gcm_mcgrew_viega_test_case_2_and_tamper() {
    let k = p().aes_gcm_key(&[0; 16]).unwrap();
    let mut data = [0u8; 16];
    let tag = k.seal(&[0; 12], b"", &mut data).unwrap();
    assert_eq!(data.to_vec(), h("0388dace60b6a392f328c2b971b2fe78"));
    assert_eq!(tag.to_vec(), h("ab6e47d42cec13bdf53a67b21257bddf"));

    let mut tampered = data;
    tampered[3] ^= 0x80;
    let before = tampered;
    assert_eq!(
        k.open(&[0; 12], b"", &mut tampered, &tag),
        Err(CryptoError::AuthenticationFailed)
    );
    assert_eq!(tampered, before, "failed open leaves the data untouched");
    assert!(k.open(&[0; 12], b"aad", &mut data.clone(), &tag).is_err());
    k.open(&[0; 12], b"", &mut data, &tag).unwrap();
    assert_eq!(data, [0u8; 16]);
    assert!(p().aes_gcm_key(&[0; 24]).is_err());
}

#[test]
fn x25519_rfc_7748_section_6_1() {
    let alice = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let kx = p()
        .key_exchange(KeyAgreementAlg::X25519, &mut FixedRandom(alice))
        .unwrap();
    assert_eq!(
        kx.public_key(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    let shared = kx.agree(&bob_pub).unwrap();
    assert_eq!(
        shared.expose(),
        h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    );
}

/// Public values for a fixed private value, as SHA-256 of the wire encoding, computed
/// independently (Python big integers for DH; OpenSSL for the curves).
#[test]
fn public_values_match_an_independent_implementation() {
    let cases = [
        (
            KeyAgreementAlg::Dh2048,
            32,
            "0b9cb9036d2a594a7e3b43169bdf47ee9c7b64a2292203f1bb137b0b648d7e3c",
        ),
        (
            KeyAgreementAlg::Dh3072,
            32,
            "b74e630be90eb9d4b19affaa173864f62b7b5408127da1bbe6614ff3b3d96c4d",
        ),
        (
            KeyAgreementAlg::P256,
            32,
            "ca5f30154a8f7c61be95000c3842be20363b9ac6a7708c3a1e8239b42ba64335",
        ),
        (
            KeyAgreementAlg::P384,
            48,
            "e678ff2c6bf3193168f6e8010ba05852ccc475d9cdcd4356528c1df3c1ab37fa",
        ),
        (
            KeyAgreementAlg::X448,
            56,
            "85700d92d85ce493ad53780affe8a6d30e9161a36ae63f53cf7abb322d5883dd",
        ),
    ];
    for (alg, n, expected) in cases {
        let secret: Vec<u8> = (1..=n as u8).collect();
        let kx = p().key_exchange(alg, &mut FixedRandom(secret)).unwrap();
        assert_eq!(kx.public_key().len(), alg.public_len(), "{alg:?}");
        assert_eq!(
            p().hash_parts(HashAlg::Sha256, &[kx.public_key()])
                .as_slice(),
            h(expected),
            "{alg:?}"
        );
    }
}

#[test]
fn every_key_agreement_agrees_and_rejects_bad_values() {
    let mut rng = CountingRandom(1);
    for alg in [
        KeyAgreementAlg::X25519,
        KeyAgreementAlg::X448,
        KeyAgreementAlg::P256,
        KeyAgreementAlg::P384,
        KeyAgreementAlg::Dh2048,
        KeyAgreementAlg::Dh3072,
    ] {
        let a = p().key_exchange(alg, &mut rng).unwrap();
        let b = p().key_exchange(alg, &mut rng).unwrap();
        assert_eq!(a.alg(), alg);
        let (pa, pb) = (a.public_key().to_vec(), b.public_key().to_vec());
        assert_ne!(pa, pb);
        let sa = a.agree(&pb).unwrap();
        let sb = b.agree(&pa).unwrap();
        assert_eq!(sa, sb, "{alg:?}");
        assert_eq!(sa.len(), alg.shared_len(), "{alg:?}");

        // Wrong length, all zeros, and (for DH) 1 and p-1 are refused.
        let fresh = || p().key_exchange(alg, &mut CountingRandom(9)).unwrap();
        assert_eq!(
            fresh().agree(&pa[1..]).err(),
            Some(CryptoError::InvalidPublicValue),
            "{alg:?} short"
        );
        assert_eq!(
            fresh().agree(&vec![0; alg.public_len()]).err(),
            Some(CryptoError::InvalidPublicValue),
            "{alg:?} zero"
        );
    }
}

#[test]
fn dh_rejects_one_and_p_minus_one_and_out_of_range() {
    for (alg, prime) in [
        (KeyAgreementAlg::Dh2048, MODP_2048_P),
        (KeyAgreementAlg::Dh3072, MODP_3072_P),
    ] {
        let p_bytes = h(prime);
        let mut one = vec![0u8; p_bytes.len()];
        *one.last_mut().unwrap() = 1;
        let mut p_minus_1 = p_bytes.clone();
        *p_minus_1.last_mut().unwrap() -= 1; // p is odd: no borrow
        let all_ff = vec![0xff; p_bytes.len()];
        for bad in [one, p_minus_1, p_bytes.clone(), all_ff] {
            let kx = p().key_exchange(alg, &mut CountingRandom(3)).unwrap();
            assert_eq!(kx.agree(&bad).err(), Some(CryptoError::InvalidPublicValue));
        }
    }
}

#[test]
fn nist_curves_reject_points_not_on_the_curve() {
    for alg in [KeyAgreementAlg::P256, KeyAgreementAlg::P384] {
        let a = p().key_exchange(alg, &mut CountingRandom(5)).unwrap();
        let b = p().key_exchange(alg, &mut CountingRandom(6)).unwrap();
        let mut off_curve = b.public_key().to_vec();
        *off_curve.last_mut().unwrap() ^= 1;
        assert_eq!(
            a.agree(&off_curve).err(),
            Some(CryptoError::InvalidPublicValue)
        );
    }
}

#[test]
fn x25519_and_x448_reject_small_order_points() {
    // u = 1 has order 4 on Curve25519 (RFC 7748 §6.1's all-zero output check catches it).
    let mut one = [0u8; 32];
    one[0] = 1;
    let kx = p()
        .key_exchange(KeyAgreementAlg::X25519, &mut CountingRandom(2))
        .unwrap();
    assert!(kx.agree(&one).is_err());
    let mut one448 = [0u8; 56];
    one448[0] = 1;
    let kx = p()
        .key_exchange(KeyAgreementAlg::X448, &mut CountingRandom(2))
        .unwrap();
    assert!(kx.agree(&one448).is_err());
}

#[test]
fn digest_debug_does_not_print_bytes() {
    let d = p().hash_parts(HashAlg::Sha256, &[b"secret"]);
    assert_eq!(format!("{d:?}"), "Digest(32 bytes)");
    assert_eq!(d.len(), 32);
    assert_eq!(d.clone().into_secret().expose(), d.as_slice());
}

#[test]
fn os_random_fills() {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    OsRandom.fill(&mut a);
    OsRandom.fill(&mut b);
    assert_ne!(a, b);
}
