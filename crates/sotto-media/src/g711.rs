//! G.711 µ-law (PCMU) and A-law (PCMA) (ITU-T G.711; RTP payload types 0 and 8, RFC 3551),
//! plus a simple packet loss concealment for them.
//!
//! The encoders follow the segment/quantisation tables of G.711 Tables 1a/1b (A-law) and
//! 2a/2b (µ-law) on 16-bit linear PCM: A-law quantises the top 13 bits, µ-law the top 14.

use crate::codec::AudioDecoder;
use crate::error::{MediaError, Result};

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

/// Encodes one 16-bit linear sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // 14-bit magnitude plus the bias of 33 (0x84 >> 2).
    let mut v = i32::from(sample) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    // Segment = position of the highest set bit above bit 5 (0x3F is the end of segment 0).
    let seg = (0..8u32).find(|s| v < (0x40 << s)).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let uval = ((seg as i32) << 4) | ((v >> (seg + 1)) & 0x0F);
    (uval as u8) ^ mask
}

/// Decodes one µ-law code to 16-bit linear.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = ((i32::from(u) & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

/// Encodes one 16-bit linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    // Segment ends 0x1F, 0x3F, 0x7F, ... 0xFFF.
    let seg = (0..8u32).find(|s| v < (0x20 << s)).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut aval = (seg as i32) << 4;
    aval |= if seg < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> seg) & 0x0F
    };
    (aval as u8) ^ mask
}

/// Decodes one A-law code to 16-bit linear.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = (i32::from(a) & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & 0x80 != 0 { t } else { -t };
    v as i16
}

/// Which G.711 law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711Law {
    /// µ-law, PCMU, payload type 0.
    Ulaw,
    /// A-law, PCMA, payload type 8.
    Alaw,
}

/// Encodes a block of samples; `out` must be as long as `pcm`.
pub fn g711_encode(law: G711Law, pcm: &[i16], out: &mut [u8]) -> Result<usize> {
    if out.len() < pcm.len() {
        return Err(MediaError::Misuse {
            what: "G.711 output shorter than input",
        });
    }
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = match law {
            G711Law::Ulaw => linear_to_ulaw(s),
            G711Law::Alaw => linear_to_alaw(s),
        };
    }
    Ok(pcm.len())
}

/// A G.711 decoder with a simple concealment: a lost frame repeats the last pitch-sized
/// stretch of audio (found by autocorrelation over 2.5–15 ms), fading out by 20 % per 10 ms
/// and reaching silence after 60 ms, in the spirit of G.711 Appendix I.
#[derive(Debug, Clone)]
pub struct G711Decoder {
    law: G711Law,
    frame: usize,
    history: Vec<i16>,
    lost_run: usize,
}

const HISTORY: usize = 8000 * 30 / 1000; // 30 ms at 8 kHz

impl G711Decoder {
    /// A decoder for 8 kHz audio in frames of `frame` samples (160 for 20 ms).
    pub fn new(law: G711Law, frame: usize) -> Self {
        Self {
            law,
            frame,
            history: vec![0; HISTORY],
            lost_run: 0,
        }
    }

    fn remember(&mut self, pcm: &[i16]) {
        let keep = HISTORY.saturating_sub(pcm.len());
        let drop = self.history.len().saturating_sub(keep);
        self.history.drain(..drop);
        let take = pcm.len().min(HISTORY);
        self.history
            .extend_from_slice(pcm.get(pcm.len() - take..).unwrap_or_default());
    }

    fn pitch_period(&self) -> usize {
        // Autocorrelation of the last 10 ms against lags of 20..=120 samples.
        let h = &self.history;
        let n = h.len();
        let win = 80usize;
        let mut best = (0i64, 80usize);
        for lag in 20..=120usize {
            if lag + win > n {
                break;
            }
            let mut acc = 0i64;
            for i in 0..win {
                let a = h.get(n - 1 - i).copied().unwrap_or(0);
                let b = h.get(n - 1 - i - lag).copied().unwrap_or(0);
                acc += i64::from(a) * i64::from(b);
            }
            if acc > best.0 {
                best = (acc, lag);
            }
        }
        best.1
    }
}

impl AudioDecoder for G711Decoder {
    fn sample_rate(&self) -> u32 {
        8000
    }

    fn frame_samples(&self) -> usize {
        self.frame
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize> {
        if out.len() < payload.len() {
            return Err(MediaError::Misuse {
                what: "output shorter than G.711 payload",
            });
        }
        for (o, &c) in out.iter_mut().zip(payload) {
            *o = match self.law {
                G711Law::Ulaw => ulaw_to_linear(c),
                G711Law::Alaw => alaw_to_linear(c),
            };
        }
        self.lost_run = 0;
        let n = payload.len();
        let decoded = out.get(..n).unwrap_or_default().to_vec();
        self.remember(&decoded);
        Ok(n)
    }

    fn conceal(&mut self, out: &mut [i16]) -> Result<usize> {
        let n = self.frame.min(out.len());
        let period = self.pitch_period();
        let h_len = self.history.len();
        for (i, o) in out.iter_mut().take(n).enumerate() {
            let pos = self.lost_run * self.frame + i;
            let src = h_len - period + (pos % period);
            let s = self.history.get(src).copied().unwrap_or(0);
            // Fade: 1.0 for the first 10 ms, then -20 % per 10 ms, 0 after 60 ms.
            let ms10 = pos / 80;
            let gain = if ms10 == 0 {
                1.0
            } else {
                (1.0 - 0.2 * ms10 as f32).max(0.0)
            };
            *o = (f32::from(s) * gain) as i16;
        }
        self.lost_run += 1;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoder outputs from the G.711 tables (as 16-bit values: µ-law ×4, A-law ×8 of the
    /// 14/13-bit table values). µ-law: code 0xFF → 0, 0xFE → 8, 0xF0 → 120 (end of segment 0),
    /// 0xEF → 132, 0x80 → 32124 (largest); A-law: 0xD5 → 8, 0xD4 → 24, 0xAA → 32256
    /// (largest), and the negative twins.
    #[test]
    fn table_values_g711() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xD4), 24);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_round_trips() {
        for c in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "A-law {c:#x}");
            // µ-law 0x7F is "negative zero": decodes to 0, which encodes as 0xFF.
            if c != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), c, "µ-law {c:#x}");
            }
        }
    }

    #[test]
    fn quantisation_is_monotonic_and_close() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= prev_u && a >= prev_a);
            prev_u = u;
            prev_a = a;
            // Error at most half a step of the coarsest segment (1024 for 16-bit µ-law).
            assert!((i32::from(u) - i32::from(s)).abs() <= 1024 + 8);
            assert!((i32::from(a) - i32::from(s)).abs() <= 1024 + 8);
        }
    }

    #[test]
    fn concealment_repeats_pitch_and_fades() {
        let mut d = G711Decoder::new(G711Law::Ulaw, 160);
        // 200 Hz tone: period 40 samples.
        let tone: Vec<i16> = (0..480)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * i as f32 / 40.0).sin()) as i16)
            .collect();
        let mut enc = vec![0u8; 480];
        g711_encode(G711Law::Ulaw, &tone, &mut enc).unwrap();
        let mut out = vec![0i16; 480];
        for k in 0..3 {
            d.decode(
                &enc[k * 160..(k + 1) * 160],
                &mut out[k * 160..(k + 1) * 160],
            )
            .unwrap();
        }
        assert_eq!(d.pitch_period() % 40, 0);
        let mut lost = vec![0i16; 160];
        d.conceal(&mut lost).unwrap();
        let e_first: i64 = lost[..80].iter().map(|&s| i64::from(s).pow(2)).sum();
        assert!(
            e_first > 80 * 4000 * 4000 / 2 / 2,
            "first 10 ms keeps the tone"
        );
        for _ in 0..3 {
            d.conceal(&mut lost).unwrap();
        }
        assert!(lost.iter().all(|&s| s == 0), "silent after 60 ms");
    }
}
