//! Test signals: tones, sweeps, a speech-like harmonic sweep, and silence/talkspurt patterns;
//! and their measures (level in dBFS, the share of one tone's energy).

use core::f64::consts::PI;

fn to_i16(x: f64) -> i16 {
    (x * 32767.0).clamp(-32768.0, 32767.0) as i16
}

/// A sine tone of `freq` Hz at linear amplitude `amp` (0–1), `samples` long.
pub fn tone(rate: u32, freq: f64, amp: f64, samples: usize) -> Vec<i16> {
    let r = f64::from(rate.max(1));
    (0..samples)
        .map(|i| to_i16(amp * (2.0 * PI * freq * i as f64 / r).sin()))
        .collect()
}

/// A logarithmic sine sweep from `f0` to `f1` Hz over `seconds`, amplitude `amp`.
pub fn log_sweep(rate: u32, f0: f64, f1: f64, seconds: f64, amp: f64) -> Vec<i16> {
    let r = f64::from(rate.max(1));
    let n = (seconds * r) as usize;
    let k = (f1 / f0).ln();
    (0..n)
        .map(|i| {
            let t = i as f64 / r;
            let phase = 2.0 * PI * f0 * seconds / k * ((t / seconds * k).exp() - 1.0);
            to_i16(amp * phase.sin())
        })
        .collect()
}

/// A speech-like test signal: a harmonic series (fundamental gliding from `f0` to `f1` Hz,
/// ten harmonics with 1/h amplitude), shaped by a 4 Hz syllable envelope, `seconds` long.
pub fn harmonic_sweep(rate: u32, f0: f64, f1: f64, seconds: f64) -> Vec<i16> {
    let r = f64::from(rate.max(1));
    let n = (seconds * r) as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / r;
            let f = f0 + (f1 - f0) * t / seconds;
            phase += 2.0 * PI * f / r;
            let mut x = 0.0;
            for h in 1..=10 {
                if f * f64::from(h) < r / 2.0 {
                    x += (phase * f64::from(h)).sin() / f64::from(h);
                }
            }
            let env = 0.55 + 0.45 * (2.0 * PI * 4.0 * t).sin();
            to_i16(0.18 * env * x)
        })
        .collect()
}

/// Root-mean-square level of `pcm` in dBFS (−∞ as −200 for silence).
pub fn rms_dbfs(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return -200.0;
    }
    let ms = pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64;
    if ms <= 0.0 {
        -200.0
    } else {
        10.0 * (ms / (32768.0f64 * 32768.0)).log10()
    }
}

/// The share of `pcm`'s energy that lies at `freq` Hz (sampled at `rate` Hz), by the Goertzel
/// algorithm: `2·|X(freq)|² / (N·Σx²)`, where `X(freq)` is the DFT of the `N` samples at `freq`.
/// A pure tone at `freq` gives about 1.0 (slightly more or less when the window does not hold a
/// whole number of cycles), a signal with nothing near `freq` gives about 0; silence and empty
/// input give 0. Used to check that a call carried the tone the other side sent.
pub fn tone_share(pcm: &[i16], freq: f64, rate: u32) -> f64 {
    let coeff = 2.0 * (2.0 * PI * freq / f64::from(rate.max(1))).cos();
    let (mut s1, mut s2, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for &v in pcm {
        let v = f64::from(v);
        total += v * v;
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if total == 0.0 {
        return 0.0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.len() as f64 * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_has_expected_level_and_period() {
        let t = tone(48_000, 1000.0, 0.5, 48_000);
        // A sine of amplitude 0.5 has RMS 0.5/√2 → −9.03 dBFS.
        assert!((rms_dbfs(&t) + 9.03).abs() < 0.05);
        // Zero crossings: 2 per cycle → 2000 in one second.
        let zc = t.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((1990..=2010).contains(&zc), "{zc}");
    }

    #[test]
    fn sweep_rises_in_frequency() {
        let s = log_sweep(48_000, 100.0, 4000.0, 2.0, 0.5);
        let zc = |x: &[i16]| x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!(zc(&s[..9600]) * 4 < zc(&s[86400..]));
        assert!(rms_dbfs(&harmonic_sweep(48_000, 100.0, 200.0, 1.0)) > -30.0);
        assert_eq!(rms_dbfs(&[0; 10]), -200.0);
    }

    #[test]
    fn tone_share_picks_out_the_tone() {
        // 1000 Hz for one second: 1000 whole cycles, all the energy in the 1000 Hz bin.
        let t = tone(48_000, 1000.0, 0.5, 48_000);
        let at = tone_share(&t, 1000.0, 48_000);
        assert!((at - 1.0).abs() < 0.01, "{at}");
        assert!(tone_share(&t, 440.0, 48_000) < 0.01);
        // Two tones of equal amplitude: half the energy each.
        let mix: Vec<i16> = t
            .iter()
            .zip(tone(48_000, 440.0, 0.25, 48_000))
            .map(|(&a, b)| a / 2 + b)
            .collect();
        for f in [1000.0, 440.0] {
            let s = tone_share(&mix, f, 48_000);
            assert!((s - 0.5).abs() < 0.02, "{f} Hz: {s}");
        }
        assert_eq!(tone_share(&[0; 480], 1000.0, 48_000), 0.0);
        assert_eq!(tone_share(&[], 1000.0, 48_000), 0.0);
    }
}
