//! Extended sequence numbers: the 16-bit RTP sequence number widened to 64 bits across wraps.

/// Widens 16-bit sequence numbers to a monotonic 64-bit index, tolerating reordering.
///
/// Each new number is placed in whichever 65536-cycle puts it closest to the highest index seen
/// so far (within ±32768), the same rule SRTP uses for its ROC estimate (RFC 3711 §3.3.1).
/// The first packet gets cycle 1 (index `65536 + seq`) so that a packet reordered from before
/// a wrap near the start still has a valid, smaller index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqExtender {
    highest: Option<u64>,
}

impl SeqExtender {
    /// A fresh extender that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest extended index seen, if any.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Returns the extended index of `seq` without recording it.
    pub fn estimate(&self, seq: u16) -> u64 {
        match self.highest {
            None => (1 << 16) | u64::from(seq),
            Some(h) => {
                let delta = i64::from(seq.wrapping_sub(h as u16) as i16);
                h.checked_add_signed(delta).unwrap_or(u64::from(seq))
            }
        }
    }

    /// Returns the extended index of `seq` and records it.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = self.estimate(seq);
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_forward() {
        let mut e = SeqExtender::new();
        let a = e.extend(65534);
        assert_eq!(e.extend(65535), a + 1);
        assert_eq!(e.extend(0), a + 2);
        assert_eq!(e.extend(1), a + 3);
        // A late packet from before the wrap keeps its old cycle.
        assert_eq!(e.extend(65533), a - 1);
        assert_eq!(e.highest(), Some(a + 3));
    }

    #[test]
    fn reordered_before_first_wrap() {
        let mut e = SeqExtender::new();
        let a = e.extend(1);
        assert_eq!(e.extend(65535), a - 2);
    }

    proptest! {
        #[test]
        fn in_order_streams_are_monotonic(start in any::<u16>(), n in 1usize..200_000) {
            let mut e = SeqExtender::new();
            let first = e.extend(start);
            let mut seq = start;
            let step = (n / 1000).max(1);
            let mut i = 0u64;
            while (i as usize) < n {
                seq = seq.wrapping_add(step as u16);
                i += step as u64;
                prop_assert_eq!(e.extend(seq), first + i);
            }
        }
    }
}
