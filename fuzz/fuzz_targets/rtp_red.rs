//! Fuzzes the RFC 2198 RED payload parser; whatever parses re-emits to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_rtp::{RedPayload, emit_red};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RedPayload::parse(data) {
        let mut out = vec![0u8; data.len()];
        let n = emit_red(p.redundant(), p.primary_type, p.primary, &mut out)
            .expect("a parsed RED payload must re-emit");
        assert_eq!(&out[..n], data);
    }
});
