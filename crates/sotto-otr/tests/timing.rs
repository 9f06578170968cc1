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
#![allow(
    clippy::disallowed_methods,
    reason = "a timing report reads the wall clock"
)]
//! Timing report (ignored by default): key generation, AKE, data messages, SMP.
//! `cargo test -p sotto-otr --test timing -- --ignored --nocapture`

use rand::SeedableRng;
use sotto_otr::{Config, Event, InstanceTag, LongTermKey, OtrState, Output, Session, SmpOutcome};
use std::sync::Arc;
use std::time::Instant;

mod support;
use support::Rng;

fn pump(a: &mut Session, b: &mut Session, r: &mut Rng) -> Vec<Event> {
    let now = Instant::now();
    let mut events = Vec::new();
    loop {
        let mut moved = false;
        while let Some(o) = a.poll_output() {
            match o {
                Output::SendToNetwork(t) => {
                    b.handle_incoming(now, &t, r).unwrap();
                    moved = true;
                }
                Output::Event(e) => events.push(e),
            }
        }
        while let Some(o) = b.poll_output() {
            match o {
                Output::SendToNetwork(t) => {
                    a.handle_incoming(now, &t, r).unwrap();
                    moved = true;
                }
                Output::Event(e) => events.push(e),
            }
        }
        if !moved {
            return events;
        }
    }
}

#[test]
#[ignore = "timing report"]
fn timing_report() {
    let mut r = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(42));
    let t = Instant::now();
    let ka = Arc::new(LongTermKey::generate(&mut r));
    let kb = Arc::new(LongTermKey::generate(&mut r));
    println!("DSA-1024 key generation: {:?} per key", t.elapsed() / 2);

    let n = 5;
    let t = Instant::now();
    let (mut a, mut b) = (None, None);
    for _ in 0..n {
        let mut sa = Session::new(Config::default(), ka.clone(), InstanceTag(0x100));
        let mut sb = Session::new(Config::default(), kb.clone(), InstanceTag(0x200));
        sa.start();
        pump(&mut sa, &mut sb, &mut r);
        assert_eq!(sa.state(), OtrState::Unverified);
        (a, b) = (Some(sa), Some(sb));
    }
    println!("AKE (both sides, in-process): {:?}", t.elapsed() / n);
    let (mut a, mut b) = (a.unwrap(), b.unwrap());

    let msgs = 200u32;
    let now = Instant::now();
    let t = Instant::now();
    for i in 0..msgs {
        a.send(
            now,
            &format!(
                "message number {i}, about a hundred bytes of text in it ......................"
            ),
            &mut r,
        )
        .unwrap();
        pump(&mut a, &mut b, &mut r);
        b.send(now, "ok", &mut r).unwrap();
        pump(&mut a, &mut b, &mut r);
    }
    println!(
        "data message encrypt+decrypt incl. D-H ratchet step: {:?}",
        t.elapsed() / (2 * msgs)
    );

    let t = Instant::now();
    a.start_smp(None, b"secret", &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    b.respond_smp(b"secret", &mut r).unwrap();
    let ev = pump(&mut a, &mut b, &mut r);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::SmpResult(SmpOutcome::Succeeded)))
    );
    println!("SMP (both sides, 4 messages): {:?}", t.elapsed());
}
