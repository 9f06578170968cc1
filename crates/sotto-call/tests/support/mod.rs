//! Shared by the sotto-call integration tests.

use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use sotto_proto::crypto::Random;

/// A deterministic [`Random`], so a failing run replays from its seed.
pub(crate) struct Seeded(pub(crate) ChaCha20Rng);

impl Random for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}
