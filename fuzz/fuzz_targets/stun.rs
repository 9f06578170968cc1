//! STUN parsing and answering on the media port never panics, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_call::{demux, stun};
use sotto_proto::crypto::default_provider;

fuzz_target!(|data: &[u8]| {
    let _ = demux::classify(data);
    if let Ok(m) = stun::Message::parse(data) {
        let _ = m.verify_fingerprint();
        let _ = m.verify_integrity(default_provider(), b"password");
        let _ = m.xor_mapped_address();
    }
    let from = "127.0.0.1:5004".parse().unwrap();
    let _ = stun::answer_binding(default_provider(), data, from, Some(b"password"));
    let _ = stun::answer_binding(default_provider(), data, from, None);
});
