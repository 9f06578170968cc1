//! RFC 6189 §6 timers on a virtual clock: Hello T1 (50 ms doubling to 200 ms, 20
//! retransmissions), Commit T2 (150 ms doubling to 1200 ms, 10 retransmissions), then a clear
//! failure.
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
use sotto_zrtp::{FailureReason, Input, Output, ZrtpSession};

/// Drives one session alone (the peer never answers); returns send times and the failure.
fn alone(
    mut s: ZrtpSession,
    start: Instant,
    feed: &mut dyn FnMut(&mut ZrtpSession, Instant, usize),
) -> (Vec<Duration>, Option<FailureReason>) {
    let mut sends = Vec::new();
    let mut failed = None;
    let mut now = start;
    for _ in 0..200 {
        while let Some(o) = s.poll_output() {
            match o {
                Output::Transmit(_) => {
                    sends.push(now - start);
                    feed(&mut s, now, sends.len());
                }
                Output::Event(sotto_zrtp::Event::Failed(r)) => failed = Some(r),
                _ => {}
            }
        }
        let Some(t) = s.poll_timeout() else { break };
        now = t;
        s.handle_input(now, Input::Timeout).unwrap();
    }
    (sends, failed)
}

#[test]
fn hello_t1_schedule_then_timeout() {
    let start = t0();
    let s = ZrtpSession::new(config(1), Box::new(Seeded::new(1)), None, start).unwrap();
    let (sends, failed) = alone(s, start, &mut |_, _, _| {});
    let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
    assert_eq!(&ms[..5], &[0, 50, 150, 350, 550]);
    assert_eq!(ms.len(), 21, "first Hello and 20 retransmissions");
    assert_eq!(failed, Some(FailureReason::Timeout("Hello")));
}

#[test]
fn commit_t2_schedule_then_timeout() {
    // The peer answers Hello (HelloACK + its Hello) once, then goes silent.
    let start = t0();
    let peer = ZrtpSession::new(config(2), Box::new(Seeded::new(2)), None, start).unwrap();
    let peer_hello = {
        let mut p = peer;
        let mut h = None;
        while let Some(o) = p.poll_output() {
            if let Output::Transmit(b) = o {
                h = Some(b);
            }
        }
        h.unwrap()
    };
    let ack = sotto_zrtp::packet::Packet::emit(
        1,
        sotto_proto::Ssrc(2),
        &sotto_zrtp::message::Message::HelloAck.emit(),
    );
    let s = ZrtpSession::new(config(1), Box::new(Seeded::new(1)), None, start).unwrap();
    let mut fed = false;
    let mut commit_at = None;
    let (sends, failed) = alone(s, start, &mut |s, now, _| {
        if !fed {
            fed = true;
            s.handle_input(now, Input::Datagram(&peer_hello)).unwrap();
            s.handle_input(now, Input::Datagram(&ack)).unwrap();
            commit_at = Some(now);
        }
    });
    // Hello, HelloACK, Hello again (not yet acknowledged), Commit at 0; then Commit retransmissions.
    let ms: Vec<u128> = sends.iter().skip(4).map(Duration::as_millis).collect();
    assert_eq!(&ms[..5], &[150, 450, 1050, 2250, 3450]);
    assert_eq!(ms.len(), 10);
    assert_eq!(failed, Some(FailureReason::Timeout("Commit")));
}
