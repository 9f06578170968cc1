//! Any text from the IM network (queries, tags, errors, fragments, `?OTR:` messages) fed to an
//! OTR session never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_otr::{Config, InstanceTag, LongTermKey, Session};
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
    let text = String::from_utf8_lossy(data);
    let _ = sotto_otr::text::classify(&text);
    let mut rng = Counter(2);
    let cfg = Config { max_fragment_size: Some(200), ..Config::default() };
    let mut s = Session::new(cfg, key(), InstanceTag(0x1234));
    let now = Instant::now();
    // Each line is one network message: lets the fuzzer build AKE sequences and fragments.
    for line in text.split('\n') {
        let _ = s.handle_incoming(now, line, &mut rng);
        while s.poll_output().is_some() {}
    }
});
