//! Packet-index tracking: ROC estimation (RFC 3711 §3.3.1, Appendix A) and the replay window
//! (RFC 3711 §3.3.2).
//!
//! The window is a ring of 64-bit words indexed by `index mod (64 * words)`; moving the highest
//! index forward clears only the words it enters, so the cost per packet is O(1) for in-order
//! traffic whatever the window size.

use crate::error::{Error, Result};

/// Highest packet index seen so far plus a bitmap of recently received indices.
#[derive(Clone, Debug)]
pub(crate) struct ReplayWindow {
    highest: u64,
    started: bool,
    window: u64,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// A window accepting indices up to `window - 1` behind the highest one seen.
    pub(crate) fn new(window: u64) -> Self {
        // A power of two, so the ring index is a mask rather than a division per packet.
        let words = (window.div_ceil(64) + 1).next_power_of_two();
        Self {
            highest: 0,
            started: false,
            window,
            bits: vec![0u64; usize::try_from(words).unwrap_or(2)].into_boxed_slice(),
        }
    }

    /// Highest index accepted so far (`None` before the first packet).
    pub(crate) fn highest(&self) -> Option<u64> {
        self.started.then_some(self.highest)
    }

    /// RFC 3711 Appendix A: the 48-bit index of sequence number `seq`, given the highest
    /// index `s_l` (with its ROC) seen so far. `initial_roc` is used for the first packet.
    /// `None` when the guess would be ROC - 1 with ROC = 0 or beyond ROC 2^32 - 1.
    #[inline]
    pub(crate) fn estimate(highest: Option<u64>, initial_roc: u32, seq: u16) -> Option<u64> {
        let Some(highest) = highest else {
            return Some((u64::from(initial_roc) << 16) | u64::from(seq));
        };
        let roc = highest >> 16;
        let s_l = (highest & 0xFFFF) as u16;
        let v = if s_l < 0x8000 {
            if seq > s_l && seq - s_l > 0x8000 {
                roc.checked_sub(1)?
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        if v > u64::from(u32::MAX) {
            return None;
        }
        Some((v << 16) | u64::from(seq))
    }

    #[inline]
    fn slot(&self, index: u64) -> (usize, u64) {
        let mask = self.bits.len() as u64 - 1;
        let word = (index >> 6) & mask;
        (word as usize, 1u64 << (index & 63))
    }

    /// Replay check, before any cryptography (RFC 3711 §3.3.2).
    #[inline]
    pub(crate) fn check(&self, index: u64) -> Result<()> {
        if !self.started || index > self.highest {
            return Ok(());
        }
        let delta = self.highest - index;
        if delta >= self.window {
            return Err(Error::TooOld);
        }
        let (w, m) = self.slot(index);
        match self.bits.get(w) {
            Some(word) if word & m != 0 => Err(Error::Replayed),
            Some(_) => Ok(()),
            None => Err(Error::TooOld),
        }
    }

    /// Records `index` as received; only after the packet authenticated.
    #[inline]
    pub(crate) fn update(&mut self, index: u64) {
        if !self.started {
            self.bits.fill(0);
            self.highest = index;
            self.started = true;
        } else if index > self.highest {
            let n = self.bits.len() as u64;
            let mask = n - 1;
            let old_word = self.highest >> 6;
            let new_word = index >> 6;
            let span = (new_word - old_word).min(n);
            for k in 0..span {
                let w = ((new_word - k) & mask) as usize;
                if let Some(word) = self.bits.get_mut(w) {
                    *word = 0;
                }
            }
            self.highest = index;
        }
        let (w, m) = self.slot(index);
        if let Some(word) = self.bits.get_mut(w) {
            *word |= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(highest: u64, seq: u16) -> Option<u64> {
        ReplayWindow::estimate(Some(highest), 0, seq)
    }

    /// RFC 3711 Appendix A cases.
    #[test]
    fn roc_estimation_appendix_a() {
        assert_eq!(est(0xFFFF, 0), Some(0x1_0000));
        assert_eq!(est(0xFFF0, 0x0005), Some(0x1_0005));
        assert_eq!(est(0x1_0002, 0xFFFE), Some(0xFFFE));
        assert_eq!(est(0x5_1234, 0x1235), Some(0x5_1235));
        assert_eq!(est(0x5_0010, 0x9000), Some(0x4_9000));
        assert_eq!(est(0x0010, 0x9000), None, "ROC - 1 below zero");
        assert_eq!(est(0x5_9000, 0x0010), Some(0x6_0010));
        assert_eq!(est(0xFFFF_FFFF_FFFF, 0x0001), None, "ROC + 1 past 2^32 - 1");
        assert_eq!(ReplayWindow::estimate(None, 7, 3), Some(0x7_0003));
    }

    #[test]
    fn window_accepts_reorder_rejects_replay_and_old() {
        let mut w = ReplayWindow::new(128);
        for i in [1000u64, 1002, 1001, 999, 900, 1100] {
            w.check(i).unwrap();
            w.update(i);
        }
        assert_eq!(w.check(1001), Err(Error::Replayed));
        assert_eq!(w.check(1100), Err(Error::Replayed));
        assert_eq!(w.check(1002), Err(Error::Replayed));
        assert_eq!(w.check(1003), Ok(()));
        assert_eq!(w.check(1100 - 127), Ok(()));
        assert_eq!(w.check(1100 - 128), Err(Error::TooOld));
        // A big jump clears everything.
        w.update(1_000_000);
        assert_eq!(w.check(1_000_000 - 1), Ok(()));
        assert_eq!(w.check(1_000_000), Err(Error::Replayed));
    }

    #[test]
    fn window_matches_a_naive_model() {
        // Deterministic pseudo-random walk compared against a set-based model.
        let mut w = ReplayWindow::new(200);
        let mut seen = std::collections::BTreeSet::new();
        let mut highest: Option<u64> = None;
        let mut x: u64 = 0x1234_5678;
        let mut base = 5000u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            base += x % 3;
            let idx = base.saturating_sub(x % 260);
            let model = match highest {
                Some(h) if idx <= h && h - idx >= 200 => Err(Error::TooOld),
                _ if seen.contains(&idx) => Err(Error::Replayed),
                _ => Ok(()),
            };
            assert_eq!(w.check(idx), model, "index {idx}");
            if model.is_ok() {
                w.update(idx);
                seen.insert(idx);
                highest = Some(highest.map_or(idx, |h| h.max(idx)));
            }
        }
    }
}
