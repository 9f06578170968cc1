//! Decrypted data-message payloads (message, NUL, TLVs) and SMP value lists never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_otr::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok((_msg, tlvs)) = wire::parse_payload(data) {
        for t in tlvs {
            for n in [3, 6, 8, 11] {
                let _ = wire::check_smp_values(&t.value, n);
            }
        }
    }
});
