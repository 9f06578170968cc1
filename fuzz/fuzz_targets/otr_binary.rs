//! Binary OTR messages (D-H Commit, D-H Key, Reveal Signature, Signature, Data; v2 and v3)
//! never panic the parser or a session, wrapped as `?OTR:` base64.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sotto_otr::{Config, InstanceTag, LongTermKey, Session, wire};
use sotto_proto::crypto::Random;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

struct Counter(u64);
impl Random for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

fn key() -> Arc<LongTermKey> {
    static K: OnceLock<Arc<LongTermKey>> = OnceLock::new();
    K.get_or_init(|| Arc::new(LongTermKey::generate(&mut Counter(1)))).clone()
}

fuzz_target!(|data: &[u8]| {
    let _ = wire::check_message(data);
    let mut rng = Counter(3);
    let mut s = Session::new(Config::default(), key(), InstanceTag(0x1234));
    let msg = format!("?OTR:{}.", base64::engine::general_purpose::STANDARD.encode(data));
    let _ = s.handle_incoming(Instant::now(), &msg, &mut rng);
    while s.poll_output().is_some() {}
});
