//! Echo cancellation and noise suppression, measured on speech-like signals through a simulated
//! room (the espeak-ng speech figures are in `docs/performance.md`, from
//! `benches/processing.sh`). Each test runs the stage as a phone does: one 20 ms far-end frame
//! played, then the 20 ms the microphone captured meanwhile cleaned.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "test code"
)]

use sotto_media::processing::{AudioProcessor, ProcessingConfig};
use sotto_media::signal::{harmonic_sweep, rms_dbfs};
use sotto_media::testbench::{EchoPath, best_correlation, erle_db, mix, snr_db, white_noise};

const RATE: u32 = 48_000;
const FRAME: usize = 960;

/// Speech-like talk spurts: a harmonic sweep (voiced) plus noise 12 dB lower (unvoiced), gated
/// on for `on` s and off for `off` s.
fn talk(f0: f64, f1: f64, seconds: f64, on: f64, off: f64) -> Vec<i16> {
    let voiced = harmonic_sweep(RATE, f0, f1, seconds);
    let unvoiced = white_noise(f0 as u64, voiced.len(), rms_dbfs(&voiced) - 12.0);
    let mut x = mix(&voiced, &unvoiced);
    let period = ((on + off) * f64::from(RATE)) as usize;
    let on_len = (on * f64::from(RATE)) as usize;
    for (i, s) in x.iter_mut().enumerate() {
        if i % period >= on_len {
            *s = 0;
        }
    }
    x.truncate(x.len() / FRAME * FRAME);
    x
}

fn run(far: &[i16], mic: &[i16], cfg: ProcessingConfig) -> Vec<i16> {
    let mut p = AudioProcessor::new(cfg).unwrap();
    let mut out = Vec::new();
    for (f, m) in far.chunks_exact(FRAME).zip(mic.chunks_exact(FRAME)) {
        p.far_end(f).unwrap();
        let mut x = m.to_vec();
        p.near_end(&mut x).unwrap();
        out.extend_from_slice(&x);
    }
    out
}

#[test]
fn echo_of_the_far_end_is_cancelled() {
    let far = talk(110.0, 160.0, 6.0, 1.2, 0.4);
    let path = EchoPath::room(RATE, 40.0, 40.0, -6.0, 1);
    let echo = path.apply(&far);
    let mic = mix(&echo, &white_noise(2, far.len(), -65.0));
    let out = run(&far, &mic, ProcessingConfig::default());
    let erle = erle_db(&echo, &out, 480, 3 * RATE as usize, -50.0);
    println!("ERLE after 3 s: {erle:.1} dB");
    assert!(erle > 25.0, "ERLE {erle:.1} dB");
    // Without the canceller (noise suppression alone) the echo stays.
    let out = run(
        &far,
        &mic,
        ProcessingConfig {
            echo_cancellation: false,
            ..ProcessingConfig::default()
        },
    );
    let erle_off = erle_db(&echo, &out, 480, 3 * RATE as usize, -50.0);
    println!("ERLE without AEC: {erle_off:.1} dB");
    assert!(erle_off < 10.0, "{erle_off:.1} dB");
}

#[test]
fn near_end_speech_survives_double_talk() {
    let far = talk(110.0, 160.0, 6.0, 1.2, 0.4);
    // The near end starts at 3 s (after the canceller converged) and talks over the far end.
    let mut near = vec![0i16; 3 * RATE as usize];
    near.extend(talk(210.0, 260.0, 3.0, 0.9, 0.3));
    near.truncate(far.len());
    let echo = EchoPath::room(RATE, 40.0, 40.0, -6.0, 1).apply(&far);
    let mic = mix(&mix(&echo, &near), &white_noise(2, far.len(), -65.0));
    let out = run(&far, &mic, ProcessingConfig::default());
    let start = 3 * RATE as usize;
    let (c, lag) = best_correlation(&near[start..], &out[start..], 2400);
    let level = rms_dbfs(&out[start + lag..]) - rms_dbfs(&near[start..]);
    let (c_echo, _) = best_correlation(&echo[start..], &out[start..], 2400);
    println!(
        "near-end correlation {c:.3} (lag {lag}), level {level:.1} dB, echo correlation {c_echo:.3}"
    );
    assert!(c > 0.6, "near end lost: correlation {c:.3}");
    assert!(level > -6.0, "near end attenuated by {level:.1} dB");
    assert!(c_echo < 0.2, "echo left: correlation {c_echo:.3}");
}

#[test]
fn noise_is_suppressed_and_speech_kept() {
    let near = talk(150.0, 220.0, 4.0, 0.8, 0.5);
    let noise = white_noise(9, near.len(), rms_dbfs(&near) - 5.0);
    let mic = mix(&near, &noise);
    let out = run(&vec![0; near.len()], &mic, ProcessingConfig::default());
    let (_, lag) = best_correlation(&near, &out, 2400);
    let before = snr_db(&near, &mic, 480);
    let after = snr_db(&near, &out[lag..], 480);
    println!("SNR {before:.1} dB -> {after:.1} dB");
    assert!(after - before > 8.0, "SNR {before:.1} -> {after:.1} dB");
    // Noise suppression off: the echo canceller's own suppressor and the high-pass filter
    // gain a little, the noise suppressor the rest.
    let out = run(
        &vec![0; near.len()],
        &mic,
        ProcessingConfig {
            noise_suppression: None,
            ..ProcessingConfig::default()
        },
    );
    let (_, lag) = best_correlation(&near, &out, 2400);
    let off = snr_db(&near, &out[lag..], 480);
    println!("SNR with noise suppression off: {off:.1} dB");
    assert!(after - off > 6.0, "{off:.1} vs {after:.1}");
}
