//! Feeds fuzzer bytes to `SrtpContext::unprotect_rtp` / `unprotect_rtcp` for every profile,
//! with and without an MKI: nothing may panic, nothing forged may authenticate, and a genuine
//! packet protected afterwards must still round-trip (no bad packet breaks the context).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_srtp::{Config, Profile, SrtpContext};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, rest)) = input.split_first() else { return };
    let profile = Profile::ALL[usize::from(sel % 6)];
    let rtcp = sel & 0x08 != 0;
    let mki = (sel & 0x10 != 0).then(|| vec![0xA1, 0xB2]);
    let key = vec![0x42u8; profile.key_len()];
    let salt = vec![0x24u8; profile.salt_len()];
    let config = Config { mki, max_streams: 4, ..Config::default() };
    let Ok(mut tx) = SrtpContext::new(profile, &key, &salt, config.clone()) else { return };
    let Ok(mut rx) = SrtpContext::new(profile, &key, &salt, config) else { return };

    // The rest is several packets separated by 0xFF 0x00.
    for chunk in rest.split(|b| *b == 0xFF) {
        let mut buf = chunk.to_vec();
        let r = if rtcp { rx.unprotect_rtcp(&mut buf) } else { rx.unprotect_rtp(&mut buf) };
        // A random packet authenticating would be a forgery (probability 2^-32 at worst).
        assert!(r.is_err(), "fuzzer bytes authenticated");
    }

    // The context still works.
    let plain: Vec<u8> = if rtcp {
        vec![0x80, 200, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4]
    } else {
        vec![0x80, 0x60, 0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 5, 6, 7, 8]
    };
    let mut p = plain.clone();
    if rtcp {
        tx.protect_rtcp_vec(&mut p).unwrap();
        rx.unprotect_rtcp_vec(&mut p).unwrap();
    } else {
        tx.protect_rtp_vec(&mut p).unwrap();
        rx.unprotect_rtp_vec(&mut p).unwrap();
    }
    assert_eq!(p, plain);
});
