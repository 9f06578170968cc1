//! The audio path of one call for the negotiated codec: 20 ms frames at 48 kHz mono in and out
//! (what [`crate::phone::AudioIo`] deals in), Opus at 48 kHz or G.711 at 8 kHz on the wire.
//!
//! G.711 (PCMU/PCMA) is for peers that offer nothing better; its path resamples 48 kHz → 8 kHz
//! before encoding and 8 kHz → 48 kHz after decoding (`sotto_media::resample`, rubato), so the
//! rest of the call never sees another rate.

use std::time::Instant;

use sotto_media::g711::g711_encode;
use sotto_media::resample::StreamResampler;
use sotto_media::{
    AudioReceiver, Encoded, G711Decoder, G711Law, JitterConfig, MediaError, OPUS_FRAME, OpusConfig,
    OpusDecoder, OpusEncoder, PlayedKind,
};
use sotto_sip::sdp::Codec;

/// Samples in 20 ms at 8 kHz.
const G711_FRAME: usize = 160;

/// Encoder, jitter buffer and decoder for one call.
pub(crate) enum CodecPath {
    Opus {
        enc: Box<OpusEncoder>,
        rx: Box<AudioReceiver<OpusDecoder>>,
    },
    G711 {
        law: G711Law,
        down: Box<StreamResampler>,
        up: Box<StreamResampler>,
        down_buf: Vec<i16>,
        up_buf: Vec<i16>,
        rx: Box<AudioReceiver<G711Decoder>>,
    },
}

impl CodecPath {
    /// The path for `codec`.
    pub(crate) fn new(codec: Codec, opus: OpusConfig) -> Result<Self, MediaError> {
        Ok(match codec {
            Codec::Opus => Self::Opus {
                enc: Box::new(OpusEncoder::new(opus)?),
                rx: Box::new(AudioReceiver::new(
                    JitterConfig::new(48_000),
                    OpusDecoder::new()?,
                )),
            },
            Codec::Pcmu | Codec::Pcma => {
                let law = if codec == Codec::Pcmu {
                    G711Law::Ulaw
                } else {
                    G711Law::Alaw
                };
                Self::G711 {
                    law,
                    down: Box::new(StreamResampler::new(48_000, 8_000, OPUS_FRAME)?),
                    up: Box::new(StreamResampler::new(8_000, 48_000, G711_FRAME)?),
                    down_buf: Vec::with_capacity(4 * G711_FRAME),
                    up_buf: Vec::with_capacity(4 * OPUS_FRAME),
                    rx: Box::new(AudioReceiver::new(
                        JitterConfig::new(8_000),
                        G711Decoder::new(law, G711_FRAME),
                    )),
                }
            }
        })
    }

    /// RTP timestamp units per 20 ms frame.
    pub(crate) fn timestamp_step(&self) -> u32 {
        match self {
            Self::Opus { .. } => OPUS_FRAME as u32,
            Self::G711 { .. } => G711_FRAME as u32,
        }
    }

    /// Encodes one 48 kHz frame into `out`; `None` when nothing is to be sent (Opus DTX) or the
    /// encoder failed.
    pub(crate) fn encode(&mut self, pcm48: &[i16], out: &mut [u8]) -> Option<usize> {
        match self {
            Self::Opus { enc, .. } => match enc.encode(pcm48, out) {
                Ok(Encoded::Packet(n)) => Some(n),
                _ => None,
            },
            Self::G711 {
                law,
                down,
                down_buf,
                ..
            } => {
                down.process(pcm48, down_buf).ok()?;
                // The resampler's start-up delay can leave the first frames short: pad the
                // front with silence so every packet carries exactly 20 ms.
                while down_buf.len() < G711_FRAME {
                    down_buf.insert(0, 0);
                }
                let frame: Vec<i16> = down_buf.drain(..G711_FRAME).collect();
                g711_encode(*law, &frame, out).ok()
            }
        }
    }

    /// Offers a received payload to the jitter buffer.
    pub(crate) fn insert(&mut self, now: Instant, timestamp: u32, payload: &[u8]) {
        match self {
            Self::Opus { rx, .. } => {
                rx.insert(now, timestamp, payload);
            }
            Self::G711 { rx, .. } => {
                rx.insert(now, timestamp, payload);
            }
        }
    }

    /// Fills one 48 kHz frame for playback.
    pub(crate) fn pull(
        &mut self,
        now: Instant,
        out48: &mut [i16],
    ) -> Result<PlayedKind, MediaError> {
        match self {
            Self::Opus { rx, .. } => rx.pull(now, out48),
            Self::G711 { up, up_buf, rx, .. } => {
                let mut frame = [0i16; G711_FRAME];
                let kind = rx.pull(now, &mut frame)?;
                up.process(&frame, up_buf)?;
                let take = up_buf.len().min(out48.len());
                let pad = out48.len() - take;
                let (silence, audio) = out48.split_at_mut(pad);
                silence.fill(0);
                for (o, s) in audio.iter_mut().zip(up_buf.drain(..take)) {
                    *o = s;
                }
                Ok(kind)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone48(freq: f64, n: usize, phase: &mut f64) -> Vec<i16> {
        (0..n)
            .map(|_| {
                let v = (8000.0 * (*phase * std::f64::consts::TAU).sin()) as i16;
                *phase = (*phase + freq / 48_000.0).fract();
                v
            })
            .collect()
    }

    #[test]
    fn g711_path_round_trips_a_tone_at_48_khz() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut tx = CodecPath::new(codec, OpusConfig::default()).unwrap();
            let mut rx = CodecPath::new(codec, OpusConfig::default()).unwrap();
            assert_eq!(tx.timestamp_step(), 160);
            #[allow(clippy::disallowed_methods, reason = "a base instant for the test")]
            let t0 = Instant::now();
            let mut phase = 0.0;
            let mut heard = Vec::new();
            for i in 0..100u32 {
                let now = t0 + std::time::Duration::from_millis(20 * u64::from(i));
                let pcm = tone48(600.0, OPUS_FRAME, &mut phase);
                let mut payload = [0u8; 200];
                let n = tx.encode(&pcm, &mut payload).unwrap();
                assert_eq!(n, 160);
                rx.insert(now, i * 160, &payload[..n]);
                let mut out = [0i16; OPUS_FRAME];
                rx.pull(now, &mut out).unwrap();
                heard.extend_from_slice(&out);
            }
            // After buffering, the 600 Hz tone dominates what is played.
            let tail = &heard[heard.len() / 2..];
            let share = sotto_media::signal::tone_share(tail, 600.0, 48_000);
            assert!(share > 0.8, "{codec:?}: 600 Hz share {share:.2}");
        }
    }
}
