//! Incoming offers a phone cannot answer, driven by a plain sotto-sip user agent as the caller:
//! a G.711-only offer to a phone configured for Opus only is refused at once with 488 Not
//! Acceptable Here (RFC 3261 §13.3.1.3, RFC 3264 §6), the 488 really goes out, and the phone
//! does not ring. (The default configuration accepts G.711: see `call_virtual_clock.rs`.)
//!
//! Peers with SDES-SRTP instead of ZRTP, on a virtual clock: an incoming RTP/SAVP offer with
//! `a=crypto` and no ZRTP ends, once ZRTP times out, with a reason that names SDES; with
//! `allow_insecure` the call goes on unencrypted and the phone says so (`CallEvent::ZrtpFailed`);
//! and a peer that answers our RTP/AVP offer with 488 gets a reason that points at SDES.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    missing_docs,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto_call::phone::{CallEvent, Output, Phone, PhoneConfig, Socket};
use sotto_call::security::SecurityState;
use sotto_proto::Zid;
use sotto_proto::crypto::Random;
use sotto_sip::UserAgent;
use sotto_sip::ua::{EndReason, UaConfig, UaEvent, UaOutput};

mod support;
use support::Seeded;

const G711_ONLY: &str = "v=0\r\n\
o=lp 411 2867 IN IP4 127.0.0.1\r\n\
s=Talk\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 7078 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=zrtp-hash:1.10 ceb61a8b1221a3112d794ac16686de8de0f5f3f5c060e44262aa2227324d067e\r\n";

#[test]
fn a_g711_only_offer_gets_488_at_once_from_an_opus_only_phone() {
    let a_addr: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let b_sip: SocketAddr = "127.0.0.1:5062".parse().unwrap();
    let b_media: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let mut n = 0u64;
    let rngs = Box::new(move || {
        n += 1;
        Box::new(Seeded(ChaCha20Rng::seed_from_u64(n))) as Box<dyn Random>
    });
    let mut cfg = PhoneConfig::new(b_sip, b_media, "b", Zid([7; 12]));
    // A phone configured for Opus only (the default also accepts G.711).
    cfg.codecs = vec![sotto_sip::sdp::Codec::Opus];
    let mut phone = Phone::new(cfg, rngs, Box::new(|| None));
    let mut ua = UserAgent::new(
        UaConfig::new(a_addr, "lp"),
        Box::new(Seeded(ChaCha20Rng::seed_from_u64(99))),
    );
    let now = Instant::now();
    ua.invite(
        now,
        "sip:b@127.0.0.1:5062".parse().unwrap(),
        b_sip,
        G711_ONLY.as_bytes().to_vec(),
    );
    let mut statuses = Vec::new();
    let mut phone_events = Vec::new();
    let mut ua_events = Vec::new();
    for step in 0..20u64 {
        let t = now + Duration::from_millis(step);
        while let Some(o) = ua.poll_output() {
            match o {
                UaOutput::Transmit { to, data } => {
                    assert_eq!(to, b_sip);
                    phone.handle_sip(t, a_addr, &data);
                }
                UaOutput::Event(e) => ua_events.push(e),
            }
        }
        while let Some(o) = phone.poll_output() {
            match o {
                Output::Transmit { socket, to, data } => {
                    assert_eq!(socket, Socket::Sip, "no media for a refused call");
                    assert_eq!(to, a_addr);
                    let text = String::from_utf8_lossy(&data).to_string();
                    if let Some(code) = text.strip_prefix("SIP/2.0 ") {
                        statuses.push(code[..3].parse::<u16>().unwrap());
                    }
                    ua.handle_datagram(t, b_sip, &data);
                }
                Output::Event(e) => phone_events.push(e),
            }
        }
    }
    assert!(statuses.contains(&488), "statuses sent: {statuses:?}");
    assert!(!statuses.contains(&180), "it rang: {statuses:?}");
    assert!(
        ua_events.iter().any(|e| matches!(
            e,
            UaEvent::Ended {
                reason: EndReason::Rejected(488),
                ..
            }
        )),
        "{ua_events:?}"
    );
    assert!(
        !phone_events
            .iter()
            .any(|e| matches!(e, CallEvent::IncomingCall { .. })),
        "{phone_events:?}"
    );
    assert!(
        phone_events
            .iter()
            .any(|e| matches!(e, CallEvent::Ended { reason } if reason.contains("488"))),
        "{phone_events:?}"
    );
    assert!(phone.security().is_none(), "no call is left behind");
}

/// What baresip with `mediaenc=srtp-mand` offers: RTP/SAVP, SDES keys (RFC 4568), no ZRTP.
const SDES_ONLY: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 7078 RTP/SAVP 111 0 8\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\
a=sendrecv\r\n";

/// One [`drive`]: the phone, its events with the time they came at, the media packets it sent
/// (time, first byte), and the agent's events.
struct Run {
    phone: Phone,
    events: Vec<(Duration, CallEvent)>,
    media: Vec<(Duration, u8)>,
    ua_events: Vec<UaEvent>,
}

/// A plain sotto-sip user agent `lp` at 127.0.0.1:5070 and a phone `b` (SIP 5062, media
/// 40002), driven together on a virtual clock in 10 ms steps for `secs` seconds.
/// `on_ua_event` lets the agent act (answer, reject); the phone answers any incoming call.
fn drive(
    allow_insecure: bool,
    secs: u64,
    start: impl FnOnce(Instant, &mut Phone, &mut UserAgent),
    mut on_ua_event: impl FnMut(Instant, &mut UserAgent, &UaEvent),
) -> Run {
    let a_addr: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let b_sip: SocketAddr = "127.0.0.1:5062".parse().unwrap();
    let b_media: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let mut n = 0u64;
    let rngs = Box::new(move || {
        n += 1;
        Box::new(Seeded(ChaCha20Rng::seed_from_u64(n))) as Box<dyn Random>
    });
    let mut cfg = PhoneConfig::new(b_sip, b_media, "b", Zid([7; 12]));
    cfg.allow_insecure = allow_insecure;
    let mut phone = Phone::new(cfg, rngs, Box::new(|| None));
    let mut ua = UserAgent::new(
        UaConfig::new(a_addr, "lp"),
        Box::new(Seeded(ChaCha20Rng::seed_from_u64(99))),
    );
    let t0 = Instant::now();
    phone.start(t0);
    start(t0, &mut phone, &mut ua);
    let mut run = Run {
        phone,
        events: Vec::new(),
        media: Vec::new(),
        ua_events: Vec::new(),
    };
    for step in 0..secs * 100 {
        let since = Duration::from_millis(step * 10);
        let t = t0 + since;
        ua.handle_timeout(t);
        run.phone.handle_timeout(t);
        loop {
            let mut idle = true;
            while let Some(o) = ua.poll_output() {
                idle = false;
                match o {
                    UaOutput::Transmit { to, data } => {
                        assert_eq!(to, b_sip);
                        run.phone.handle_sip(t, a_addr, &data);
                    }
                    UaOutput::Event(e) => {
                        on_ua_event(t, &mut ua, &e);
                        run.ua_events.push(e);
                    }
                }
            }
            while let Some(o) = run.phone.poll_output() {
                idle = false;
                match o {
                    Output::Transmit { socket, data, .. } => match socket {
                        Socket::Sip => ua.handle_datagram(t, b_sip, &data),
                        // The peer speaks no ZRTP: media is counted, never answered.
                        _ => run.media.push((since, data.first().copied().unwrap_or(0))),
                    },
                    Output::Event(e) => {
                        if matches!(e, CallEvent::IncomingCall { .. }) {
                            run.phone.answer(t).unwrap();
                        }
                        run.events.push((since, e));
                    }
                }
            }
            if idle {
                break;
            }
        }
    }
    run
}

/// The agent calls the phone with `offer`.
fn invite_with(offer: &'static str) -> impl FnOnce(Instant, &mut Phone, &mut UserAgent) {
    move |now, _, ua| {
        ua.invite(
            now,
            "sip:b@127.0.0.1:5062".parse().unwrap(),
            "127.0.0.1:5062".parse().unwrap(),
            offer.as_bytes().to_vec(),
        );
    }
}

#[test]
fn an_sdes_only_offer_ends_with_a_reason_that_names_sdes() {
    let run = drive(false, 40, invite_with(SDES_ONLY), |_, _, _| {});
    let ended: Vec<_> = run
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            CallEvent::Ended { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        [
            "the other phone offered only SDES-SRTP keys, which travel through the SIP servers; \
          sotto requires ZRTP, so the call was not connected because it could not be verified \
          end to end"
        ],
        "{:?}",
        run.events
    );
    assert!(
        run.events
            .iter()
            .any(|(_, e)| matches!(e, CallEvent::Connecting)),
        "{:?}",
        run.events
    );
    // Only ZRTP packets (first byte 0x10: RFC 6189 §5) went to the peer, never audio.
    assert!(!run.media.is_empty());
    assert!(run.media.iter().all(|&(_, b)| b == 0x10), "{:?}", run.media);
    // The caller saw the BYE.
    assert!(
        run.ua_events
            .iter()
            .any(|e| matches!(e, UaEvent::Ended { .. })),
        "{:?}",
        run.ua_events
    );
    assert!(run.phone.security().is_none(), "no call is left behind");
}

#[test]
fn with_allow_insecure_a_zrtp_failure_is_an_event_and_the_call_goes_on() {
    let run = drive(true, 40, invite_with(SDES_ONLY), |_, _, _| {});
    let failed: Vec<_> = run
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            CallEvent::ZrtpFailed { reason } => Some((*at, reason.as_str())),
            _ => None,
        })
        .collect();
    let [(at, reason)] = failed.as_slice() else {
        panic!("one ZrtpFailed expected: {:?}", run.events);
    };
    assert_eq!(
        *reason,
        "the other phone offered only SDES-SRTP keys, which travel through the SIP servers, and \
         no ZRTP; the call goes on NOT ENCRYPTED, as you allowed"
    );
    // ZRTP gave up during the call, which did not end and is still insecure.
    assert!(
        *at > Duration::from_secs(1) && *at < Duration::from_secs(35),
        "{at:?}"
    );
    assert!(
        !run.events
            .iter()
            .any(|(_, e)| matches!(e, CallEvent::Ended { .. })),
        "{:?}",
        run.events
    );
    assert_eq!(run.phone.security(), Some(&SecurityState::Insecure));
    // Clear RTP (version 2: first byte 0x80) kept flowing after ZRTP gave up, and ZRTP went quiet.
    let after: Vec<_> = run.media.iter().filter(|&&(t, _)| t > *at).collect();
    assert!(
        after.iter().filter(|&&&(_, b)| b & 0xc0 == 0x80).count() > 100,
        "{after:?}"
    );
    assert!(after.iter().all(|&&(_, b)| b != 0x10), "{after:?}");
    assert!(run.phone.stats().unwrap().clear_rtp_sent > 100);
}

#[test]
fn a_488_to_our_offer_points_at_sdes() {
    let run = drive(
        false,
        2,
        |now, phone, _| {
            phone
                .call(
                    now,
                    "sip:lp@127.0.0.1:5070".parse().unwrap(),
                    "127.0.0.1:5070".parse().unwrap(),
                )
                .unwrap();
        },
        |now, ua, e| {
            if let UaEvent::IncomingCall { call, .. } = e {
                ua.reject(now, *call, 488).unwrap();
            }
        },
    );
    assert!(
        run.events.iter().any(|(_, e)| matches!(
            e,
            CallEvent::Ended { reason } if reason
                == "the other phone refused sotto's unencrypted-profile (RTP/AVP) offer (SIP 488); \
                    it probably requires SDES-SRTP, whose keys travel through the SIP servers, \
                    which sotto does not use"
        )),
        "{:?}",
        run.events
    );
    assert!(run.media.is_empty(), "{:?}", run.media);
}
