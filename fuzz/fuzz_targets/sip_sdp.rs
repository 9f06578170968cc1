//! SDP parsing and offer/answer never panic on peer SDP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_sip::sdp::{self, LocalAudio, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = SessionDescription::parse(data) else { return };
    let _ = sd.zrtp_hash();
    let local = LocalAudio::new("127.0.0.1:4000".parse().unwrap());
    let _ = sdp::create_answer(&sd, &local, 1, 1);
    let offer = sdp::create_offer(&local, 1, 1);
    let _ = sdp::process_answer(&offer, &sd, &local);
    let _ = SessionDescription::parse(&sd.to_bytes()).expect("emitted SDP re-parses");
});
