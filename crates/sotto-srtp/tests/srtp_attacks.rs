#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "test code"
)]
//! Attacks on the receiver: replay, every single bit flip, truncation, far-future forgeries.
//! None of them may be accepted and none may change the context: the packets that follow still
//! decrypt, and the replay window still remembers what it remembered.

mod common;
use common::{pair, rtcp, rtp};
use sotto_srtp::{Config, Error, Fault, Profile};

fn protect_rtp(tx: &mut sotto_srtp::SrtpContext, seq: u16) -> (Vec<u8>, Vec<u8>) {
    let plain = rtp(0xCAFE_F00D, seq, 48, 1, 1);
    let mut p = plain.clone();
    tx.protect_rtp_vec(&mut p).unwrap();
    (plain, p)
}

#[test]
fn replayed_packets_rejected_before_decryption() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let mut wires = Vec::new();
        for seq in 10..20u16 {
            let (plain, wire) = protect_rtp(&mut tx, seq);
            let mut p = wire.clone();
            rx.unprotect_rtp_vec(&mut p).unwrap();
            assert_eq!(p, plain);
            wires.push(wire);
        }
        for w in &wires {
            let mut p = w.clone();
            assert_eq!(
                rx.unprotect_rtp_vec(&mut p),
                Err(Error::Replayed),
                "{profile}"
            );
            assert_eq!(&p, w, "a replay is refused before any byte is touched");
        }
        // SRTCP replay.
        let plain = rtcp(0xCAFE_F00D, 9);
        let mut p = plain.clone();
        tx.protect_rtcp_vec(&mut p).unwrap();
        let wire = p.clone();
        rx.unprotect_rtcp_vec(&mut p).unwrap();
        let mut p = wire.clone();
        assert_eq!(rx.unprotect_rtcp_vec(&mut p), Err(Error::Replayed));
        // The stream goes on.
        let (plain, mut w) = protect_rtp(&mut tx, 20);
        rx.unprotect_rtp_vec(&mut w).unwrap();
        assert_eq!(w, plain);
    }
}

#[test]
fn too_old_packets_rejected() {
    let (mut tx, mut rx) = pair(
        Profile::Aes128CmHmacSha1_80,
        Config {
            replay_window: 64,
            ..Config::default()
        },
    );
    let (_, old) = protect_rtp(&mut tx, 1);
    for seq in 2..200u16 {
        let (_, mut w) = protect_rtp(&mut tx, seq);
        rx.unprotect_rtp_vec(&mut w).unwrap();
    }
    let mut p = old;
    let e = rx.unprotect_rtp_vec(&mut p).unwrap_err();
    assert_eq!(e, Error::TooOld);
    assert_eq!(e.fault(), Fault::Peer);
}

#[test]
fn every_single_bit_flip_is_rejected_and_changes_nothing() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(
            profile,
            Config {
                mki: Some(vec![1, 2]),
                ..Config::default()
            },
        );
        // Warm up: receive seq 100 so there is a window to corrupt.
        let (_, mut w) = protect_rtp(&mut tx, 100);
        rx.unprotect_rtp_vec(&mut w).unwrap();
        let (plain, wire) = protect_rtp(&mut tx, 101);
        for bit in 0..wire.len() * 8 {
            let mut p = wire.clone();
            p[bit / 8] ^= 1 << (bit % 8);
            let r = rx.unprotect_rtp_vec(&mut p);
            assert!(r.is_err(), "{profile}: flip of bit {bit} accepted");
        }
        assert_eq!(rx.roc(0xCAFE_F00D), Some(0));
        let mut p = wire.clone();
        rx.unprotect_rtp_vec(&mut p).unwrap();
        assert_eq!(p, plain, "{profile}: the genuine packet still decrypts");

        // SRTCP.
        let plain = rtcp(0xCAFE_F00D, 5);
        let mut p = plain.clone();
        tx.protect_rtcp_vec(&mut p).unwrap();
        let wire = p;
        for bit in 0..wire.len() * 8 {
            let mut p = wire.clone();
            p[bit / 8] ^= 1 << (bit % 8);
            assert!(
                rx.unprotect_rtcp_vec(&mut p).is_err(),
                "{profile}: SRTCP bit {bit} accepted"
            );
        }
        let mut p = wire.clone();
        rx.unprotect_rtcp_vec(&mut p).unwrap();
        assert_eq!(p, plain);
    }
}

#[test]
fn truncated_packets_rejected_and_change_nothing() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let (plain, wire) = protect_rtp(&mut tx, 7);
        for n in 0..wire.len() {
            let mut p = wire[..n].to_vec();
            assert!(
                rx.unprotect_rtp_vec(&mut p).is_err(),
                "{profile}: truncated to {n} accepted"
            );
        }
        // And extended by junk: also rejected.
        let mut p = wire.clone();
        p.push(0);
        assert!(rx.unprotect_rtp_vec(&mut p).is_err());
        let mut p = wire.clone();
        rx.unprotect_rtp_vec(&mut p).unwrap();
        assert_eq!(p, plain);

        let plain = rtcp(0xCAFE_F00D, 1);
        let mut p = plain.clone();
        tx.protect_rtcp_vec(&mut p).unwrap();
        let wire = p;
        for n in 0..wire.len() {
            let mut p = wire[..n].to_vec();
            assert!(
                rx.unprotect_rtcp_vec(&mut p).is_err(),
                "{profile}: SRTCP truncated to {n}"
            );
        }
        let mut p = wire.clone();
        rx.unprotect_rtcp_vec(&mut p).unwrap();
        assert_eq!(p, plain);
    }
}

#[test]
fn forged_far_future_packet_does_not_move_the_window() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let (_, mut w) = protect_rtp(&mut tx, 1000);
        rx.unprotect_rtp_vec(&mut w).unwrap();
        let (plain_a, a) = protect_rtp(&mut tx, 1001);
        let (plain_b, b) = protect_rtp(&mut tx, 1002);
        // An attacker rewrites seq to jump 30000 ahead (and would move ROC if we believed it).
        let mut forged = b.clone();
        forged[2..4].copy_from_slice(&31_002u16.to_be_bytes());
        assert_eq!(
            rx.unprotect_rtp_vec(&mut forged),
            Err(Error::AuthenticationFailed)
        );
        let mut forged = b.clone();
        forged[2..4].copy_from_slice(&(1002u16.wrapping_sub(40_000)).to_be_bytes());
        assert!(rx.unprotect_rtp_vec(&mut forged).is_err());
        // Both genuine packets still pass, in reverse order.
        let mut p = b.clone();
        rx.unprotect_rtp_vec(&mut p).unwrap();
        assert_eq!(p, plain_b);
        let mut p = a.clone();
        rx.unprotect_rtp_vec(&mut p).unwrap();
        assert_eq!(p, plain_a);
        assert_eq!(rx.roc(0xCAFE_F00D), Some(0));
    }
}

#[test]
fn wrong_key_is_an_authentication_failure_without_detail() {
    let profile = Profile::Aes256CmHmacSha1_32;
    let (mut tx, _) = pair(profile, Config::default());
    let (k, s) = common::keys(profile, 43);
    let mut rx = sotto_srtp::SrtpContext::new(profile, &k, &s, Config::default()).unwrap();
    let (_, mut w) = protect_rtp(&mut tx, 1);
    let e = rx.unprotect_rtp_vec(&mut w).unwrap_err();
    assert_eq!(e, Error::AuthenticationFailed);
    assert_eq!(e.fault(), Fault::Crypto);
    assert_eq!(e.to_string(), "authentication failed");
}

#[test]
fn a_rejected_packet_never_leaves_plaintext_in_the_buffer() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let (plain, wire) = protect_rtp(&mut tx, 7);
        let mut p = wire.clone();
        let last = p.len() - 1;
        p[last] ^= 1; // bad tag
        assert_eq!(
            rx.unprotect_rtp(&mut p),
            Err(Error::AuthenticationFailed),
            "{profile}"
        );
        let header_len = sotto_srtp::RtpHeaderView::parse(&plain).unwrap().header_len;
        let payload = &plain[header_len..];
        assert_ne!(
            &p[header_len..header_len + payload.len()],
            payload,
            "{profile}: plaintext left in the buffer after a failed unprotect"
        );
        if !profile.is_aead() {
            assert_eq!(
                &p[..last],
                &wire[..last],
                "{profile}: AES-CM leaves it as received"
            );
        }
        // And the context still takes the genuine packet.
        let mut p = wire.clone();
        let n = rx.unprotect_rtp(&mut p).unwrap();
        assert_eq!(&p[..n], &plain[..], "{profile}");
    }
}
