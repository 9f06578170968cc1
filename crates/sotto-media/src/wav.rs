//! WAV read/write (via `hound`): 16-bit PCM, any rate, mono (stereo is downmixed on read).

use crate::error::{MediaError, Result};
use std::path::Path;

fn wav_err(e: hound::Error) -> MediaError {
    MediaError::Wav(e.to_string())
}

/// Mono audio with its sample rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// Samples per second.
    pub rate: u32,
    /// The samples.
    pub samples: Vec<i16>,
}

/// Reads a WAV file (16-bit integer or 32-bit float PCM, 8/24/32-bit integer too) as mono
/// 16-bit; multichannel input is averaged.
pub fn read_wav(path: &Path) -> Result<Audio> {
    let mut r = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = r.spec();
    let ch = usize::from(spec.channels.max(1));
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.map(|v| v * 32767.0))
            .collect::<core::result::Result<_, _>>()
            .map_err(wav_err)?,
        hound::SampleFormat::Int => {
            let shift = i32::from(spec.bits_per_sample).saturating_sub(16);
            r.samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        if shift >= 0 {
                            (v >> shift) as f32
                        } else {
                            (v << -shift) as f32
                        }
                    })
                })
                .collect::<core::result::Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    let samples = raw
        .chunks(ch)
        .map(|c| (c.iter().sum::<f32>() / c.len() as f32).clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok(Audio {
        rate: spec.sample_rate,
        samples,
    })
}

/// Writes mono 16-bit PCM.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(wav_err)?;
    for &s in &audio.samples {
        w.write_sample(s).map_err(wav_err)?;
    }
    w.finalize().map_err(wav_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip() {
        let dir = std::env::temp_dir().join(format!("sotto-media-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.wav");
        let a = Audio {
            rate: 16_000,
            samples: crate::signal::tone(16_000, 300.0, 0.5, 1600),
        };
        write_wav(&path, &a).unwrap();
        assert_eq!(read_wav(&path).unwrap(), a);
        // 44-byte header + 2 bytes per sample.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 3200);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
