//! Writers for our own bytes: [`Writer`] appends to a `Vec`, [`SliceWriter`] fills a caller-owned
//! buffer without allocating (the media path).

use crate::WireError;

/// Appends big-endian fields to a `Vec<u8>`. Used for signalling-rate messages.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer that appends to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf }
    }

    /// Bytes in the underlying buffer so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing has been written to the underlying buffer.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends the low 24 bits of `v`, big-endian.
    pub fn u24(&mut self, v: u32) {
        let [_, a, b, c] = v.to_be_bytes();
        self.buf.extend_from_slice(&[a, b, c]);
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
}

/// Writes big-endian fields into a caller-owned slice; never allocates, never panics.
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> SliceWriter<'a> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Appends raw bytes, or fails without writing if they do not fit.
    pub fn bytes(&mut self, v: &[u8]) -> Result<(), WireError> {
        let available = self.buf.len() - self.pos;
        let dst = self
            .pos
            .checked_add(v.len())
            .and_then(|end| self.buf.get_mut(self.pos..end));
        match dst {
            Some(dst) => {
                dst.copy_from_slice(v);
                self.pos += v.len();
                Ok(())
            }
            None => Err(WireError::BufferTooSmall {
                needed: v.len(),
                available,
            }),
        }
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.bytes(&[v])
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// The written prefix of the buffer.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_writer_refuses_overflow_without_writing() {
        let mut buf = [0u8; 5];
        let mut w = SliceWriter::new(&mut buf);
        w.u32(0xdead_beef).unwrap();
        assert_eq!(
            w.u16(1),
            Err(WireError::BufferTooSmall {
                needed: 2,
                available: 1
            })
        );
        w.u8(7).unwrap();
        assert!(w.u8(8).is_err());
        assert_eq!(w.written(), &[0xde, 0xad, 0xbe, 0xef, 7]);
    }
}
