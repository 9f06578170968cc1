//! Rough throughput of the SIP parser and emitter, and of a whole call on the virtual clock.
//!
//! `cargo run --release -p sotto-sip --example parse_bench`
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a benchmark program: prints, reads the real clock, aborts on bad input"
)]

use std::time::Instant;

use sotto_sip::Message;
use sotto_sip::sdp::SessionDescription;

const INVITE: &[u8] = b"INVITE sip:bob@[2001:db8::2]:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP [2001:db8::1]:5060;rport;branch=z9hG4bK.Yx8aT0dC2\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=8fLmW2a\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: 7Jd0x3kQ-9@example.com\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:alice@[2001:db8::1]:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 202\r\n\r\n\
v=0\r\no=- 42 1 IN IP6 2001:db8::1\r\ns=sotto\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 96 0 8 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
a=rtcp-mux\r\na=sendrecv\r\na=ptime:20\r\n";

fn main() {
    let n = 200_000u32;
    let t = Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        let m = Message::parse(INVITE).unwrap();
        total += m.body().len();
    }
    let parse = t.elapsed();
    let m = Message::parse(INVITE).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        total += m.to_bytes().len();
    }
    let emit = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        total += SessionDescription::parse(m.body()).unwrap().media.len();
    }
    let sdp = t.elapsed();
    let per = |d: std::time::Duration| d.as_nanos() as f64 / f64::from(n) / 1000.0;
    println!(
        "INVITE ({} bytes) parse: {:.2} µs/msg ({:.0} msg/s)",
        INVITE.len(),
        per(parse),
        f64::from(n) / parse.as_secs_f64()
    );
    println!("INVITE emit: {:.2} µs/msg", per(emit));
    println!("SDP parse: {:.2} µs", per(sdp));
    println!("(checksum {total})");
}
