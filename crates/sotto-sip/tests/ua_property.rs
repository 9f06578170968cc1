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
//! Property tests of the user agent state machine: replaying a real call's datagrams
//! reordered, duplicated, dropped and mutated, at arbitrary times, never panics; everything it
//! sends is a well-formed SIP message; its timer always moves forward.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sotto_sip::ua::{UaConfig, UaEvent, UaOutput};
use sotto_sip::{Message, UserAgent};

mod support;
use support::Seeded;

const A: &str = "192.0.2.1:5060";
const B: &str = "192.0.2.2:5060";

fn ua(addr: &str, user: &str, seed: u64) -> UserAgent {
    UserAgent::new(
        UaConfig::new(addr.parse().unwrap(), user),
        Box::new(Seeded(ChaCha8Rng::seed_from_u64(seed))),
    )
}

/// The callee's policy: ring and answer at once; answer re-INVITEs.
fn callee_react(ua: &mut UserAgent, now: Instant, e: &UaEvent) {
    match e {
        UaEvent::IncomingCall { call, .. } => {
            let _ = ua.ringing(now, *call);
            let _ = ua.answer(now, *call, b"v=0\r\n".to_vec());
        }
        UaEvent::Reinvite { call, .. } => drop(ua.answer(now, *call, Vec::new())),
        _ => {}
    }
}

/// A whole call with no loss; returns (datagrams to A, datagrams to B) in order.
fn transcript() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let t0 = Instant::now();
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    let mut a = ua(A, "alice", 1);
    let mut b = ua(B, "bob", 2);
    let call = a.invite(
        t0,
        format!("sip:bob@{B}").parse().unwrap(),
        b_addr,
        Vec::new(),
    );
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    let mut hung_up = false;
    for step in 0..50u64 {
        let now = t0 + Duration::from_millis(step * 10);
        let mut progressed = false;
        while let Some(o) = a.poll_output() {
            progressed = true;
            match o {
                UaOutput::Transmit { data, .. } => {
                    to_b.push(data.clone());
                    b.handle_datagram(now, a_addr, &data);
                }
                UaOutput::Event(UaEvent::Answered { .. }) if !hung_up => {
                    hung_up = true;
                    a.hangup(now, call).unwrap();
                }
                UaOutput::Event(_) => {}
            }
        }
        while let Some(o) = b.poll_output() {
            progressed = true;
            match o {
                UaOutput::Transmit { data, .. } => {
                    to_a.push(data.clone());
                    a.handle_datagram(now, b_addr, &data);
                }
                UaOutput::Event(e) => callee_react(&mut b, now, &e),
            }
        }
        if !progressed && hung_up {
            break;
        }
    }
    (to_a, to_b)
}

#[test]
fn transcript_is_a_whole_call() {
    let (to_a, to_b) = transcript();
    let first = |v: &Vec<u8>| {
        String::from_utf8_lossy(v)
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    let b_got: Vec<String> = to_b.iter().map(first).collect();
    let a_got: Vec<String> = to_a.iter().map(first).collect();
    assert!(
        b_got[0].starts_with("INVITE ")
            && b_got[1].starts_with("ACK ")
            && b_got[2].starts_with("BYE "),
        "{b_got:?}"
    );
    assert_eq!(
        a_got,
        [
            "SIP/2.0 100 Trying",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK",
            "SIP/2.0 200 OK"
        ]
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// Deliver transcript datagram `i` (to whichever side it was for), after `dt` ms.
    Deliver { i: usize, dt: u16 },
    /// Deliver a mutated copy.
    Mutate { i: usize, pos: usize, byte: u8 },
    /// Let time pass and fire timers.
    Wait { ms: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 0u16..2000).prop_map(|(i, dt)| Op::Deliver { i, dt }),
        2 => (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(i, pos, byte)| Op::Mutate { i, pos, byte }),
        1 => (0u32..40_000).prop_map(|ms| Op::Wait { ms }),
    ]
}

fn drain(ua: &mut UserAgent, now: Instant, react: bool) {
    drain_after(ua, now, react, false);
}

/// `echoing`: the last input was malformed, so a 400 may echo its broken headers (§8.2.6).
fn drain_after(ua: &mut UserAgent, now: Instant, react: bool, echoing: bool) {
    let mut n = 0;
    while let Some(o) = ua.poll_output() {
        n += 1;
        assert!(n < 1000, "output does not run away");
        match o {
            UaOutput::Transmit { data, .. } => {
                // Everything we send parses, except error replies that echo a malformed request.
                let echo = echoing
                    && (data.starts_with(b"SIP/2.0 400") || data.starts_with(b"SIP/2.0 505"));
                if !echo {
                    Message::parse(&data).unwrap_or_else(|e| {
                        panic!("we sent garbage ({e}): {}", String::from_utf8_lossy(&data))
                    });
                }
            }
            UaOutput::Event(e) => {
                if react {
                    callee_react(ua, now, &e);
                }
            }
        }
    }
}

fn fire_timers(ua: &mut UserAgent, now: Instant, react: bool) {
    for _ in 0..1000 {
        match ua.poll_timeout() {
            Some(t) if t <= now => {
                ua.handle_timeout(now);
                drain(ua, now, react);
                if let Some(t2) = ua.poll_timeout() {
                    assert!(t2 > now || t2 > t, "the timer moves forward");
                }
            }
            _ => return,
        }
    }
    panic!("timers never settle");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn replayed_mutated_reordered_call_never_breaks_either_side(ops in proptest::collection::vec(op(), 1..40)) {
        let (to_a, to_b) = transcript();
        let all: Vec<(bool, Vec<u8>)> = to_a.into_iter().map(|d| (true, d)).chain(to_b.into_iter().map(|d| (false, d))).collect();
        let t0 = Instant::now();
        let mut now = t0;
        let mut a = ua(A, "alice", 1);
        let mut b = ua(B, "bob", 2);
        // Same seed as the transcript: A's INVITE has the same Call-ID, tags and branch, so
        // the replayed responses match its transactions.
        a.invite(now, format!("sip:bob@{B}").parse().unwrap(), B.parse().unwrap(), Vec::new());
        drain(&mut a, now, false);
        for o in ops {
            let (to_a_side, data, dt) = match o {
                Op::Deliver { i, dt } => {
                    let (s, d) = &all[i % all.len()];
                    (*s, d.clone(), u64::from(dt))
                }
                Op::Mutate { i, pos, byte } => {
                    let (s, d) = &all[i % all.len()];
                    let mut d = d.clone();
                    let p = pos % d.len();
                    d[p] ^= byte | 1;
                    (*s, d, 0)
                }
                Op::Wait { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    fire_timers(&mut a, now, false);
                    fire_timers(&mut b, now, true);
                    continue;
                }
            };
            now += Duration::from_millis(dt);
            fire_timers(&mut a, now, false);
            fire_timers(&mut b, now, true);
            let malformed = Message::parse(&data).is_err();
            if to_a_side {
                a.handle_datagram(now, B.parse().unwrap(), &data);
                drain_after(&mut a, now, false, malformed);
            } else {
                b.handle_datagram(now, A.parse().unwrap(), &data);
                drain_after(&mut b, now, true, malformed);
            }
        }
        // Eventually everything winds down: no transaction lives forever.
        now += Duration::from_secs(200);
        fire_timers(&mut a, now, false);
        fire_timers(&mut b, now, true);
        now += Duration::from_secs(200);
        fire_timers(&mut a, now, false);
        fire_timers(&mut b, now, true);
        prop_assert_eq!(a.transaction_count(), 0);
        prop_assert!(b.transaction_count() <= 1, "only an unanswered INVITE may wait for its TU");
    }
}
