//! # sotto-media — audio codecs, jitter buffer, concealment, resampling, WAV
//!
//! Owns the audio path between RTP payloads and PCM frames: Opus and G.711, an adaptive jitter
//! buffer with loss concealment and FEC recovery, resampling, WAV I/O and test signals.
//! Sans-IO: frames in, frames out; the caller passes `now`.
//!
//! - [`codec`]: [`OpusEncoder`]/[`OpusDecoder`] (pure-Rust libopus port `opus-rs`; why, in
//!   the module docs) and the [`AudioDecoder`] trait.
//! - [`g711`]: µ-law/A-law, written from ITU-T G.711, with a pitch-repeating concealment.
//! - [`jitter`]: the adaptive [`JitterBuffer`]; [`AudioReceiver`] couples it with a decoder
//!   and accepts RFC 2198 RED payloads ([`AudioReceiver::insert_red`]) as well as plain ones.
//!   One packet is assumed to carry one 20 ms frame (`ptime=20`).
//!
//! Measured quality (wideband PESQ through `sotto-netem`) and CPU are in
//! `docs/performance.md`; `benches/quality.sh` reproduces them.
//! - [`processing`]: [`AudioProcessor`], echo cancellation (AEC3) and noise suppression for
//!   live device audio (pure-Rust port of WebRTC's audio processing, `sonora`; why, in the
//!   module docs). Audio devices themselves (capture and playback) live in `sotto-net`.
//! - [`resample`], [`wav`], [`signal`]: device-rate conversion, files, test signals;
//!   [`testbench`]: a simulated echo path, noise and the measures used to prove [`processing`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sotto_media::{AudioReceiver, JitterConfig, OpusConfig, OpusDecoder, OpusEncoder,
//!                   Encoded, OPUS_FRAME, signal};
//!
//! # #[allow(clippy::disallowed_methods)] let t0 = Instant::now();
//! let mut enc = OpusEncoder::new(OpusConfig::default())?;
//! let mut rx = AudioReceiver::new(JitterConfig::new(48_000), OpusDecoder::new()?);
//! let speech = signal::harmonic_sweep(48_000, 110.0, 180.0, 0.2);
//! let mut packet = [0u8; 1500];
//! let mut out = [0i16; OPUS_FRAME];
//! for (i, frame) in speech.chunks_exact(OPUS_FRAME).enumerate() {
//!     let now = t0 + Duration::from_millis(20 * i as u64);
//!     if let Encoded::Packet(n) = enc.encode(frame, &mut packet)? {
//!         rx.insert(now, (i * OPUS_FRAME) as u32, &packet[..n]);
//!     }
//!     rx.pull(now, &mut out)?; // the device plays `out`
//! }
//! // 40 ms of initial buffering, then one packet per tick.
//! assert_eq!(rx.jitter().stats().played, 8);
//! # Ok::<(), sotto_media::MediaError>(())
//! ```

pub mod codec;
mod error;
pub mod g711;
pub mod jitter;
pub mod processing;
mod receiver;
pub mod resample;
pub mod signal;
pub mod testbench;
pub mod wav;

pub use codec::{
    AudioDecoder, Encoded, OPUS_FRAME, OPUS_MAX_PACKET, OPUS_RATE, OpusConfig, OpusDecoder,
    OpusEncoder,
};
pub use error::{MediaError, Result};
pub use g711::{G711Decoder, G711Law};
pub use jitter::{InsertOutcome, JitterBuffer, JitterConfig, JitterStats, Playout};
pub use processing::{AudioProcessor, NoiseLevel, ProcessingConfig, ProcessingStats};
pub use receiver::{AudioReceiver, PlayedKind};
