//! Fuzzes the RTCP compound parser; whatever parses must emit and parse back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_rtp::Compound;

fuzz_target!(|data: &[u8]| {
    let _ = Compound::parse(data);
    if let Ok(c) = Compound::parse_relaxed(data) {
        if let Ok(bytes) = c.to_vec() {
            assert_eq!(Compound::parse_relaxed(&bytes).expect("re-emitted RTCP must parse"), c);
        }
    }
});
