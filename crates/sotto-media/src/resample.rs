//! Resampling between device rates and 48 kHz, with `rubato`'s synchronous FFT resampler
//! (fixed ratio, high quality).
//!
//! [`resample`] converts a whole clip (delay trimmed so the output lines up with the input);
//! [`StreamResampler`] converts a live stream chunk by chunk without allocating per call.

use crate::error::{MediaError, Result};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

fn rs_err(e: impl core::fmt::Display) -> MediaError {
    MediaError::Resample(e.to_string())
}

fn to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Resamples a mono clip from `from` Hz to `to` Hz.
pub fn resample(pcm: &[i16], from: u32, to: u32) -> Result<Vec<i16>> {
    if from == to {
        return Ok(pcm.to_vec());
    }
    if pcm.is_empty() {
        return Ok(Vec::new());
    }
    let mut r =
        Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both).map_err(rs_err)?;
    let input = to_f32(pcm);
    let adapter = InterleavedSlice::new(&input, 1, input.len()).map_err(rs_err)?;
    let out = r.process_all(&adapter, input.len(), None).map_err(rs_err)?;
    Ok(out.take_data().into_iter().map(to_i16).collect())
}

/// A streaming mono resampler with a fixed input chunk (e.g. one 10 ms device buffer).
pub struct StreamResampler {
    inner: Fft<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    chunk: usize,
}

impl core::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz taking `chunk` input samples per call.
    pub fn new(from: u32, to: u32, chunk: usize) -> Result<Self> {
        let inner = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(rs_err)?;
        let out_max = inner.output_frames_max();
        Ok(Self {
            inner,
            input: vec![0.0; chunk],
            output: vec![0.0; out_max],
            chunk,
        })
    }

    /// Input samples each call takes.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Samples of delay the resampler adds at the output rate.
    pub fn output_delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Resamples one chunk (`pcm.len() == chunk`), appending the output to `out`.
    pub fn process(&mut self, pcm: &[i16], out: &mut Vec<i16>) -> Result<()> {
        if pcm.len() != self.chunk {
            return Err(MediaError::Misuse {
                what: "StreamResampler input must be exactly one chunk",
            });
        }
        for (d, &s) in self.input.iter_mut().zip(pcm) {
            *d = f32::from(s) / 32768.0;
        }
        let frames_out = self.output.len();
        let inp = InterleavedSlice::new(&self.input, 1, self.chunk).map_err(rs_err)?;
        let mut outp =
            InterleavedSlice::new_mut(&mut self.output, 1, frames_out).map_err(rs_err)?;
        let (_, written) = self
            .inner
            .process_into_buffer(&inp, &mut outp, None)
            .map_err(rs_err)?;
        out.extend(self.output.iter().take(written).map(|&x| to_i16(x)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{rms_dbfs, tone};

    #[test]
    fn clip_keeps_length_level_and_pitch() {
        let t = tone(22_050, 440.0, 0.5, 22_050);
        let up = resample(&t, 22_050, 48_000).unwrap();
        assert!((up.len() as i64 - 48_000).abs() <= 2, "{}", up.len());
        assert!((rms_dbfs(&up[2000..46000]) - rms_dbfs(&t)).abs() < 0.2);
        // Still 440 Hz: 880 zero crossings per second.
        let zc = up.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((875..=885).contains(&zc), "{zc}");
        let down = resample(&up, 48_000, 16_000).unwrap();
        assert!((down.len() as i64 - 16_000).abs() <= 2);
    }

    #[test]
    fn stream_matches_rate() {
        let mut r = StreamResampler::new(44_100, 48_000, 441).unwrap();
        let t = tone(44_100, 1000.0, 0.3, 44_100);
        let mut out = Vec::new();
        for c in t.chunks_exact(441) {
            r.process(c, &mut out).unwrap();
        }
        assert!((out.len() as i64 - 48_000).abs() < 1200, "{}", out.len());
        assert!((rms_dbfs(&out[4800..]) - rms_dbfs(&t)).abs() < 0.3);
        assert!(r.process(&t[..10], &mut out).is_err());
    }
}
