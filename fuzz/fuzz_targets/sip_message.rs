//! SIP message parsing never panics; whatever parses emits and re-parses identically; the
//! 400 built for a malformed request is itself well-formed enough to encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_sip::{Framing, Message};

fuzz_target!(|data: &[u8]| {
    match Message::parse(data) {
        Ok(m) => {
            let h = m.headers();
            let _ = (h.vias(), h.from(), h.to(), h.cseq(), h.contacts(), h.routes(), h.record_routes());
            let _ = (h.content_type(), h.expires(), h.max_forwards(), h.content_length());
            let again = Message::parse(&m.to_bytes()).expect("emitted message re-parses");
            let strip = |mut m: Message| {
                match &mut m {
                    Message::Request(r) => r.headers.remove("Content-Length"),
                    Message::Response(r) => r.headers.remove("Content-Length"),
                }
                m
            };
            assert_eq!(strip(m), strip(again));
        }
        Err(e) => {
            let _ = e.reply().map(|r| r.to_bytes());
        }
    }
    let _ = Message::parse_framed(data, Framing::Stream);
});
