//! Incoming offers a phone cannot answer, driven by a plain sotto-sip user agent as the caller:
//! a G.711-only offer to a phone configured for Opus only is refused at once with 488 Not
//! Acceptable Here (RFC 3261 §13.3.1.3, RFC 3264 §6), the 488 really goes out, and the phone
//! does not ring. (The default configuration accepts G.711: see `call_virtual_clock.rs`.)
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
