#![allow(
    clippy::disallowed_methods,
    reason = "one real Instant as the origin of the virtual clock"
)]
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
//! RFC 4475 §3.3 application-layer messages fed to the user agent: the answers it must give.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sotto_sip::ua::{UaConfig, UaEvent, UaOutput};
use sotto_sip::{Message, UserAgent};

mod support;
use support::Seeded;

/// Feeds one file; returns the statuses sent back and the events.
fn feed(name: &str) -> (Vec<u16>, Vec<UaEvent>) {
    let bytes = std::fs::read(format!(
        "{}/tests/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut ua = UserAgent::new(
        UaConfig::new("192.0.2.99:5060".parse().unwrap(), "user"),
        Box::new(Seeded(ChaCha8Rng::seed_from_u64(1))),
    );
    ua.handle_datagram(Instant::now(), "192.0.2.50:5060".parse().unwrap(), &bytes);
    let (mut st, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = ua.poll_output() {
        match o {
            UaOutput::Transmit { data, .. } => {
                // (A 505 echoes the peer's SIP/7.0 Via, which we would not parse back.)
                assert!(data.starts_with(b"SIP/2.0 "), "only responses are sent");
                st.push(std::str::from_utf8(&data[8..11]).unwrap().parse().unwrap());
                if !data.starts_with(b"SIP/2.0 505") {
                    assert!(matches!(
                        Message::parse(&data).unwrap(),
                        Message::Response(_)
                    ));
                }
            }
            UaOutput::Event(e) => ev.push(e),
        }
    }
    (st, ev)
}

#[test]
fn application_layer_answers() {
    // §3.3.2 unknown Request-URI scheme → 416; §3.3.3 known but atypical scheme → 416 here.
    assert_eq!(feed("unkscm").0, [416]);
    assert_eq!(feed("novelsc").0, [416]);
    // §3.3.5 Require with unknown extensions → 420 (Proxy-Require is for proxies).
    assert_eq!(feed("bext01").0, [420]);
    // §3.3.6 unknown Content-Type → 415 (after the 100 Trying of the INVITE transaction).
    assert_eq!(feed("invut").0, [100, 415]);
    // §3.3.15 Accept without application/sdp → 406.
    assert_eq!(feed("sdp01").0, [100, 406]);
    // §3.3.11 Max-Forwards of zero addressed to us: OPTIONS is answered.
    assert_eq!(feed("zeromf").0, [200]);
    // REGISTER to a user agent: 405 with Allow.
    assert_eq!(feed("regaut01").0, [405]);
    assert_eq!(feed("cparam01").0, [405]);
    // §3.3.1 missing Call-ID/From/To: nothing can be answered; dropped.
    let (st, ev) = feed("insuf");
    assert!(st.is_empty());
    assert!(matches!(ev[0], UaEvent::Dropped { .. }));
    // §3.3.8 multiple single-value headers and §3.3.9 multiple Content-Length: 400.
    assert_eq!(feed("multi01").0, [400]);
    assert_eq!(feed("mcl01").0, [400]);
    // §3.1.2.16 unknown version: 505.
    assert_eq!(feed("badvers").0, [505]);
    // §3.4 RFC 2543-style INVITE (no branch cookie, no To tag): a call is offered.
    let (st, ev) = feed("inv2543");
    assert_eq!(st, [100]);
    assert!(matches!(ev[0], UaEvent::IncomingCall { .. }));
}
