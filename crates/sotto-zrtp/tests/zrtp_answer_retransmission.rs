//! A peer's message that shows our last message was lost is answered at once with an identical
//! copy (RFC 6189 §6: "all message retransmissions MUST be identical to the initial message"),
//! without touching the §6 timers:
//!
//! * the responder answers every copy of Commit, DHPart2, Confirm2 with the identical DHPart1,
//!   Confirm1, Conf2ACK (§6: only the initiator retransmits on a timer; the responder replies);
//! * an initiator whose Commit is outstanding answers the peer's repeated Hello with HelloACK and
//!   its Commit (a Commit is an implicit HelloACK, §4.1), since that Hello shows the peer saw
//!   neither;
//! * in contention (§4.2) the winner answers the loser's repeated Commit with its own Commit,
//!   since the loser still committing shows ours was lost.
//!
//! Replies are not answered: a repeated DHPart1 or Confirm1 only answers a repeated Commit or
//! DHPart2 of ours, so the initiator leaves DHPart2 and Confirm2 to its T2 timer. Otherwise one
//! duplicate would echo through every later message of the handshake.
//!
//! Each step here is driven by hand, packet by packet, to show exactly who answers what.
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

mod common;

use std::time::{Duration, Instant};

use common::*;
use sotto_zrtp::message::{CommitKind, Message};
use sotto_zrtp::packet::Packet;
use sotto_zrtp::{Event, Input, Output, RoleSetting, ZrtpSession};

fn new(n: u8, role: RoleSetting, seed: u64, now: Instant) -> ZrtpSession {
    let mut cfg = config(n);
    cfg.role = role;
    ZrtpSession::new(cfg, Box::new(Seeded::new(seed)), None, now).unwrap()
}

/// Everything the session wants to send now; counts Secure events into `secure`.
fn drain(s: &mut ZrtpSession, secure: &mut u32) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(p) => v.push(p),
            Output::Event(Event::Secure(_)) => *secure += 1,
            Output::Event(Event::Failed(r)) => panic!("failed: {r}"),
            _ => {}
        }
    }
    v
}

fn deliver(s: &mut ZrtpSession, now: Instant, p: &[u8], secure: &mut u32) -> Vec<Vec<u8>> {
    s.handle_input(now, Input::Datagram(p)).unwrap();
    drain(s, secure)
}

fn name(p: &[u8]) -> String {
    String::from_utf8_lossy(&msg_type(p).unwrap())
        .trim()
        .to_string()
}

fn names(ps: &[Vec<u8>]) -> Vec<String> {
    ps.iter().map(|p| name(p)).collect()
}

/// The message part of a packet (the header's sequence number differs between copies).
fn message(p: &[u8]) -> Vec<u8> {
    Packet::parse(p).unwrap().message.to_vec()
}

fn find<'a>(ps: &'a [Vec<u8>], ty: &str) -> &'a [u8] {
    ps.iter()
        .find(|p| name(p) == ty)
        .unwrap_or_else(|| panic!("no {ty} in {:?}", names(ps)))
}

#[test]
fn every_reply_is_repeated_for_a_repeated_request() {
    // §6: the initiator (A) retransmits Commit, DHPart2, Confirm2; the responder (B) answers
    // each copy with the identical DHPart1, Confirm1, Conf2ACK. The initiator does not answer a
    // repeated DHPart1 / Confirm1 (a reply to its own copy); its T2 timer resends.
    let now = t0();
    let (mut sa, mut sb) = (0, 0);
    let mut a = new(1, RoleSetting::Initiator, 1, now);
    let mut b = new(2, RoleSetting::Responder, 2, now);
    let hello_a = drain(&mut a, &mut sa);
    let hello_b = drain(&mut b, &mut sb);
    let to_a = deliver(&mut b, now, &hello_a[0], &mut sb);
    assert_eq!(names(&to_a), ["HelloACK", "Hello"]);
    deliver(&mut a, now, find(&to_a, "HelloACK"), &mut sa);
    let to_b = deliver(&mut a, now, &hello_b[0], &mut sa);
    assert_eq!(names(&to_b), ["HelloACK", "Commit"]);
    let commit = find(&to_b, "Commit").to_vec();

    let d1 = deliver(&mut b, now, &commit, &mut sb);
    assert_eq!(names(&d1), ["DHPart1"]);
    let d1_again = deliver(&mut b, now, &commit, &mut sb);
    assert_eq!(message(&d1_again[0]), message(&d1[0]), "identical DHPart1");

    let d2 = deliver(&mut a, now, &d1[0], &mut sa);
    assert_eq!(names(&d2), ["DHPart2"]);
    assert!(deliver(&mut a, now, &d1_again[0], &mut sa).is_empty());
    let t = a.poll_timeout().unwrap();
    assert_eq!(t, now + Duration::from_millis(150), "DHPart2 T2");
    a.handle_input(t, Input::Timeout).unwrap();
    let d2_again = drain(&mut a, &mut sa);
    assert_eq!(message(&d2_again[0]), message(&d2[0]), "identical DHPart2");

    let c1 = deliver(&mut b, now, &d2[0], &mut sb);
    assert_eq!(names(&c1), ["Confirm1"]);
    let c1_again = deliver(&mut b, now, &d2_again[0], &mut sb);
    assert_eq!(message(&c1_again[0]), message(&c1[0]), "identical Confirm1");

    let c2 = deliver(&mut a, now, &c1[0], &mut sa);
    assert_eq!(names(&c2), ["Confirm2"]);
    assert_eq!(sa, 1, "the initiator is secure once Confirm1 checked out");
    assert!(deliver(&mut a, now, &c1_again[0], &mut sa).is_empty());
    let t = a.poll_timeout().unwrap();
    a.handle_input(t, Input::Timeout).unwrap();
    let c2_again = drain(&mut a, &mut sa);
    assert_eq!(message(&c2_again[0]), message(&c2[0]), "identical Confirm2");

    let ack = deliver(&mut b, now, &c2[0], &mut sb);
    assert_eq!(names(&ack), ["Conf2ACK"]);
    assert_eq!(sb, 1);
    let ack_again = deliver(&mut b, now, &c2_again[0], &mut sb);
    assert_eq!(names(&ack_again), ["Conf2ACK"]);
    assert_eq!((sa, sb), (1, 1), "duplicates raise no second Secure");

    // Conf2ACK ends the initiator's Confirm2 retransmissions (§6); the responder never had a
    // timer after its Hello was acknowledged.
    assert!(a.poll_timeout().is_some());
    deliver(&mut a, now, &ack[0], &mut sa);
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn repeated_hello_gets_our_commit_as_implicit_hello_ack() {
    // §4.1: a Commit also acknowledges the peer's Hello. A has our HelloACK and B's Hello, so it
    // committed; both its HelloACK and its Commit are lost. B's Hello retransmission (T1) shows
    // it saw neither: A answers with HelloACK and the identical Commit at once, not at its next
    // T2 tick (150 ms later).
    let start = t0();
    let (mut sa, mut sb) = (0, 0);
    let mut a = new(1, RoleSetting::Initiator, 3, start);
    let mut b = new(2, RoleSetting::Responder, 4, start);
    let hello_a = drain(&mut a, &mut sa);
    drain(&mut b, &mut sb);
    let to_a = deliver(&mut b, start, &hello_a[0], &mut sb);
    deliver(&mut a, start, find(&to_a, "HelloACK"), &mut sa);
    let lost = deliver(&mut a, start, find(&to_a, "Hello"), &mut sa);
    assert_eq!(names(&lost), ["HelloACK", "Commit"]);
    let a_timer = a.poll_timeout();
    assert_eq!(a_timer, Some(start + Duration::from_millis(150)), "T2");

    // B has not been acknowledged: its T1 timer resends its Hello.
    let t = b.poll_timeout().unwrap();
    assert_eq!(t, start + Duration::from_millis(50), "T1");
    b.handle_input(t, Input::Timeout).unwrap();
    let hello_again = drain(&mut b, &mut sb);
    assert_eq!(names(&hello_again), ["Hello"]);

    let answer = deliver(&mut a, t, &hello_again[0], &mut sa);
    assert_eq!(names(&answer), ["HelloACK", "Commit"]);
    assert_eq!(
        message(find(&answer, "Commit")),
        message(find(&lost, "Commit")),
        "identical Commit"
    );
    assert_eq!(a.poll_timeout(), a_timer, "the T2 schedule is unchanged");

    // The Commit stops B's Hello retransmissions and starts the DH exchange.
    let d1 = deliver(&mut b, t, find(&answer, "Commit"), &mut sb);
    assert_eq!(names(&d1), ["DHPart1"]);
    assert_eq!(b.poll_timeout(), None, "responder: no timer");
}

/// Both sides initiators, Hellos exchanged and acknowledged: both send Commit (§4.2).
fn both_committed(seed: u64) -> (ZrtpSession, ZrtpSession, Vec<u8>, Vec<u8>, Instant) {
    let now = t0();
    let (mut sa, mut sb) = (0, 0);
    let mut a = new(1, RoleSetting::Initiator, seed * 2 + 1, now);
    let mut b = new(2, RoleSetting::Initiator, seed * 2 + 2, now);
    let hello_a = drain(&mut a, &mut sa);
    let hello_b = drain(&mut b, &mut sb);
    let to_b = deliver(&mut a, now, &hello_b[0], &mut sa);
    let to_a = deliver(&mut b, now, &hello_a[0], &mut sb);
    let ca = deliver(&mut a, now, find(&to_a, "HelloACK"), &mut sa);
    let cb = deliver(&mut b, now, find(&to_b, "HelloACK"), &mut sb);
    assert_eq!(names(&ca), ["Commit"]);
    assert_eq!(names(&cb), ["Commit"]);
    (a, b, ca[0].clone(), cb[0].clone(), now)
}

fn hvi(p: &[u8]) -> [u8; 32] {
    match Message::parse(&message(p)).unwrap() {
        Message::Commit(c) => match c.kind {
            CommitKind::Dh { hvi } => hvi,
            k => panic!("{k:?}"),
        },
        m => panic!("{}", m.name()),
    }
}

#[test]
fn contention_winner_answers_the_losers_commit_with_its_own() {
    let mut wins = [0; 2];
    for seed in 0..20 {
        let (a, b, ca, cb, now) = both_committed(seed);
        // §4.2: the larger hvi wins.
        let a_wins = hvi(&ca) > hvi(&cb);
        wins[usize::from(a_wins)] += 1;
        let (mut w, mut l, cw, cl) = if a_wins {
            (a, b, ca, cb)
        } else {
            (b, a, cb, ca)
        };
        let (mut sw, mut sl) = (0, 0);
        let w_timer = w.poll_timeout();
        // The winner's Commit is lost; the loser's arrives, first and again from its T2 timer.
        // Each copy shows the loser has not seen our Commit: the winner sends it again at once.
        for _ in 0..2 {
            let again = deliver(&mut w, now, &cl, &mut sw);
            assert_eq!(names(&again), ["Commit"]);
            assert_eq!(message(&again[0]), message(&cw), "identical Commit");
            assert_eq!(w.state_name(), "CommitSent");
            assert_eq!(w.poll_timeout(), w_timer, "T2 schedule unchanged");
        }
        // The loser becomes responder (and stops its own Commit timer).
        let d1 = deliver(&mut l, now, &cw, &mut sl);
        assert_eq!(names(&d1), ["DHPart1"]);
        assert_eq!(l.poll_timeout(), None);
        let d2 = deliver(&mut w, now, &d1[0], &mut sw);
        assert_eq!(names(&d2), ["DHPart2"]);
    }
    assert!(wins[0] > 0 && wins[1] > 0, "{wins:?}");
}

#[test]
fn a_forged_commit_does_not_make_the_winner_send() {
    // The answer needs the loser's Commit to carry the H2 that opens its Hello's MAC (§9); a
    // Commit with a wrong H2 (an injected packet) is dropped without reply.
    let (a, b, ca, cb, now) = both_committed(7);
    let (mut w, cl) = if hvi(&ca) > hvi(&cb) {
        (a, cb)
    } else {
        (b, ca)
    };
    let mut forged = cl.clone();
    // H2 starts after the 12-byte header, 12-byte message header (preamble, length, type).
    forged[12 + 12] ^= 1;
    fix_crc(&mut forged);
    let mut s = 0;
    assert!(deliver(&mut w, now, &forged, &mut s).is_empty());
    assert_eq!(w.state_name(), "CommitSent");
}
