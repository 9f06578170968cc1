//! Shared by the sotto-sip integration tests: a seeded [`Random`] and event counting.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of this module"
)]

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use sotto_proto::crypto::Random;
use sotto_sip::ua::UaEvent;

/// A deterministic [`Random`], so a failing run replays from its seed.
pub struct Seeded(pub ChaCha8Rng);

impl Random for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// How many of `events` satisfy `f`.
pub fn count(events: &[UaEvent], f: impl Fn(&UaEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}
