//! Echo cancellation and noise suppression for live device audio: a sans-IO stage between the
//! microphone and the encoder.
//!
//! Feed it what the loudspeaker plays ([`AudioProcessor::far_end`], the far-end reference) and
//! what the microphone hears ([`AudioProcessor::near_end`], cleaned in place). Frames are any
//! whole number of 10 ms blocks (480 or 960 samples at 48 kHz); the stage splits them into the
//! 10 ms blocks the canceller works on. Call `far_end` for a frame before the `near_end` of the
//! frame captured while it played, as a phone does each tick (play, then capture).
//!
//! # Why `sonora`
//!
//! The issue asked for WebRTC's audio processing, bundled, or a pure-Rust AEC3 port, and a
//! fresh machine here has only the Rust toolchain, gcc and pkg-config: no cmake, clang, meson
//! or autotools. That rules out `webrtc-audio-processing` (its bundled build runs meson and
//! needs a C++ toolchain with abseil). Candidates checked on 2026-11-23:
//!
//! - **`sonora` 0.2** (chosen): a pure-Rust port of the whole WebRTC audio processing module
//!   (AEC3 with its delay estimator, the WebRTC noise suppressor, AGC2, high-pass filter),
//!   BSD-3-Clause like WebRTC itself, split into small crates (`sonora-aec3`, `sonora-ns`, …),
//!   no C, no build script; builds here in under a minute. Its API mirrors
//!   `webrtc::AudioProcessing`, so behaviour and tuning knowledge carry over.
//! - `aec3` 0.4 (MIT OR BSD-3-Clause): also a pure-Rust AEC3 port with a VoIP wrapper, but a
//!   narrower port of the pipeline around AEC3 and a fast-moving API (0.1 → 0.4 in months).
//! - `nnnoiseless` 0.5 (BSD-3-Clause, RNNoise port): noise suppression only, no echo
//!   cancellation; would have been a second crate and a second 10 ms pipeline.
//! - speexdsp bindings: C compiled with `cc`; Speex's echo canceller is clearly weaker than
//!   AEC3 on double talk.
//!
//! The measured echo return loss enhancement, near-end preservation under double talk, noise
//! suppression and CPU cost are in `docs/performance.md` ("Echo cancellation and noise
//! suppression"); `benches/processing.sh` reproduces them.
//!
//! ```
//! use sotto_media::processing::{AudioProcessor, ProcessingConfig};
//! use sotto_media::signal::tone;
//!
//! let mut aec = AudioProcessor::new(ProcessingConfig::default())?;
//! let played = tone(48_000, 440.0, 0.3, 960);
//! let mut mic = tone(48_000, 440.0, 0.1, 960); // the loudspeaker, heard again
//! aec.far_end(&played)?;  // what the loudspeaker plays now
//! aec.near_end(&mut mic)?; // what the microphone heard meanwhile, cleaned in place
//! # Ok::<(), sotto_media::MediaError>(())
//! ```

use crate::error::{MediaError, Result};
use sonora::config::{
    EchoCanceller, GainController2, HighPassFilter, NoiseSuppression, NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};

/// How hard the noise suppressor works (WebRTC's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NoiseLevel {
    /// About 6 dB of suppression.
    Low,
    /// About 12 dB (WebRTC's default).
    #[default]
    Moderate,
    /// About 18 dB.
    High,
    /// About 21 dB.
    VeryHigh,
}

impl From<NoiseLevel> for NoiseSuppressionLevel {
    fn from(l: NoiseLevel) -> Self {
        match l {
            NoiseLevel::Low => Self::Low,
            NoiseLevel::Moderate => Self::Moderate,
            NoiseLevel::High => Self::High,
            NoiseLevel::VeryHigh => Self::VeryHigh,
        }
    }
}

/// What the stage does. The default is what a call on loudspeaker and microphone needs: echo
/// cancellation, moderate noise suppression and the high-pass filter at 48 kHz, no gain control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingConfig {
    /// Sample rate of both streams, 8 000 to 48 000 Hz in steps of 100 (10 ms must be whole
    /// samples). The canceller splits bands internally; sotto passes 48 kHz.
    pub sample_rate: u32,
    /// Cancel the echo of the far end (AEC3).
    pub echo_cancellation: bool,
    /// Suppress stationary noise (`None`: off).
    pub noise_suppression: Option<NoiseLevel>,
    /// Remove rumble below about 80 Hz.
    pub high_pass: bool,
    /// Adaptive digital gain (AGC2). Off by default: it changes levels the user set.
    pub gain_control: bool,
    /// A hint of the delay from playing a frame to hearing it in the microphone, in ms
    /// (device buffers on both sides). AEC3 estimates the actual delay itself.
    pub stream_delay_ms: u16,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            echo_cancellation: true,
            noise_suppression: Some(NoiseLevel::Moderate),
            high_pass: true,
            gain_control: false,
            stream_delay_ms: 0,
        }
    }
}

/// Counters of the stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessingStats {
    /// 10 ms far-end blocks analysed.
    pub far_blocks: u64,
    /// 10 ms near-end blocks cleaned.
    pub near_blocks: u64,
    /// The canceller's own echo return loss enhancement estimate, in dB, if it has one.
    pub erle_db: Option<f64>,
    /// The canceller's estimate of the echo delay, in ms, if it has one.
    pub delay_ms: Option<i32>,
}

/// The echo canceller and noise suppressor. See the module docs.
pub struct AudioProcessor {
    apm: Box<AudioProcessing>,
    block: usize,
    far_in: Vec<f32>,
    far_out: Vec<f32>,
    near_in: Vec<f32>,
    near_out: Vec<f32>,
    far_blocks: u64,
    near_blocks: u64,
}

impl core::fmt::Debug for AudioProcessor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AudioProcessor")
            .field("block", &self.block)
            .field("far_blocks", &self.far_blocks)
            .field("near_blocks", &self.near_blocks)
            .finish_non_exhaustive()
    }
}

fn apm_err(e: sonora::Error) -> MediaError {
    MediaError::Processing(e.to_string())
}

impl AudioProcessor {
    /// A stage with these settings.
    pub fn new(cfg: ProcessingConfig) -> Result<Self> {
        if !(8_000..=48_000).contains(&cfg.sample_rate) || !cfg.sample_rate.is_multiple_of(100) {
            return Err(MediaError::Misuse {
                what: "processing rate must be 8000..=48000 Hz in steps of 100",
            });
        }
        let config = Config {
            echo_canceller: cfg.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: cfg.noise_suppression.map(|l| NoiseSuppression {
                level: l.into(),
                ..NoiseSuppression::default()
            }),
            high_pass_filter: cfg.high_pass.then(HighPassFilter::default),
            gain_controller2: cfg.gain_control.then(GainController2::default),
            ..Config::default()
        };
        let stream = StreamConfig::new(cfg.sample_rate, 1);
        let mut apm = Box::new(
            AudioProcessing::builder()
                .config(config)
                .capture_config(stream)
                .render_config(stream)
                .build(),
        );
        apm.set_stream_delay_ms(i32::from(cfg.stream_delay_ms))
            .map_err(apm_err)?;
        let block = (cfg.sample_rate / 100) as usize;
        Ok(Self {
            apm,
            block,
            far_in: vec![0.0; block],
            far_out: vec![0.0; block],
            near_in: vec![0.0; block],
            near_out: vec![0.0; block],
            far_blocks: 0,
            near_blocks: 0,
        })
    }

    /// Samples in one 10 ms block; frames must be a whole number of these.
    pub fn block_len(&self) -> usize {
        self.block
    }

    /// Updates the delay hint (ms from playing to hearing); see
    /// [`ProcessingConfig::stream_delay_ms`].
    pub fn set_stream_delay_ms(&mut self, ms: u16) {
        // 0..=500 is accepted as is; larger values are clamped by the canceller.
        let _ = self.apm.set_stream_delay_ms(i32::from(ms));
    }

    fn check(&self, len: usize) -> Result<()> {
        if len == 0 || !len.is_multiple_of(self.block) {
            return Err(MediaError::Misuse {
                what: "processing frames must be whole 10 ms blocks",
            });
        }
        Ok(())
    }

    /// Tells the canceller what the loudspeaker plays now (the far-end reference).
    pub fn far_end(&mut self, pcm: &[i16]) -> Result<()> {
        self.check(pcm.len())?;
        for chunk in pcm.chunks_exact(self.block) {
            for (d, &s) in self.far_in.iter_mut().zip(chunk) {
                *d = f32::from(s) / 32768.0;
            }
            self.apm
                .process_render_f32(&[&self.far_in], &mut [&mut self.far_out])
                .map_err(apm_err)?;
            self.far_blocks += 1;
        }
        Ok(())
    }

    /// Cleans what the microphone heard (echo and noise removed), in place.
    pub fn near_end(&mut self, pcm: &mut [i16]) -> Result<()> {
        self.check(pcm.len())?;
        for chunk in pcm.chunks_exact_mut(self.block) {
            for (d, &s) in self.near_in.iter_mut().zip(chunk.iter()) {
                *d = f32::from(s) / 32768.0;
            }
            self.apm
                .process_capture_f32(&[&self.near_in], &mut [&mut self.near_out])
                .map_err(apm_err)?;
            for (d, &x) in chunk.iter_mut().zip(&self.near_out) {
                *d = (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            }
            self.near_blocks += 1;
        }
        Ok(())
    }

    /// Counters and the canceller's own estimates.
    pub fn stats(&self) -> ProcessingStats {
        let s = self.apm.statistics();
        ProcessingStats {
            far_blocks: self.far_blocks,
            near_blocks: self.near_blocks,
            erle_db: s.echo_return_loss_enhancement,
            delay_ms: s.delay_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_rates_and_frames() {
        assert!(
            AudioProcessor::new(ProcessingConfig {
                sample_rate: 44_123,
                ..ProcessingConfig::default()
            })
            .is_err()
        );
        let mut p = AudioProcessor::new(ProcessingConfig::default()).unwrap();
        assert_eq!(p.block_len(), 480);
        assert!(p.far_end(&[0; 100]).is_err());
        assert!(p.near_end(&mut [0; 0]).is_err());
        assert!(p.near_end(&mut [0; 960]).is_ok());
        assert_eq!(p.stats().near_blocks, 2);
    }

    #[test]
    fn everything_off_is_transparent() {
        let mut p = AudioProcessor::new(ProcessingConfig {
            echo_cancellation: false,
            noise_suppression: None,
            high_pass: false,
            ..ProcessingConfig::default()
        })
        .unwrap();
        let t = crate::signal::tone(48_000, 440.0, 0.3, 960);
        let mut x = t.clone();
        p.far_end(&t).unwrap();
        p.near_end(&mut x).unwrap();
        let max = t.iter().zip(&x).map(|(a, b)| (a - b).abs()).max().unwrap();
        assert!(max <= 1, "{max}");
    }
}
