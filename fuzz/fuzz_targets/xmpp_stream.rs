//! Any bytes from an XMPP server, split anywhere, fed to the stream framer never panic;
//! every element it yields goes through the stanza handler, and every element that can be
//! serialised parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_xmpp::handler::handle_stanza;
use sotto_xmpp::xml::{StreamEvent, StreamParser};

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='x' from='x.org' version='1.0'>";

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let chunk = usize::from(ctl >> 1) + 1;
    let mut p = StreamParser::new();
    if ctl & 1 == 1 && p.feed(HEADER).is_err() {
        panic!("valid header rejected");
    }
    for piece in rest.chunks(chunk) {
        let Ok(evs) = p.feed(piece) else { return };
        for ev in evs {
            let StreamEvent::Element(e) = ev else { continue };
            let _ = handle_stanza(&e, "me@x.org/r", "x.org");
            let _ = sotto_xmpp::stanza::file_offer(&e);
            let _ = sotto_xmpp::stanza::error_condition(&e);
            if let Ok(xml) = e.to_stream_xml() {
                let mut q = StreamParser::new();
                q.feed(HEADER).expect("header");
                let back = q.feed(xml.as_bytes()).expect("our own output parses");
                assert_eq!(back, vec![StreamEvent::Element(e)], "round trip");
            }
        }
    }
});
