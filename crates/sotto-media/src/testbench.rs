//! A bench for measuring [`crate::processing`]: a simulated echo path (delay, a decaying room
//! impulse response, a gain), white and pink noise, and the measures that say whether echo
//! cancellation and noise suppression work: echo return loss enhancement, near-end
//! preservation (correlation and signal-to-distortion ratio against the clean near end), and
//! the signal-to-noise ratio before and after.
//!
//! Everything is deterministic (seeded); no OS randomness. Used by the tests of this crate and
//! `examples/processing.rs` (`benches/processing.sh`).

/// A small deterministic generator (xorshift64*), for noise, never for anything secret.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// Seeded (a zero seed is replaced by a fixed non-zero one).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// A uniform value in `[-1, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn to_i16(x: f64) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

fn power(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64
}

/// Scales `pcm` so that its RMS level is `dbfs`.
pub fn scale_to_dbfs(pcm: &[i16], dbfs: f64) -> Vec<i16> {
    let p = power(pcm);
    if p <= 0.0 {
        return pcm.to_vec();
    }
    let target = 32768.0 * 10f64.powf(dbfs / 20.0);
    let g = target / p.sqrt();
    pcm.iter().map(|&s| to_i16(f64::from(s) * g)).collect()
}

/// White noise at an RMS level of `dbfs`.
pub fn white_noise(seed: u64, samples: usize, dbfs: f64) -> Vec<i16> {
    let mut r = Xorshift::new(seed);
    // Uniform in [-1, 1) has RMS 1/√3.
    let a = 32768.0 * 10f64.powf(dbfs / 20.0) * 3f64.sqrt();
    (0..samples).map(|_| to_i16(a * r.uniform())).collect()
}

/// Pink (1/f) noise at an RMS level of `dbfs`: white noise through a sum of first-order
/// low-pass sections with poles spread over the audio band (about −3 dB per octave from 20 Hz
/// up at 48 kHz).
pub fn pink_noise(seed: u64, samples: usize, dbfs: f64) -> Vec<i16> {
    let mut r = Xorshift::new(seed);
    // One-pole sections at cut-offs 3 octaves apart, each weighted by 1/√f_c: their sum falls
    // off close to 3 dB per octave between the lowest and highest cut-off.
    let cutoffs = [20.0f64, 160.0, 1280.0, 10_240.0];
    let poles: Vec<(f64, f64)> = cutoffs
        .iter()
        .map(|fc| {
            (
                (-2.0 * core::f64::consts::PI * fc / 48_000.0).exp(),
                fc.sqrt(),
            )
        })
        .collect();
    let mut state = [0.0f64; 4];
    let raw: Vec<f64> = (0..samples)
        .map(|_| {
            let w = r.uniform();
            let mut y = 0.0;
            for (s, &(p, g)) in state.iter_mut().zip(&poles) {
                *s = p * *s + (1.0 - p) * w;
                y += *s * g.recip() * 40.0;
            }
            y
        })
        .collect();
    let ms = raw.iter().map(|x| x * x).sum::<f64>() / raw.len().max(1) as f64;
    let g = if ms > 0.0 {
        32768.0 * 10f64.powf(dbfs / 20.0) / ms.sqrt()
    } else {
        0.0
    };
    raw.iter().map(|x| to_i16(x * g)).collect()
}

/// Adds two signals sample by sample (saturating); the result is as long as the longer one.
pub fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            x.saturating_add(y)
        })
        .collect()
}

/// A loudspeaker-to-microphone echo path: a pure delay, then a room impulse response (a direct
/// tap followed by exponentially decaying noise, reverberation time `t60`), scaled so the echo
/// is `gain_db` relative to what is played.
#[derive(Debug, Clone)]
pub struct EchoPath {
    delay: usize,
    ir: Vec<f64>,
}

impl EchoPath {
    /// A room at `rate` Hz: `delay_ms` of delay (device buffers and the air), reverberation
    /// time `t60_ms` (the response is cut at 60 dB down), echo level `gain_db` (energy).
    pub fn room(rate: u32, delay_ms: f64, t60_ms: f64, gain_db: f64, seed: u64) -> Self {
        let r = f64::from(rate);
        let len = ((t60_ms / 1000.0 * r) as usize).max(1);
        // Energy decays 60 dB over t60: amplitude envelope exp(-6.9 t / t60).
        let k = 6.9 / (t60_ms / 1000.0 * r);
        let mut g = Xorshift::new(seed);
        let mut ir: Vec<f64> = (0..len)
            .map(|i| {
                let env = (-k * i as f64).exp();
                if i == 0 { 1.0 } else { 0.5 * env * g.uniform() }
            })
            .collect();
        let e: f64 = ir.iter().map(|x| x * x).sum();
        let scale = 10f64.powf(gain_db / 20.0) / e.sqrt();
        for x in &mut ir {
            *x *= scale;
        }
        Self {
            delay: (delay_ms / 1000.0 * r) as usize,
            ir,
        }
    }

    /// The echo of `played` as the microphone hears it (same length as `played`).
    pub fn apply(&self, played: &[i16]) -> Vec<i16> {
        (0..played.len()).map(|i| self.echo_at(played, i)).collect()
    }

    /// Sample `i` of the echo of `played` (for streams: only `played[..=i]` matters).
    pub fn echo_at(&self, played: &[i16], i: usize) -> i16 {
        let Some(t) = i.checked_sub(self.delay) else {
            return 0;
        };
        let mut acc = 0.0;
        for (k, h) in self.ir.iter().take(t + 1).enumerate() {
            acc += h * f64::from(played.get(t - k).copied().unwrap_or(0));
        }
        to_i16(acc)
    }
}

/// Echo return loss enhancement in dB: energy of the echo in the microphone over the energy of
/// what is left of it after cancellation, over the 10 ms blocks (`block` samples) where the
/// echo is above `floor_dbfs` and from sample `skip` on (after the canceller converged).
pub fn erle_db(echo: &[i16], residual: &[i16], block: usize, skip: usize, floor_dbfs: f64) -> f64 {
    let floor = (32768.0 * 10f64.powf(floor_dbfs / 20.0)).powi(2);
    let mut pe = 0.0;
    let mut pr = 0.0;
    for (e, r) in echo
        .chunks_exact(block)
        .zip(residual.chunks_exact(block))
        .skip(skip / block.max(1))
    {
        if power(e) > floor {
            pe += power(e);
            pr += power(r);
        }
    }
    10.0 * (pe / pr.max(1e-9)).log10()
}

/// The best normalised correlation of `signal` with `reference` over lags `0..=max_lag`
/// (signal delayed), and that lag. The lag is searched on one second of audio from where the
/// reference first has sound; the correlation is then taken over the whole overlap.
pub fn best_correlation(reference: &[i16], signal: &[i16], max_lag: usize) -> (f64, usize) {
    let start = reference.iter().position(|&s| s != 0).unwrap_or(0);
    let window = |lag: usize, len: usize| {
        let s = signal.get(start + lag..).unwrap_or(&[]);
        let r = reference.get(start..).unwrap_or(&[]);
        let n = r.len().min(s.len()).min(len);
        correlation(r.get(..n).unwrap_or(&[]), s.get(..n).unwrap_or(&[]))
    };
    let mut best = (f64::MIN, 0);
    for lag in 0..=max_lag {
        let c = window(lag, 48_000);
        if c > best.0 {
            best = (c, lag);
        }
    }
    let lag = best.1;
    let s = signal.get(lag..).unwrap_or(&[]);
    let n = reference.len().min(s.len());
    (
        correlation(reference.get(..n).unwrap_or(&[]), s.get(..n).unwrap_or(&[])),
        lag,
    )
}

fn correlation(r: &[i16], s: &[i16]) -> f64 {
    let (mut rs, mut rr, mut ss) = (0.0, 0.0, 0.0);
    for (&a, &b) in r.iter().zip(s) {
        let (a, b) = (f64::from(a), f64::from(b));
        rs += a * b;
        rr += a * a;
        ss += b * b;
    }
    rs / (rr * ss).sqrt().max(1e-9)
}

/// Signal-to-distortion ratio in dB of `signal` against `reference` (aligned): the part of
/// `signal` that is a scaled copy of `reference` over everything else (echo, noise, damage).
pub fn sdr_db(reference: &[i16], signal: &[i16]) -> f64 {
    let n = reference.len().min(signal.len());
    let (r, s) = (
        reference.get(..n).unwrap_or(&[]),
        signal.get(..n).unwrap_or(&[]),
    );
    let (mut rs, mut rr) = (0.0, 0.0);
    for (&a, &b) in r.iter().zip(s) {
        rs += f64::from(a) * f64::from(b);
        rr += f64::from(a) * f64::from(a);
    }
    let alpha = rs / rr.max(1e-9);
    let (mut target, mut rest) = (0.0, 0.0);
    for (&a, &b) in r.iter().zip(s) {
        let t = alpha * f64::from(a);
        target += t * t;
        rest += (f64::from(b) - t).powi(2);
    }
    10.0 * (target / rest.max(1e-9)).log10()
}

/// The signal-to-noise ratio of `signal` in dB, judged by where the clean speech is: blocks
/// where `clean` is within 30 dB of its loudest block count as speech, blocks more than 50 dB
/// below it as pauses; SNR = (speech-block power − pause power) / pause power.
pub fn snr_db(clean: &[i16], signal: &[i16], block: usize) -> f64 {
    let blocks: Vec<(f64, f64)> = clean
        .chunks_exact(block)
        .zip(signal.chunks_exact(block))
        .map(|(c, s)| (power(c), power(s)))
        .collect();
    let peak = blocks.iter().map(|b| b.0).fold(0.0, f64::max);
    let (mut sp, mut ns, mut pp, mut np) = (0.0, 0usize, 0.0, 0usize);
    for &(c, s) in &blocks {
        if c > peak * 1e-3 {
            sp += s;
            ns += 1;
        } else if c < peak * 1e-5 {
            pp += s;
            np += 1;
        }
    }
    let speech = sp / ns.max(1) as f64;
    let pause = (pp / np.max(1) as f64).max(1e-9);
    10.0 * ((speech - pause).max(1e-9) / pause).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::rms_dbfs;

    #[test]
    fn noise_levels_are_as_asked() {
        assert!((rms_dbfs(&white_noise(1, 48_000, -30.0)) + 30.0).abs() < 0.3);
        assert!((rms_dbfs(&pink_noise(1, 48_000, -30.0)) + 30.0).abs() < 0.3);
        // Pink noise has more energy in the low band than white noise.
        let low = |x: &[i16]| {
            // Sum of a 16-sample moving average: a crude low-pass.
            let y: Vec<i16> = x
                .windows(16)
                .map(|w| (w.iter().map(|&s| i32::from(s)).sum::<i32>() / 16) as i16)
                .collect();
            rms_dbfs(&y)
        };
        let (w, p) = (white_noise(2, 48_000, -30.0), pink_noise(2, 48_000, -30.0));
        assert!(low(&p) > low(&w) + 6.0, "{} {}", low(&p), low(&w));
    }

    #[test]
    fn echo_path_delays_and_scales() {
        let path = EchoPath::room(48_000, 10.0, 50.0, -6.0, 3);
        let mut click = vec![0i16; 4800];
        click[0] = 20_000;
        let e = path.apply(&click);
        assert!(e[..480].iter().all(|&s| s == 0));
        assert!(e[480] != 0);
        let energy = |x: &[i16]| x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let g = 10.0 * (energy(&e) / energy(&click)).log10();
        assert!((g + 6.0).abs() < 0.1, "{g}");
    }

    #[test]
    fn measures_agree_with_known_cases() {
        let s = crate::signal::harmonic_sweep(48_000, 120.0, 200.0, 1.0);
        let n = white_noise(5, s.len(), rms_dbfs(&s) - 10.0);
        let x = mix(&s, &n);
        assert!((sdr_db(&s, &x) - 10.0).abs() < 0.3, "{}", sdr_db(&s, &x));
        let (c, lag) = best_correlation(&s, &[&[0i16; 7][..], &s[..]].concat(), 20);
        assert_eq!(lag, 7);
        assert!(c > 0.999);
        let half: Vec<i16> = s.iter().map(|&v| v / 10).collect();
        assert!((erle_db(&s, &half, 480, 0, -60.0) - 20.0).abs() < 0.2);
        // Speech with pauses, noise 20 dB below the speech blocks.
        let mut sp = s.clone();
        sp.extend(vec![0i16; 48_000]);
        let noise = white_noise(6, sp.len(), rms_dbfs(&s) - 20.0);
        let snr = snr_db(&sp, &mix(&sp, &noise), 480);
        assert!((snr - 20.0).abs() < 1.5, "{snr}");
    }
}
