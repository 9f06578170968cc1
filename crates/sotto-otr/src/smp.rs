//! The Socialist Millionaires' Protocol (spec "The protocol" under "Socialist Millionaires'
//! Protocol (SMP)"): both sides learn whether they hold the same secret, and nothing else.
//!
//! All exponentiations with secret exponents use full-width constant-time `pow`; the proofs'
//! responses `D = r - a*c mod q` are computed with Montgomery arithmetic modulo q.

use crate::OtrError;
use crate::group::{self, ct_eq, div, is_valid_element, is_valid_exponent, mul, pow, pow_g};
use crate::keys::{Fingerprint, sha256};
use crate::wire::{emit_mpi_list, parse_mpi_list, put_mpi};
use crypto_bigint::U1536;
use sotto_proto::crypto::Random;
use zeroize::Zeroize;

/// A secret exponent, zeroized on drop.
struct Secret(U1536);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The SMP hash: SHA-256 of a version byte and one or two MPIs, as an integer.
fn h(version: u8, a: &U1536, b: Option<&U1536>) -> U1536 {
    let mut buf = vec![version];
    put_mpi(&mut buf, &group::to_be_minimal(a));
    if let Some(b) = b {
        put_mpi(&mut buf, &group::to_be_minimal(b));
    }
    let d = sha256(&[&buf]);
    group::from_be(&d).unwrap_or(U1536::ZERO)
}

/// The secret both sides compare: SHA-256(1 || initiator fp || responder fp || ssid || secret).
pub(crate) fn combined_secret(
    initiator: &Fingerprint,
    responder: &Fingerprint,
    ssid: &[u8; 8],
    user_secret: &[u8],
) -> U1536 {
    let d = sha256(&[&[1u8], &initiator.0, &responder.0, ssid, user_secret]);
    group::from_be(&d).unwrap_or(U1536::ZERO)
}

fn elems(values: &[Vec<u8>]) -> Result<Vec<U1536>, OtrError> {
    values
        .iter()
        .map(|v| group::from_be(v).ok_or(OtrError::PeerMisbehaved("SMP value too large")))
        .collect()
}

fn enc(values: &[&U1536]) -> Vec<u8> {
    let v: Vec<Vec<u8>> = values.iter().map(|x| group::to_be_minimal(x)).collect();
    emit_mpi_list(&v)
}

fn check_elem(v: &U1536) -> Result<(), OtrError> {
    if is_valid_element(v) {
        Ok(())
    } else {
        Err(OtrError::PeerMisbehaved("SMP group element out of range"))
    }
}

fn check_exp(v: &U1536) -> Result<(), OtrError> {
    if is_valid_exponent(v) {
        Ok(())
    } else {
        Err(OtrError::PeerMisbehaved("SMP exponent out of range"))
    }
}

fn check_proof(ok: bool) -> Result<(), OtrError> {
    if ok {
        Ok(())
    } else {
        Err(OtrError::PeerMisbehaved("SMP proof failed"))
    }
}

/// Alice after sending message 1.
pub(crate) struct Alice1 {
    x: Secret,
    a2: Secret,
    a3: Secret,
}

/// Bob after receiving message 1, waiting for his user's secret.
pub(crate) struct Bob1 {
    g2a: U1536,
    g3a: U1536,
}

/// Bob after sending message 2.
pub(crate) struct Bob2 {
    g3a: U1536,
    g2: Secret,
    g3: Secret,
    b3: Secret,
    pb: U1536,
    qb: U1536,
}

/// Alice after sending message 3.
pub(crate) struct Alice3 {
    g3b: U1536,
    pa_over_pb: U1536,
    qa_over_qb: U1536,
    a3: Secret,
}

/// Step 1 (Alice): returns her state and the TLV value of SMP message 1 (without question).
pub(crate) fn alice_step1(x: U1536, rng: &mut dyn Random) -> (Alice1, Vec<u8>) {
    let a2 = Secret(group::random_exponent_mod_q(rng));
    let a3 = Secret(group::random_exponent_mod_q(rng));
    let r2 = Secret(group::random_exponent_mod_q(rng));
    let r3 = Secret(group::random_exponent_mod_q(rng));
    let g2a = pow_g(&a2.0);
    let g3a = pow_g(&a3.0);
    let c2 = h(1, &pow_g(&r2.0), None);
    let d2 = group::sub_mul_mod_q(&r2.0, &a2.0, &c2);
    let c3 = h(2, &pow_g(&r3.0), None);
    let d3 = group::sub_mul_mod_q(&r3.0, &a3.0, &c3);
    let msg = enc(&[&g2a, &c2, &d2, &g3a, &c3, &d3]);
    (
        Alice1 {
            x: Secret(x),
            a2,
            a3,
        },
        msg,
    )
}

/// Bob receives SMP message 1 and checks its proofs.
pub(crate) fn bob_receive1(value: &[u8]) -> Result<Bob1, OtrError> {
    let v = elems(&parse_mpi_list(value, 6)?)?;
    let [g2a, c2, d2, g3a, c3, d3] =
        <[U1536; 6]>::try_from(v).map_err(|_| OtrError::Malformed("wrong number of SMP values"))?;
    check_elem(&g2a)?;
    check_elem(&g3a)?;
    check_exp(&d2)?;
    check_exp(&d3)?;
    check_proof(ct_eq(&c2, &h(1, &mul(&pow_g(&d2), &pow(&g2a, &c2)), None)))?;
    check_proof(ct_eq(&c3, &h(2, &mul(&pow_g(&d3), &pow(&g3a, &c3)), None)))?;
    Ok(Bob1 { g2a, g3a })
}

/// Step 2 (Bob, with his secret `y`): SMP message 2.
pub(crate) fn bob_step2(b1: &Bob1, y: U1536, rng: &mut dyn Random) -> (Bob2, Vec<u8>) {
    let y = Secret(y);
    let rnd = |rng: &mut dyn Random| Secret(group::random_exponent_mod_q(rng));
    let b2 = rnd(rng);
    let b3 = rnd(rng);
    let r2 = rnd(rng);
    let r3 = rnd(rng);
    let r4 = rnd(rng);
    let r5 = rnd(rng);
    let r6 = rnd(rng);
    let g2b = pow_g(&b2.0);
    let g3b = pow_g(&b3.0);
    let c2 = h(3, &pow_g(&r2.0), None);
    let d2 = group::sub_mul_mod_q(&r2.0, &b2.0, &c2);
    let c3 = h(4, &pow_g(&r3.0), None);
    let d3 = group::sub_mul_mod_q(&r3.0, &b3.0, &c3);
    let g2 = pow(&b1.g2a, &b2.0);
    let g3 = pow(&b1.g3a, &b3.0);
    let pb = pow(&g3, &r4.0);
    let qb = mul(&pow_g(&r4.0), &pow(&g2, &y.0));
    let cp = h(
        5,
        &pow(&g3, &r5.0),
        Some(&mul(&pow_g(&r5.0), &pow(&g2, &r6.0))),
    );
    let d5 = group::sub_mul_mod_q(&r5.0, &r4.0, &cp);
    let d6 = group::sub_mul_mod_q(&r6.0, &y.0, &cp);
    let msg = enc(&[&g2b, &c2, &d2, &g3b, &c3, &d3, &pb, &qb, &cp, &d5, &d6]);
    (
        Bob2 {
            g3a: b1.g3a,
            g2: Secret(g2),
            g3: Secret(g3),
            b3,
            pb,
            qb,
        },
        msg,
    )
}

/// Step 3 (Alice receives message 2): SMP message 3.
pub(crate) fn alice_step3(
    a1: &Alice1,
    value: &[u8],
    rng: &mut dyn Random,
) -> Result<(Alice3, Vec<u8>), OtrError> {
    let v = elems(&parse_mpi_list(value, 11)?)?;
    let [g2b, c2, d2, g3b, c3, d3, pb, qb, cp, d5, d6] = <[U1536; 11]>::try_from(v)
        .map_err(|_| OtrError::Malformed("wrong number of SMP values"))?;
    for e in [&g2b, &g3b, &pb, &qb] {
        check_elem(e)?;
    }
    for e in [&d2, &d3, &d5, &d6] {
        check_exp(e)?;
    }
    check_proof(ct_eq(&c2, &h(3, &mul(&pow_g(&d2), &pow(&g2b, &c2)), None)))?;
    check_proof(ct_eq(&c3, &h(4, &mul(&pow_g(&d3), &pow(&g3b, &c3)), None)))?;
    let g2 = Secret(pow(&g2b, &a1.a2.0));
    let g3 = Secret(pow(&g3b, &a1.a3.0));
    let (g2, g3) = (&g2.0, &g3.0);
    let t1 = mul(&pow(g3, &d5), &pow(&pb, &cp));
    let t2 = mul(&mul(&pow_g(&d5), &pow(g2, &d6)), &pow(&qb, &cp));
    check_proof(ct_eq(&cp, &h(5, &t1, Some(&t2))))?;

    let rnd = |rng: &mut dyn Random| Secret(group::random_exponent_mod_q(rng));
    let r4 = rnd(rng);
    let r5 = rnd(rng);
    let r6 = rnd(rng);
    let r7 = rnd(rng);
    let pa = pow(g3, &r4.0);
    let qa = mul(&pow_g(&r4.0), &pow(g2, &a1.x.0));
    let cp = h(
        6,
        &pow(g3, &r5.0),
        Some(&mul(&pow_g(&r5.0), &pow(g2, &r6.0))),
    );
    let d5 = group::sub_mul_mod_q(&r5.0, &r4.0, &cp);
    let d6 = group::sub_mul_mod_q(&r6.0, &a1.x.0, &cp);
    let qa_over_qb = div(&qa, &qb);
    let ra = pow(&qa_over_qb, &a1.a3.0);
    let cr = h(7, &pow_g(&r7.0), Some(&pow(&qa_over_qb, &r7.0)));
    let d7 = group::sub_mul_mod_q(&r7.0, &a1.a3.0, &cr);
    let msg = enc(&[&pa, &qa, &cp, &d5, &d6, &ra, &cr, &d7]);
    Ok((
        Alice3 {
            g3b,
            pa_over_pb: div(&pa, &pb),
            qa_over_qb,
            a3: Secret(a1.a3.0),
        },
        msg,
    ))
}

/// Step 4 (Bob receives message 3): SMP message 4 and the result.
pub(crate) fn bob_step4(
    b2: &Bob2,
    value: &[u8],
    rng: &mut dyn Random,
) -> Result<(bool, Vec<u8>), OtrError> {
    let v = elems(&parse_mpi_list(value, 8)?)?;
    let [pa, qa, cp, d5, d6, ra, cr, d7] =
        <[U1536; 8]>::try_from(v).map_err(|_| OtrError::Malformed("wrong number of SMP values"))?;
    for e in [&pa, &qa, &ra] {
        check_elem(e)?;
    }
    for e in [&d5, &d6, &d7] {
        check_exp(e)?;
    }
    let t1 = mul(&pow(&b2.g3.0, &d5), &pow(&pa, &cp));
    let t2 = mul(&mul(&pow_g(&d5), &pow(&b2.g2.0, &d6)), &pow(&qa, &cp));
    check_proof(ct_eq(&cp, &h(6, &t1, Some(&t2))))?;
    let qa_over_qb = div(&qa, &b2.qb);
    let u1 = mul(&pow_g(&d7), &pow(&b2.g3a, &cr));
    let u2 = mul(&pow(&qa_over_qb, &d7), &pow(&ra, &cr));
    check_proof(ct_eq(&cr, &h(7, &u1, Some(&u2))))?;

    let r7 = Secret(group::random_exponent_mod_q(rng));
    let rb = pow(&qa_over_qb, &b2.b3.0);
    let cr = h(8, &pow_g(&r7.0), Some(&pow(&qa_over_qb, &r7.0)));
    let d7 = group::sub_mul_mod_q(&r7.0, &b2.b3.0, &cr);
    let rab = pow(&ra, &b2.b3.0);
    let success = ct_eq(&rab, &div(&pa, &b2.pb));
    Ok((success, enc(&[&rb, &cr, &d7])))
}

/// Step 5 (Alice receives message 4): the result.
pub(crate) fn alice_step5(a3: &Alice3, value: &[u8]) -> Result<bool, OtrError> {
    let v = elems(&parse_mpi_list(value, 3)?)?;
    let [rb, cr, d7] =
        <[U1536; 3]>::try_from(v).map_err(|_| OtrError::Malformed("wrong number of SMP values"))?;
    check_elem(&rb)?;
    check_exp(&d7)?;
    let u1 = mul(&pow_g(&d7), &pow(&a3.g3b, &cr));
    let u2 = mul(&pow(&a3.qa_over_qb, &d7), &pow(&rb, &cr));
    check_proof(ct_eq(&cr, &h(8, &u1, Some(&u2))))?;
    let rab = pow(&rb, &a3.a3.0);
    Ok(ct_eq(&rab, &a3.pa_over_pb))
}

/// Split an SMP1Q TLV value into (question, SMP1 value).
pub(crate) fn split_question(value: &[u8]) -> Result<(String, &[u8]), OtrError> {
    let nul = value
        .iter()
        .position(|b| *b == 0)
        .ok_or(OtrError::Malformed("SMP question without NUL"))?;
    let q = String::from_utf8_lossy(value.get(..nul).unwrap_or_default()).into_owned();
    Ok((q, value.get(nul + 1..).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    struct R(rand_chacha::ChaCha20Rng);
    impl Random for R {
        fn fill(&mut self, buf: &mut [u8]) {
            self.0.fill_bytes(buf);
        }
    }

    fn run(x: &[u8], y: &[u8]) -> (bool, bool) {
        let mut rng = R(rand_chacha::ChaCha20Rng::seed_from_u64(7));
        let fa = Fingerprint([1; 20]);
        let fb = Fingerprint([2; 20]);
        let ssid = [9u8; 8];
        let (a1, m1) = alice_step1(combined_secret(&fa, &fb, &ssid, x), &mut rng);
        let b1 = bob_receive1(&m1).unwrap();
        let (b2, m2) = bob_step2(&b1, combined_secret(&fa, &fb, &ssid, y), &mut rng);
        let (a3, m3) = alice_step3(&a1, &m2, &mut rng).unwrap();
        let (bob_ok, m4) = bob_step4(&b2, &m3, &mut rng).unwrap();
        let alice_ok = alice_step5(&a3, &m4).unwrap();
        (alice_ok, bob_ok)
    }

    #[test]
    fn smp_same_and_different_secrets() {
        assert_eq!(run(b"secret", b"secret"), (true, true));
        assert_eq!(run(b"secret", b"Secret"), (false, false));
    }

    #[test]
    fn smp_rejects_tampered_proof() {
        let mut rng = R(rand_chacha::ChaCha20Rng::seed_from_u64(8));
        let (_a1, mut m1) = alice_step1(U1536::from_u8(5), &mut rng);
        let last = m1.len() - 1;
        m1[last] ^= 1;
        assert!(bob_receive1(&m1).is_err());
    }
}
