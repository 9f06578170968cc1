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
//! RFC 3261 §17 transaction timers on a virtual clock.

use std::time::{Duration, Instant};

use sotto_sip::transaction::{ClientTransaction, ServerTransaction, Timers, TxOutput};
use sotto_sip::{Message, Method, Request, Response};

fn request(method: &str) -> Request {
    let text = format!(
        "{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtx1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.2>\r\n\
         Call-ID: tx-test@192.0.2.1\r\nCSeq: 1 {method}\r\nContact: <sip:alice@192.0.2.1:5060>\r\n\r\n"
    );
    Request::parse(text.as_bytes()).unwrap()
}

/// Asserts that a transaction's (client or server) next timer is at `$at` and that it
/// terminates the transaction when it fires.
macro_rules! assert_ends_at {
    ($tx:expr, $at:expr) => {{
        let at = $at;
        assert_eq!($tx.poll_timeout(), Some(at));
        $tx.handle_timeout(at);
        assert!($tx.is_terminated());
    }};
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A non-INVITE retransmission schedule over UDP (ms after the first send): doubling from
/// T1 = 500 ms, capped at T2 = 4 s, up to 64*T1 (§17.1.2.2; also timer G, §17.2.1).
const CAPPED_AT_T2: [u64; 10] = [
    500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
];

/// A client transaction for a `method` request over UDP, started now, its first send drained.
fn udp_client(method: &str) -> (Instant, Request, ClientTransaction) {
    let t0 = Instant::now();
    let req = request(method);
    let mut tx = ClientTransaction::new(t0, req.clone(), false, Timers::default());
    drain_client(&mut tx);
    (t0, req, tx)
}

/// Drains outputs: (transmits, responses to TU, timed out, terminated).
fn drain_client(tx: &mut ClientTransaction) -> (Vec<Message>, Vec<Response>, bool, bool) {
    let (mut t, mut r, mut to, mut term) = (Vec::new(), Vec::new(), false, false);
    while let Some(o) = tx.poll_output() {
        match o {
            TxOutput::Transmit(m) => t.push(m),
            TxOutput::Response(x) => r.push(x),
            TxOutput::TimedOut => to = true,
            TxOutput::Terminated => term = true,
        }
    }
    (t, r, to, term)
}

/// Runs the transaction's timers until `end`, returning the times a request was sent.
fn run_until(tx: &mut ClientTransaction, start: Instant, end: Instant) -> (Vec<Duration>, bool) {
    let mut sends = Vec::new();
    let mut timed_out = false;
    while let Some(at) = tx.poll_timeout() {
        if at > end {
            break;
        }
        tx.handle_timeout(at);
        let (t, _, to, _) = drain_client(tx);
        for _ in t {
            sends.push(at - start);
        }
        timed_out |= to;
    }
    (sends, timed_out)
}

#[test]
fn invite_client_udp_timer_a_doubles_and_timer_b_times_out_at_64_t1() {
    // §17.1.1.2: A = T1, doubling; B = 64*T1 = 32 s.
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(t0, request("INVITE"), false, Timers::default());
    let (first, ..) = drain_client(&mut tx);
    assert_eq!(first.len(), 1);
    let (sends, timed_out) = run_until(&mut tx, t0, t0 + Duration::from_secs(40));
    let expect: Vec<Duration> = [500, 1500, 3500, 7500, 15500, 31500]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(sends, expect);
    assert!(timed_out);
    assert!(tx.is_terminated());
}

#[test]
fn invite_client_tcp_sends_once_and_times_out() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(t0, request("INVITE"), true, Timers::default());
    drain_client(&mut tx);
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    let (sends, timed_out) = run_until(&mut tx, t0, t0 + Duration::from_secs(40));
    assert!(sends.is_empty());
    assert!(timed_out);
}

#[test]
fn invite_client_provisional_stops_retransmissions() {
    let (t0, req, mut tx) = udp_client("INVITE");
    tx.handle_response(t0 + ms(100), req.reply(180, "Ringing", Some("b1")));
    let (_, r, ..) = drain_client(&mut tx);
    assert_eq!(r[0].status, 180);
    assert_eq!(tx.poll_timeout(), None, "no A, no B in Proceeding");
}

#[test]
fn invite_client_non2xx_acked_by_transaction_and_timer_d() {
    let (t0, req, mut tx) = udp_client("INVITE");
    let busy = req.reply(486, "Busy Here", Some("b1"));
    tx.handle_response(t0 + ms(50), busy.clone());
    let (t, r, _, term) = drain_client(&mut tx);
    assert_eq!(r.len(), 1);
    assert!(!term);
    let Message::Request(ack) = &t[0] else {
        panic!()
    };
    // §17.1.1.3: the ACK has the INVITE's branch, the response's To tag and CSeq method ACK.
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.top_via().unwrap().branch(), Some("z9hG4bKtx1"));
    assert_eq!(ack.headers.to().unwrap().tag(), Some("b1"));
    assert_eq!(ack.headers.cseq().unwrap().to_string(), "1 ACK");
    // A retransmitted 486 is absorbed and ACKed again.
    tx.handle_response(t0 + ms(600), busy);
    let (t, r, ..) = drain_client(&mut tx);
    assert_eq!((t.len(), r.len()), (1, 0));
    // Timer D: 32 s.
    assert_ends_at!(tx, t0 + ms(50) + Duration::from_secs(32));
}

#[test]
fn non_invite_client_timer_e_caps_at_t2_then_f() {
    // §17.1.2.2: E doubles up to T2 (4 s), F = 64*T1.
    let (t0, _, mut tx) = udp_client("OPTIONS");
    let (sends, timed_out) = run_until(&mut tx, t0, t0 + Duration::from_secs(40));
    let expect: Vec<Duration> = CAPPED_AT_T2.into_iter().map(ms).collect();
    assert_eq!(sends, expect);
    assert!(timed_out);
}

#[test]
fn non_invite_client_proceeding_retransmits_at_t2_and_timer_k() {
    let (t0, req, mut tx) = udp_client("BYE");
    tx.handle_response(t0 + ms(100), req.reply(100, "Trying", None));
    drain_client(&mut tx);
    tx.handle_timeout(t0 + ms(500));
    let (t, ..) = drain_client(&mut tx);
    assert_eq!(t.len(), 1);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(4500)),
        "E at T2 in Proceeding"
    );
    tx.handle_response(t0 + ms(900), req.reply(200, "OK", Some("b")));
    let (_, r, ..) = drain_client(&mut tx);
    assert_eq!(r[0].status, 200);
    // Timer K = T4 over UDP.
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(900) + Duration::from_secs(5))
    );
    // A retransmitted 200 is absorbed.
    tx.handle_response(t0 + ms(950), req.reply(200, "OK", Some("b")));
    assert!(drain_client(&mut tx).1.is_empty());
}

#[test]
fn invite_server_timer_g_h_and_ack_absorption() {
    let t0 = Instant::now();
    let req = request("INVITE");
    let mut tx = ServerTransaction::new(t0, req.clone(), false, Timers::default()).unwrap();
    // 100 Trying at once.
    let Some(TxOutput::Transmit(Message::Response(r))) = tx.poll_output() else {
        panic!()
    };
    assert_eq!(r.status, 100);
    // A retransmitted INVITE gets the last response again.
    tx.handle_request(t0 + ms(500), &req);
    assert!(matches!(tx.poll_output(), Some(TxOutput::Transmit(_))));
    tx.send_response(t0 + ms(600), req.reply(486, "Busy Here", Some("b")))
        .unwrap();
    assert!(tx.poll_output().is_some());
    // Timer G: T1, 2T1, 4T1 ... capped at T2.
    let mut sends = Vec::new();
    let end = t0 + ms(600) + Duration::from_secs(40);
    let mut timed_out = false;
    while let Some(at) = tx.poll_timeout().filter(|a| *a <= end) {
        tx.handle_timeout(at);
        while let Some(o) = tx.poll_output() {
            match o {
                TxOutput::Transmit(_) => sends.push(at - (t0 + ms(600))),
                TxOutput::TimedOut => timed_out = true,
                _ => {}
            }
        }
    }
    let expect: Vec<Duration> = CAPPED_AT_T2.into_iter().map(ms).collect();
    assert_eq!(sends, expect);
    assert!(timed_out, "timer H fires at 64*T1 without ACK");

    // With an ACK: Confirmed, then timer I (T4) terminates.
    let mut tx = ServerTransaction::new(t0, req.clone(), false, Timers::default()).unwrap();
    tx.send_response(t0, req.reply(603, "Decline", Some("b")))
        .unwrap();
    while tx.poll_output().is_some() {}
    let mut ack = req.clone();
    ack.method = Method::Ack;
    ack.headers.set("CSeq", "1 ACK");
    tx.handle_request(t0 + ms(10), &ack);
    assert!(tx.poll_output().is_none(), "ACK absorbed");
    assert_ends_at!(tx, t0 + ms(10) + Duration::from_secs(5));
}

#[test]
fn non_invite_server_timer_j_and_reliable_zero() {
    let t0 = Instant::now();
    let req = request("OPTIONS");
    let mut tx = ServerTransaction::new(t0, req.clone(), false, Timers::default()).unwrap();
    assert!(
        tx.poll_output().is_none(),
        "no automatic 100 for non-INVITE"
    );
    tx.send_response(t0, req.reply(200, "OK", Some("b")))
        .unwrap();
    while tx.poll_output().is_some() {}
    tx.handle_request(t0 + ms(500), &req);
    assert!(
        matches!(tx.poll_output(), Some(TxOutput::Transmit(_))),
        "retransmission answered"
    );
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "timer J = 64*T1"
    );
    let mut tcp = ServerTransaction::new(t0, req.clone(), true, Timers::default()).unwrap();
    tcp.send_response(t0, req.reply(200, "OK", Some("b")))
        .unwrap();
    assert!(tcp.is_terminated(), "J = 0 over TCP");
}
