//! RFC 2198 redundant audio data ("RED"): one RTP payload carrying the current frame plus
//! copies of earlier ones, so a lost packet's frame arrives in the next one.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |F|   block PT  |  timestamp offset         |   block length    |   (F=1: redundant)
//! |0|   block PT  |                                                    (F=0: primary, last)
//! ```
//! then the blocks' data in the same order (RFC 2198 §3). Parsing and emitting do not
//! allocate: at most [`MAX_RED_BLOCKS`] redundant blocks are kept.

use crate::error::{Result, RtpError};
use sotto_proto::{Reader, SliceWriter};

/// Most redundant blocks parsed from or emitted into one payload.
pub const MAX_RED_BLOCKS: usize = 4;

/// One redundant block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// The block's payload type (7 bits).
    pub payload_type: u8,
    /// How far before the packet's RTP timestamp this block's timestamp is (14 bits).
    pub timestamp_offset: u16,
    /// The block's data (at most 1023 bytes).
    pub data: &'a [u8],
}

/// A parsed RED payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedPayload<'a> {
    blocks: [RedBlock<'a>; MAX_RED_BLOCKS],
    count: usize,
    /// The primary (newest) block's payload type.
    pub primary_type: u8,
    /// The primary block's data.
    pub primary: &'a [u8],
}

const EMPTY: RedBlock<'static> = RedBlock {
    payload_type: 0,
    timestamp_offset: 0,
    data: &[],
};

impl<'a> RedPayload<'a> {
    /// Parses a RED payload (RFC 2198 §3). More than [`MAX_RED_BLOCKS`] redundant blocks is
    /// an error.
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let mut headers = [(0u8, 0u16, 0usize); MAX_RED_BLOCKS];
        let mut count = 0;
        let primary_type = loop {
            let b = r.u8()?;
            if b & 0x80 == 0 {
                break b & 0x7F;
            }
            let rest = r.u24()?;
            let word = (u32::from(b) << 24) | rest;
            let h = headers.get_mut(count).ok_or(RtpError::Invalid {
                what: "too many RED blocks",
            })?;
            *h = (
                ((word >> 24) & 0x7F) as u8,
                ((word >> 10) & 0x3FFF) as u16,
                (word & 0x3FF) as usize,
            );
            count += 1;
        };
        let mut blocks = [EMPTY; MAX_RED_BLOCKS];
        for (slot, &(pt, off, len)) in blocks.iter_mut().zip(headers.iter()).take(count) {
            *slot = RedBlock {
                payload_type: pt,
                timestamp_offset: off,
                data: r.take_named(len, "RED block data")?,
            };
        }
        Ok(Self {
            blocks,
            count,
            primary_type,
            primary: r.rest(),
        })
    }

    /// The redundant blocks, oldest first (as sent).
    pub fn redundant(&self) -> &[RedBlock<'a>] {
        self.blocks.get(..self.count).unwrap_or_default()
    }
}

/// Writes a RED payload: `redundant` blocks (oldest first) then the primary block. Returns the
/// length written.
pub fn emit_red(
    redundant: &[RedBlock<'_>],
    primary_type: u8,
    primary: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    if redundant.len() > MAX_RED_BLOCKS || primary_type > 0x7F {
        return Err(RtpError::Misuse {
            what: "RED: at most 4 redundant blocks, 7-bit payload types",
        });
    }
    let mut w = SliceWriter::new(out);
    for b in redundant {
        if b.payload_type > 0x7F || b.timestamp_offset > 0x3FFF || b.data.len() > 0x3FF {
            return Err(RtpError::Misuse {
                what: "RED block: 7-bit PT, 14-bit offset, at most 1023 bytes",
            });
        }
        let word = 0x8000_0000
            | (u32::from(b.payload_type) << 24)
            | (u32::from(b.timestamp_offset) << 10)
            | b.data.len() as u32;
        w.u32(word)?;
    }
    w.u8(primary_type)?;
    for b in redundant {
        w.bytes(b.data)?;
    }
    w.bytes(primary)?;
    Ok(w.position())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 2198 §3 example shape: one redundant block (PT 0, offset 160, 3 bytes) and a
    /// primary block of PT 0: header F=1|PT 0|offset 160|len 3 = 0x80 0x02 0x80 0x03.
    #[test]
    fn layout_rfc2198() {
        let red = [RedBlock {
            payload_type: 0,
            timestamp_offset: 160,
            data: &[1, 2, 3],
        }];
        let mut out = [0u8; 32];
        let n = emit_red(&red, 0, &[9, 9], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x80, 0x02, 0x80, 0x03, 0x00, 1, 2, 3, 9, 9]);
        let p = RedPayload::parse(&out[..n]).unwrap();
        assert_eq!(p.redundant(), &red);
        assert_eq!(p.primary, &[9, 9]);
        assert!(RedPayload::parse(&[0x80, 0x02]).is_err());
        assert!(RedPayload::parse(&[0x80, 0x02, 0x80, 0x03, 0x00, 1]).is_err());
    }

    proptest! {
        #[test]
        fn red_round_trips(
            blocks in prop::collection::vec((0u8..128, 0u16..0x4000, prop::collection::vec(any::<u8>(), 0..100)), 0..=4),
            pt in 0u8..128, primary in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let red: Vec<RedBlock<'_>> = blocks.iter().map(|(p, o, d)| RedBlock { payload_type: *p, timestamp_offset: *o, data: d }).collect();
            let mut out = vec![0u8; 2000];
            let n = emit_red(&red, pt, &primary, &mut out).unwrap();
            let back = RedPayload::parse(&out[..n]).unwrap();
            prop_assert_eq!(back.redundant(), &red[..]);
            prop_assert_eq!(back.primary_type, pt);
            prop_assert_eq!(back.primary, &primary[..]);
        }

        #[test]
        fn red_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = RedPayload::parse(&bytes);
        }
    }
}
