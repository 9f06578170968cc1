//! Fuzzes the RTP parser: the checked view, the typed form, header-extension elements, and
//! that whatever parses re-emits to the same bytes it came from (padding normalised).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_rtp::{RtpPacket, RtpRepr};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RtpPacket::new_checked(data) {
        let _ = p.payload();
        let _ = p.csrcs().count();
        if let Some(e) = p.extension() {
            for el in e.elements() {
                let _ = el;
            }
        }
    }
    if let Ok(repr) = RtpRepr::parse(data) {
        let mut out = vec![0u8; repr.buffer_len()];
        let n = repr.emit(&mut out).expect("a parsed packet must re-emit");
        let again = RtpRepr::parse(&out[..n]).expect("re-emitted packet must parse");
        assert_eq!(again, repr);
    }
});
