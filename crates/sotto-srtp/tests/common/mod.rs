//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test helpers; each test file uses a subset"
)]

use sotto_srtp::{Config, Profile, SrtpContext};

/// Deterministic key material for a profile.
pub(crate) fn keys(profile: Profile, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.key_len())
        .map(|i| seed.wrapping_add(i as u8).wrapping_mul(7))
        .collect();
    let salt = (0..profile.salt_len())
        .map(|i| seed ^ (0xA5u8.wrapping_add(i as u8)))
        .collect();
    (key, salt)
}

pub(crate) fn pair(profile: Profile, config: Config) -> (SrtpContext, SrtpContext) {
    let (k, s) = keys(profile, 42);
    (
        SrtpContext::new(profile, &k, &s, config.clone()).unwrap(),
        SrtpContext::new(profile, &k, &s, config).unwrap(),
    )
}

/// An RTP packet: V=2, optional CSRCs and header extension, `payload_len` octets of payload.
pub(crate) fn rtp(ssrc: u32, seq: u16, payload_len: usize, csrcs: u8, ext_words: u16) -> Vec<u8> {
    let mut p = vec![0x80 | (csrcs & 0x0F), 0x60];
    if ext_words > 0 {
        p[0] |= 0x10;
    }
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in 0..csrcs {
        p.extend_from_slice(&(0x1000_0000u32 + u32::from(c)).to_be_bytes());
    }
    if ext_words > 0 {
        p.extend_from_slice(&[0xBE, 0xDE]);
        p.extend_from_slice(&ext_words.to_be_bytes());
        for w in 0..ext_words {
            p.extend_from_slice(&[0x10, w as u8, 0xAA, 0xBB]);
        }
    }
    p.extend((0..payload_len).map(|i| (i as u8) ^ (seq as u8)));
    p
}

/// An RTCP receiver report with one report block.
pub(crate) fn rtcp(ssrc: u32, salt: u8) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0x00, 0x07];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..24).map(|i| (i as u8).wrapping_mul(salt)));
    p
}
