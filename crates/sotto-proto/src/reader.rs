//! A byte reader that cannot panic.

use thiserror::Error;

/// Why peer bytes could not be read. Says what was wrong, never echoes secret material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before a field was complete.
    #[error("truncated: needed {needed} more byte(s) for {what}, {available} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes were left over after the message was fully parsed.
    #[error("{count} trailing byte(s) after the message")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// A field had a value the format does not allow.
    #[error("invalid {what}")]
    Invalid {
        /// Which field, in the RFC's words.
        what: &'static str,
    },
    /// The output buffer was too small (only from [`crate::SliceWriter`]).
    #[error("output buffer too small: needed {needed} byte(s), {available} free")]
    BufferTooSmall {
        /// Bytes the write needed.
        needed: usize,
        /// Bytes that were free.
        available: usize,
    },
}

/// Reads big-endian fields from a borrowed byte slice.
///
/// Every method checks the length first and returns [`WireError::Truncated`] rather than
/// panicking; a failed read consumes nothing. Call [`Reader::finish`] at the end of a message so
/// trailing bytes are an error.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes have been read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        self.take_named(n, "field")
    }

    /// Takes the next `n` bytes; `what` names the field in the error.
    pub fn take_named(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let available = self.remaining();
        let end = self.pos.checked_add(n).filter(|_| n <= available);
        match end.and_then(|end| self.buf.get(self.pos..end).map(|s| (s, end))) {
            Some((slice, end)) => {
                self.pos = end;
                Ok(slice)
            }
            None => Err(WireError::Truncated {
                what,
                needed: n,
                available,
            }),
        }
    }

    /// Takes the next `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Looks at the next `n` bytes without consuming them.
    pub fn peek(&self, n: usize) -> Result<&'a [u8], WireError> {
        self.clone().take(n)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), WireError> {
        self.take(n).map(|_| ())
    }

    /// Takes everything that is left (possibly nothing).
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        rest
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.take_array()?))
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.take_array()?))
    }

    /// Reads a big-endian 24-bit value.
    pub fn u24(&mut self) -> Result<u32, WireError> {
        let [a, b, c] = self.take_array::<3>()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.take_array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take_array()?))
    }

    /// Succeeds only if every byte was read: trailing bytes are an error.
    pub fn finish(self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(WireError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_fields_in_order() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0x0203);
        assert_eq!(r.u24().unwrap(), 0x04_0506);
        assert_eq!(r.u32().unwrap(), 0x0708_090a);
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.rest(), &[11]);
        r.finish().unwrap();
    }

    #[test]
    fn truncated_input_is_an_error_and_consumes_nothing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32(),
            Err(WireError::Truncated {
                what: "field",
                needed: 4,
                available: 3
            })
        );
        assert_eq!(r.position(), 0);
        assert!(r.take_array::<4>().is_err());
        assert_eq!(r.take(3).unwrap(), &[1, 2, 3]);
        assert!(r.u8().is_err());
        assert!(r.is_empty());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut r = Reader::new(&[0, 1, 2]);
        r.u16().unwrap();
        assert_eq!(r.finish(), Err(WireError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut r = Reader::new(&[0; 8]);
        r.u8().unwrap();
        assert!(r.take(usize::MAX).is_err());
        assert!(r.take(usize::MAX - 1).is_err());
        assert!(r.skip(8).is_err());
        assert_eq!(r.remaining(), 7);
    }

    #[test]
    fn peek_does_not_consume() {
        let r = Reader::new(b"ZRTP");
        assert_eq!(r.peek(2).unwrap(), b"ZR");
        assert_eq!(r.remaining(), 4);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Take(usize),
        U8,
        U16,
        U24,
        U32,
        U64,
        Skip(usize),
        Peek(usize),
        Arr16,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..80).prop_map(Op::Take),
            Just(Op::U8),
            Just(Op::U16),
            Just(Op::U24),
            Just(Op::U32),
            Just(Op::U64),
            any::<usize>().prop_map(Op::Skip),
            (0usize..80).prop_map(Op::Peek),
            Just(Op::Arr16),
        ]
    }

    proptest! {
        /// No sequence of reads on any input panics, and the position only ever moves forward
        /// by exactly what a successful read consumed.
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64),
                        ops in proptest::collection::vec(op(), 0..32)) {
            let mut r = Reader::new(&data);
            let mut consumed = 0usize;
            for op in ops {
                let before = r.remaining();
                let used = match op {
                    Op::Take(n) => r.take(n).map(|s| s.len()).ok(),
                    Op::U8 => r.u8().map(|_| 1).ok(),
                    Op::U16 => r.u16().map(|_| 2).ok(),
                    Op::U24 => r.u24().map(|_| 3).ok(),
                    Op::U32 => r.u32().map(|_| 4).ok(),
                    Op::U64 => r.u64().map(|_| 8).ok(),
                    Op::Skip(n) => r.skip(n).map(|_| n).ok(),
                    Op::Peek(n) => { let _ = r.peek(n); Some(0) }
                    Op::Arr16 => r.take_array::<16>().map(|_| 16).ok(),
                };
                match used {
                    Some(n) => { prop_assert_eq!(before - r.remaining(), n); consumed += n; }
                    None => prop_assert_eq!(before, r.remaining()),
                }
            }
            prop_assert_eq!(r.position(), consumed);
            let finished_ok = r.clone().finish().is_ok();
            prop_assert_eq!(finished_ok, consumed == data.len());
        }

        /// What the Writer writes, the Reader reads back.
        #[test]
        fn writer_round_trip(a in any::<u8>(), b in any::<u16>(), c in 0u32..(1 << 24),
                             d in any::<u32>(), e in any::<u64>(),
                             tail in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut buf = Vec::new();
            let mut w = crate::Writer::new(&mut buf);
            w.u8(a); w.u16(b); w.u24(c); w.u32(d); w.u64(e); w.bytes(&tail);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.u8().unwrap(), a);
            prop_assert_eq!(r.u16().unwrap(), b);
            prop_assert_eq!(r.u24().unwrap(), c);
            prop_assert_eq!(r.u32().unwrap(), d);
            prop_assert_eq!(r.u64().unwrap(), e);
            prop_assert_eq!(r.take(tail.len()).unwrap(), &tail[..]);
            prop_assert!(r.finish().is_ok());
        }
    }
}
