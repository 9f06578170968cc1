//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::time::{Duration, Instant};

use sotto_netem::Netem;

/// The one real clock read of a test: a base for the virtual clock.
#[allow(
    clippy::disallowed_methods,
    reason = "test code needs one base Instant"
)]
pub(crate) fn base() -> Instant {
    Instant::now()
}

/// A payload that carries its send index in the first 8 bytes, padded to `len` (>= 8).
pub(crate) fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut p = seq.to_be_bytes().to_vec();
    p.resize(len.max(8), 0);
    p
}

/// The send index a [`payload`] carries.
pub(crate) fn seq_of(p: &[u8]) -> u64 {
    u64::from_be_bytes(p[..8].try_into().unwrap())
}

/// One delivered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) seq: u64,
    pub(crate) sent_at: Instant,
    pub(crate) delivered_at: Instant,
    pub(crate) len: usize,
}

/// Sends `n` packets of `len` bytes, one every `interval` from `start`, then drains the link,
/// collecting every delivery at the exact instant it became due.
pub(crate) fn run(
    netem: &mut Netem,
    start: Instant,
    n: u64,
    interval: Duration,
    len: usize,
) -> Vec<Delivery> {
    let mut sent_at = Vec::with_capacity(n as usize);
    let mut out = Vec::new();
    let mut drain = |netem: &mut Netem, until: Option<Instant>, sent_at: &[Instant]| {
        while let Some(at) = netem.poll_timeout() {
            if until.is_some_and(|u| at > u) {
                break;
            }
            let p = netem.poll_receive(at).expect("due packet");
            let seq = seq_of(&p);
            out.push(Delivery {
                seq,
                sent_at: sent_at[seq as usize],
                delivered_at: at,
                len: p.len(),
            });
        }
    };
    for i in 0..n {
        let t = start + interval * u32::try_from(i).unwrap();
        drain(netem, Some(t), &sent_at);
        sent_at.push(t);
        netem.send(t, payload(i, len));
    }
    drain(netem, None, &sent_at);
    out
}
