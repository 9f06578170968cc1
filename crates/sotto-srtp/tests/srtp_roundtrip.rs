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
//! Two contexts (sender, receiver) for every profile: wrap, gaps, reordering, several SSRCs,
//! CSRCs and header extensions, MKI, nonzero key derivation rate.

mod common;
use common::{keys, pair, rtcp, rtp};
use sotto_srtp::{Config, Error, Profile, SrtpContext, UnknownSsrc};

fn send_recv(tx: &mut SrtpContext, rx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut p = plain.to_vec();
    tx.protect_rtp_vec(&mut p).unwrap();
    if plain.len() > 12 + 60 + 16 {
        assert_ne!(&p[..plain.len()], plain, "payload must be encrypted");
    }
    let wire = p.clone();
    rx.unprotect_rtp_vec(&mut p).unwrap();
    assert_eq!(p, plain);
    wire
}

#[test]
fn every_profile_round_trips_with_csrcs_and_extensions() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        for (i, (cc, ext)) in [(0, 0), (2, 0), (0, 3), (15, 2)].into_iter().enumerate() {
            let plain = rtp(0x1234_5678, 100 + i as u16, 160, cc, ext);
            let wire = send_recv(&mut tx, &mut rx, &plain);
            assert_eq!(wire.len(), plain.len() + profile.srtp_tag_len());
            // Header (with CSRCs and extension) stays in the clear.
            let hl = 12 + 4 * cc as usize + if ext > 0 { 4 + 4 * ext as usize } else { 0 };
            assert_eq!(wire[..hl], plain[..hl], "{profile}");
        }
        // Header-only packet (empty payload).
        send_recv(&mut tx, &mut rx, &rtp(0x1234_5678, 200, 0, 0, 0));
        // SRTCP.
        for k in 0..3u8 {
            let plain = rtcp(0x1234_5678, k + 1);
            let mut p = plain.clone();
            tx.protect_rtcp_vec(&mut p).unwrap();
            assert_eq!(p.len(), plain.len() + profile.srtcp_overhead(0));
            assert_eq!(p[..8], plain[..8]);
            assert_ne!(p[8..plain.len()], plain[8..]);
            rx.unprotect_rtcp_vec(&mut p).unwrap();
            assert_eq!(p, plain);
        }
    }
}

#[test]
fn sequence_wrap_gives_roc_1() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        for seq in (0xFFF0u16..=0xFFFF).chain(0..16) {
            send_recv(&mut tx, &mut rx, &rtp(7, seq, 40, 0, 0));
        }
        assert_eq!(rx.roc(7), Some(1));
        assert_eq!(tx.roc(7), Some(1));
    }
}

#[test]
fn loss_gaps_up_to_2_pow_15_and_reordering() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        // Sender sends everything; the network delivers a subset, reordered.
        let mut wires = Vec::new();
        let mut seq: u16 = 0xF000;
        for _ in 0..40 {
            let mut p = rtp(9, seq, 20, 0, 0);
            tx.protect_rtp_vec(&mut p).unwrap();
            wires.push((seq, p));
            seq = seq.wrapping_add(1);
        }
        // A gap of 2^15 - 1 packets the receiver never sees (still sent, to move the sender).
        for _ in 0..0x7FFF - 1 {
            let mut p = rtp(9, seq, 0, 0, 0);
            tx.protect_rtp_vec(&mut p).unwrap();
            seq = seq.wrapping_add(1);
        }
        for _ in 0..40 {
            let mut p = rtp(9, seq, 20, 0, 0);
            tx.protect_rtp_vec(&mut p).unwrap();
            wires.push((seq, p));
            seq = seq.wrapping_add(1);
        }
        // Deliver the first 40 reordered in blocks of 8, then the rest in order.
        let mut order: Vec<usize> = Vec::new();
        for block in 0..5 {
            order.extend((0..8).rev().map(|i| block * 8 + i));
        }
        order.extend(40..80);
        for i in order {
            let (s, w) = &wires[i];
            let mut p = w.clone();
            rx.unprotect_rtp_vec(&mut p)
                .unwrap_or_else(|e| panic!("{profile} seq {s:#x}: {e}"));
            assert_eq!(p, rtp(9, *s, 20, 0, 0));
        }
        // seq started at 0xF000 and advanced 2^15 + 78: ROC 1.
        assert_eq!(rx.roc(9), Some(1), "{profile}");
    }
}

#[test]
fn several_ssrcs_have_independent_state() {
    let profile = Profile::Aes128CmHmacSha1_80;
    let (mut tx, mut rx) = pair(profile, Config::default());
    for seq in 0..50u16 {
        for ssrc in [1u32, 2, 3] {
            // Each SSRC is at a different place in its sequence space.
            let s = seq.wrapping_add((ssrc as u16) * 0x5555);
            send_recv(&mut tx, &mut rx, &rtp(ssrc, s, 30, 0, 0));
        }
    }
    assert_eq!(rx.roc(1), Some(0));
    // SSRC 3 started at 0xFFFF: it wrapped.
    assert_eq!(rx.roc(3), Some(1));
    // The same seq on another SSRC is not a replay.
    let mut tx2 = SrtpContext::new(
        profile,
        &keys(profile, 42).0,
        &keys(profile, 42).1,
        Config::default(),
    )
    .unwrap();
    let mut p = rtp(4, 0x5555, 30, 0, 0);
    tx2.protect_rtp_vec(&mut p).unwrap();
    rx.unprotect_rtp_vec(&mut p).unwrap();
}

#[test]
fn unknown_ssrc_policy() {
    let profile = Profile::AeadAes128Gcm;
    let (k, s) = keys(profile, 42);
    let mut tx = SrtpContext::new(profile, &k, &s, Config::default()).unwrap();
    let cfg = Config {
        unknown_ssrc: UnknownSsrc::Reject,
        ..Config::default()
    };
    let mut rx = SrtpContext::new(profile, &k, &s, cfg).unwrap();
    let mut p = rtp(77, 1, 10, 0, 0);
    tx.protect_rtp_vec(&mut p).unwrap();
    let wire = p.clone();
    assert_eq!(rx.unprotect_rtp_vec(&mut p), Err(Error::UnknownSsrc(77)));
    rx.add_stream(77, 0).unwrap();
    let mut p = wire;
    rx.unprotect_rtp_vec(&mut p).unwrap();

    // Learn, but bounded.
    let cfg = Config {
        max_streams: 2,
        ..Config::default()
    };
    let mut rx = SrtpContext::new(profile, &k, &s, cfg).unwrap();
    for ssrc in [1u32, 2] {
        let mut p = rtp(ssrc, 1, 10, 0, 0);
        tx.protect_rtp_vec(&mut p).unwrap();
        rx.unprotect_rtp_vec(&mut p).unwrap();
    }
    let mut p = rtp(3, 1, 10, 0, 0);
    tx.protect_rtp_vec(&mut p).unwrap();
    assert_eq!(rx.unprotect_rtp_vec(&mut p), Err(Error::TooManyStreams));
}

#[test]
fn unauthenticated_packets_do_not_create_streams() {
    let profile = Profile::Aes128CmHmacSha1_80;
    let (k, s) = keys(profile, 42);
    let cfg = Config {
        max_streams: 1,
        ..Config::default()
    };
    let mut rx = SrtpContext::new(profile, &k, &s, cfg).unwrap();
    for ssrc in 0..100u32 {
        let mut junk = rtp(ssrc, 5, 40, 0, 0);
        junk.extend_from_slice(&[0u8; 10]);
        assert_eq!(
            rx.unprotect_rtp(&mut junk),
            Err(Error::AuthenticationFailed)
        );
    }
    let (mut tx, _) = pair(profile, Config::default());
    let mut p = rtp(1000, 5, 40, 0, 0);
    tx.protect_rtp_vec(&mut p).unwrap();
    rx.unprotect_rtp_vec(&mut p).unwrap();
}

#[test]
fn mki_is_written_and_checked() {
    for profile in Profile::ALL {
        let cfg = Config {
            mki: Some(vec![0xAB, 0xCD, 0xEF, 0x01]),
            ..Config::default()
        };
        let (mut tx, mut rx) = pair(profile, cfg);
        let plain = rtp(5, 10, 50, 1, 1);
        let mut p = plain.clone();
        tx.protect_rtp_vec(&mut p).unwrap();
        assert_eq!(p.len(), plain.len() + profile.srtp_tag_len() + 4);
        let mki_at = if profile.is_aead() {
            p.len() - 4
        } else {
            plain.len()
        };
        assert_eq!(p[mki_at..mki_at + 4], [0xAB, 0xCD, 0xEF, 0x01]);
        let mut wrong = p.clone();
        wrong[mki_at] ^= 1;
        assert_eq!(rx.unprotect_rtp_vec(&mut wrong), Err(Error::MkiMismatch));
        rx.unprotect_rtp_vec(&mut p).unwrap();
        assert_eq!(p, plain);

        let plain = rtcp(5, 3);
        let mut p = plain.clone();
        tx.protect_rtcp_vec(&mut p).unwrap();
        assert_eq!(p.len(), plain.len() + profile.srtcp_overhead(4));
        rx.unprotect_rtcp_vec(&mut p).unwrap();
        assert_eq!(p, plain);
    }
}

#[test]
fn nonzero_key_derivation_rate_rekeys_and_round_trips() {
    for profile in [Profile::Aes128CmHmacSha1_80, Profile::AeadAes256Gcm] {
        let cfg = Config {
            key_derivation_rate: 16,
            ..Config::default()
        };
        let (mut tx, mut rx) = pair(profile, cfg);
        let (mut tx0, _) = pair(profile, Config::default());
        let mut differ = false;
        for seq in 0..100u16 {
            let plain = rtp(3, seq, 24, 0, 0);
            let wire = send_recv(&mut tx, &mut rx, &plain);
            let mut p0 = plain.clone();
            tx0.protect_rtp_vec(&mut p0).unwrap();
            if seq < 16 {
                assert_eq!(wire, p0, "r = 0 keys equal the KDR-0 keys");
            } else if wire != p0 {
                differ = true;
            }
        }
        assert!(differ, "keys change after index 16");
        for k in 0..40u8 {
            let plain = rtcp(3, k);
            let mut p = plain.clone();
            tx.protect_rtcp_vec(&mut p).unwrap();
            rx.unprotect_rtcp_vec(&mut p).unwrap();
            assert_eq!(p, plain);
        }
    }
    let (k, s) = keys(Profile::Aes128CmHmacSha1_80, 1);
    let bad = Config {
        key_derivation_rate: 3,
        ..Config::default()
    };
    assert!(SrtpContext::new(Profile::Aes128CmHmacSha1_80, &k, &s, bad).is_err());
}

#[test]
fn wrong_key_lengths_and_small_buffers_are_errors() {
    let p = Profile::Aes256CmHmacSha1_80;
    assert!(SrtpContext::new(p, &[0; 16], &[0; 14], Config::default()).is_err());
    assert!(SrtpContext::new(p, &[0; 32], &[0; 12], Config::default()).is_err());
    let (mut tx, _) = pair(p, Config::default());
    let plain = rtp(1, 1, 20, 0, 0);
    let mut buf = plain.clone();
    let n = buf.len();
    assert_eq!(
        tx.protect_rtp(&mut buf, n),
        Err(Error::BufferTooSmall { needed: n + 10 })
    );
    assert_eq!(buf, plain, "untouched on error");
}

#[test]
fn larger_replay_window_accepts_deep_reordering() {
    let cfg = Config {
        replay_window: 4096,
        ..Config::default()
    };
    let (mut tx, mut rx) = pair(Profile::AeadAes128Gcm, cfg);
    let mut wires = Vec::new();
    for seq in 0..3000u16 {
        let mut p = rtp(1, seq, 10, 0, 0);
        tx.protect_rtp_vec(&mut p).unwrap();
        wires.push(p);
    }
    for w in wires.iter().rev() {
        let mut p = w.clone();
        rx.unprotect_rtp_vec(&mut p).unwrap();
    }
}

#[test]
fn srtcp_tags_like_srtp_only_when_asked() {
    let profile = Profile::Aes128CmHmacSha1_32;
    let cfg = Config {
        srtcp_tag_like_srtp: true,
        ..Config::default()
    };
    let (mut tx, mut rx) = pair(profile, cfg);
    let (_, mut rx_default) = pair(profile, Config::default());
    assert_eq!(tx.srtcp_overhead(), 8);
    let plain = rtcp(1, 2);
    let mut p = plain.clone();
    tx.protect_rtcp_vec(&mut p).unwrap();
    assert_eq!(p.len(), plain.len() + 8);
    let mut q = p.clone();
    assert!(
        rx_default.unprotect_rtcp_vec(&mut q).is_err(),
        "80-bit receiver refuses it"
    );
    rx.unprotect_rtcp_vec(&mut p).unwrap();
    assert_eq!(p, plain);
    // No effect on an 80-bit profile.
    let cfg = Config {
        srtcp_tag_like_srtp: true,
        ..Config::default()
    };
    let (tx80, _) = pair(Profile::Aes128CmHmacSha1_80, cfg);
    assert_eq!(tx80.srtcp_overhead(), 14);
}
