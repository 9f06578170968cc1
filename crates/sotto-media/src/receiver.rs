//! [`AudioReceiver`]: a jitter buffer and a decoder, PCM out.

use crate::codec::AudioDecoder;
use crate::error::Result;
use crate::jitter::{InsertOutcome, JitterBuffer, JitterConfig, Playout};
use crate::signal::rms_dbfs;
use std::time::Instant;

/// Below this level a played frame counts as quiet (delay adjustments go there).
const QUIET_DBFS: f64 = -42.0;

/// What a [`AudioReceiver::pull`] played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayedKind {
    /// Silence: nothing received yet.
    Idle,
    /// A decoded packet.
    Decoded,
    /// Recovered from the next packet's FEC.
    Fec,
    /// Concealed (lost or late).
    Concealed,
    /// Inserted to adjust the delay.
    Expanded,
}

/// A jitter buffer feeding a decoder: insert RTP payloads, pull one frame of PCM per tick.
#[derive(Debug)]
pub struct AudioReceiver<D> {
    jb: JitterBuffer,
    dec: D,
    quiet: bool,
}

impl<D: AudioDecoder> AudioReceiver<D> {
    /// A receiver with buffer settings `cfg` and decoder `dec`.
    pub fn new(cfg: JitterConfig, dec: D) -> Self {
        Self {
            jb: JitterBuffer::new(cfg),
            dec,
            quiet: true,
        }
    }

    /// The jitter buffer (for statistics).
    pub fn jitter(&self) -> &JitterBuffer {
        &self.jb
    }

    /// Offers an RTP payload with its timestamp, arriving at `now`.
    pub fn insert(&mut self, now: Instant, rtp_timestamp: u32, payload: &[u8]) -> InsertOutcome {
        self.jb.insert(now, rtp_timestamp, payload)
    }

    /// Offers an RFC 2198 RED payload: the redundant blocks fill earlier gaps, the primary
    /// block is inserted as usual. Malformed RED is dropped (counted as not buffered).
    pub fn insert_red(
        &mut self,
        now: Instant,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> InsertOutcome {
        let Ok(red) = sotto_rtp::RedPayload::parse(payload) else {
            return InsertOutcome::Overflow;
        };
        // Primary first, so the media clock and delay estimate see this packet.
        let outcome = self.jb.insert(now, rtp_timestamp, red.primary);
        for b in red.redundant() {
            let ts = rtp_timestamp.wrapping_sub(u32::from(b.timestamp_offset));
            self.jb.insert_redundant(ts, b.data);
        }
        outcome
    }

    /// Fills `out` (one frame, [`AudioDecoder::frame_samples`] long) for the tick at `now`.
    pub fn pull(&mut self, now: Instant, out: &mut [i16]) -> Result<PlayedKind> {
        let n = self.dec.frame_samples().min(out.len());
        let frame = out.get_mut(..n).unwrap_or_default();
        let kind = match self.jb.pull(now, self.quiet) {
            Playout::Idle => {
                frame.fill(0);
                PlayedKind::Idle
            }
            Playout::Packet(p) => match self.dec.decode(p, frame) {
                Ok(_) => PlayedKind::Decoded,
                Err(_) => {
                    // A payload we cannot decode is a lost frame.
                    self.dec.conceal(frame)?;
                    PlayedKind::Concealed
                }
            },
            Playout::Fec(p) => {
                self.dec.decode_fec(p, frame)?;
                PlayedKind::Fec
            }
            Playout::Conceal => {
                self.dec.conceal(frame)?;
                PlayedKind::Concealed
            }
            Playout::Expand => {
                self.dec.conceal(frame)?;
                PlayedKind::Expanded
            }
        };
        self.quiet = rms_dbfs(frame) < QUIET_DBFS;
        Ok(kind)
    }
}
