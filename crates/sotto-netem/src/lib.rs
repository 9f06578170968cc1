//! # sotto-netem — a seeded network emulator on a virtual clock, for tests
//!
//! Loss (random and Gilbert-Elliott bursts), delay, jitter, reordering, duplication and a
//! bandwidth cap, all deterministic from a seed and driven by a virtual clock; plus `Pair`, a
//! helper that drives two sans-IO engines through it.
