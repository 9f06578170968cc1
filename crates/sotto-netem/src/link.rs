//! Both directions of a link: [`Link`].

use crate::config::NetemConfig;
use crate::netem::{Netem, Packet};

/// Two [`Netem`]s, one per direction, seeded from one seed on independent random streams.
#[derive(Debug)]
pub struct Link<T = Vec<u8>> {
    /// Packets from A to B.
    pub a_to_b: Netem<T>,
    /// Packets from B to A.
    pub b_to_a: Netem<T>,
}

impl<T: Packet> Link<T> {
    /// The same configuration in both directions.
    #[must_use]
    pub fn symmetric(config: NetemConfig, seed: u64) -> Self {
        Self::new(config.clone(), config, seed)
    }

    /// One configuration per direction (e.g. a slow uplink).
    #[must_use]
    pub fn new(a_to_b: NetemConfig, b_to_a: NetemConfig, seed: u64) -> Self {
        Self {
            a_to_b: Netem::with_direction(a_to_b, seed, 0),
            b_to_a: Netem::with_direction(b_to_a, seed, 1),
        }
    }

    /// A perfect link both ways (no loss, no delay).
    #[must_use]
    pub fn perfect() -> Self {
        Self::symmetric(NetemConfig::new(), 0)
    }
}
