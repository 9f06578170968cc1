//! The phone's side of registration on a virtual clock, with no registrar answering (the
//! answering registrar is Debian's kamailio in `sotto-net/tests/registrar_kamailio.rs`):
//! `start` sends a REGISTER for the address of record to the registrar's address (RFC 3261
//! §10.2: Request-URI is the domain, To/From the AOR, our Contact, the Expires we ask for);
//! retransmissions follow timer E and, after timer F (64·T1 = 32 s), the user gets a readable
//! `RegistrationFailed`; `shutdown` sends Expires: 0 and reports completion only once that
//! transaction is over. Without an account nothing is sent and shutdown completes at once.
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
use sotto_call::phone::{Account, CallEvent, Output, Phone, PhoneConfig, Socket, Zeroizing};
use sotto_proto::Zid;
use sotto_proto::crypto::Random;

mod support;
use support::Seeded;

const REGISTRAR: &str = "127.0.0.1:5099";

fn phone(account: bool) -> Phone {
    let mut cfg = PhoneConfig::new(
        "127.0.0.1:5062".parse().unwrap(),
        "127.0.0.1:40002".parse().unwrap(),
        "alice",
        Zid([7; 12]),
    );
    if account {
        cfg.account = Some(Account {
            registrar: REGISTRAR.parse().unwrap(),
            aor: "sip:alice@sotto.test".parse().unwrap(),
            username: "alice".into(),
            password: Zeroizing::new("secret".into()),
            expires: 600,
        });
    }
    let mut n = 0u64;
    let rngs = Box::new(move || {
        n += 1;
        Box::new(Seeded(ChaCha20Rng::seed_from_u64(n))) as Box<dyn Random>
    });
    Phone::new(cfg, rngs, Box::new(|| None))
}

/// Everything the phone wants to do now: (datagrams to the registrar, events).
fn drain(p: &mut Phone) -> (Vec<String>, Vec<CallEvent>) {
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    while let Some(o) = p.poll_output() {
        match o {
            Output::Transmit { socket, to, data } => {
                assert_eq!(socket, Socket::Sip);
                assert_eq!(to, REGISTRAR.parse::<SocketAddr>().unwrap());
                sent.push(String::from_utf8(data).unwrap());
            }
            Output::Event(e) => events.push(e),
        }
    }
    (sent, events)
}

/// Runs the phone's timers until `until`, collecting what it does.
fn run(p: &mut Phone, until: Instant) -> (Vec<(Instant, String)>, Vec<CallEvent>) {
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    while let Some(t) = p.poll_timeout().filter(|t| *t <= until) {
        p.handle_timeout(t);
        let (s, e) = drain(p);
        sent.extend(s.into_iter().map(|s| (t, s)));
        events.extend(e);
    }
    (sent, events)
}

#[test]
fn register_retransmits_then_reports_no_answer_and_unregisters_on_shutdown() {
    let t0 = Instant::now();
    let mut p = phone(true);
    p.start(t0);
    p.start(t0); // a second start does nothing
    let (sent, events) = drain(&mut p);
    assert!(events.is_empty());
    assert_eq!(sent.len(), 1);
    let reg = &sent[0];
    assert!(
        reg.starts_with("REGISTER sip:sotto.test SIP/2.0\r\n"),
        "{reg}"
    );
    assert!(reg.contains("\r\nTo: <sip:alice@sotto.test>\r\n"), "{reg}");
    assert!(
        reg.contains("\r\nFrom: <sip:alice@sotto.test>;tag="),
        "{reg}"
    );
    assert!(
        reg.contains("\r\nContact: <sip:alice@127.0.0.1:5062>"),
        "{reg}"
    );
    assert!(reg.contains("\r\nExpires: 600\r\n"), "{reg}");
    assert!(
        !reg.contains("Authorization"),
        "no credentials before a challenge"
    );

    // Timer E doubles from T1 = 500 ms up to T2 = 4 s; timer F gives up at 32 s.
    let (retx, events) = run(&mut p, t0 + Duration::from_secs(31));
    let at: Vec<u128> = retx
        .iter()
        .map(|(t, _)| t.duration_since(t0).as_millis())
        .collect();
    assert_eq!(at[..4], [500, 1500, 3500, 7500], "{at:?}");
    assert!(retx.iter().all(|(_, r)| *r == sent[0]));
    assert!(events.is_empty(), "{events:?}");
    let (_, events) = run(&mut p, t0 + Duration::from_secs(33));
    assert_eq!(
        events,
        vec![CallEvent::RegistrationFailed {
            reason: "the registrar at 127.0.0.1:5099 did not answer; trying again in 30 s".into()
        }]
    );

    // Shutdown: a REGISTER with Expires: 0, complete only when its transaction is over.
    let t1 = t0 + Duration::from_secs(34);
    p.shutdown(t1);
    let (sent, _) = drain(&mut p);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("\r\nExpires: 0\r\n"), "{}", sent[0]);
    assert!(!p.shutdown_complete());
    let (_, events) = run(&mut p, t1 + Duration::from_secs(33));
    assert_eq!(
        events,
        vec![CallEvent::RegistrationFailed {
            reason: "the registrar did not confirm the removal of the registration; it will \
                     expire by itself"
                .into()
        }]
    );
    assert!(p.shutdown_complete());
    assert!(
        p.poll_timeout().is_none(),
        "an unanswered removal is not retried"
    );
}

#[test]
fn without_an_account_nothing_is_registered() {
    let t0 = Instant::now();
    let mut p = phone(false);
    p.start(t0);
    assert!(p.poll_output().is_none());
    assert!(p.poll_timeout().is_none());
    assert!(!p.shutdown_complete());
    p.shutdown(t0);
    assert!(p.poll_output().is_none());
    assert!(p.shutdown_complete());
}
