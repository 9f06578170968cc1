//! The ZRTP packet and message parsers never panic, and whatever parses re-emits to bytes that
//! parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_zrtp::message::{ConfirmBody, Message, SasRelayBody};
use sotto_zrtp::packet::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        let _ = Message::parse(p.message);
    }
    if let Ok(m) = Message::parse(data) {
        let again = Message::parse(&m.emit()).expect("emitted message must parse");
        assert_eq!(again, m);
    }
    let _ = ConfirmBody::parse(data);
    let _ = SasRelayBody::parse(data);
});
