//! Measures echo cancellation and noise suppression ([`sotto_media::processing`]) on real
//! speech: the far end's speech is played through a simulated room (delay, decaying impulse
//! response, gain) into the microphone, mixed with the near end's speech and with noise, and
//! the stage's output is compared with what should be left.
//!
//! ```text
//! cargo run --release -p sotto-media --example processing -- FAR.wav NEAR.wav OUT_DIR
//! ```
//! Prints one JSON line per condition; writes 16 kHz WAVs (`<condition>_ref.wav`,
//! `<condition>_in.wav`, `<condition>_out.wav`) so `benches/processing.sh` can score the near
//! end with wideband PESQ. Conditions:
//! - `echo_only`: far end talks, the near end is silent (room noise at −65 dBFS). ERLE.
//! - `double_talk`: both talk (the near end starts 4 s in, then both overlap). ERLE where only
//!   the far end talks; near-end correlation and SDR where the near end talks.
//! - `near_only`: the near end alone: how transparent the stage is to clean speech.
//! - `white_noise` / `pink_noise`: near-end speech in noise at 5 dB SNR, no far end. SNR
//!   before and after.
//!
//! Knobs for experiments on the double-talk condition: `PROC_NO_NS`, `PROC_NO_AEC` (turn the
//! stage's parts off), `PROC_DELAY_MS` (the delay hint; AEC3 finds the delay without it, and a
//! correct 60 ms hint changed nothing measurable).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark binary"
)]

use sotto_media::processing::{AudioProcessor, ProcessingConfig};
use sotto_media::resample::resample;
use sotto_media::signal::rms_dbfs;
use sotto_media::testbench::{
    EchoPath, best_correlation, erle_db, mix, pink_noise, scale_to_dbfs, sdr_db, snr_db,
    white_noise,
};
use sotto_media::wav::{Audio, read_wav, write_wav};
use std::path::{Path, PathBuf};

const RATE: u32 = 48_000;
const FRAME: usize = 960;

fn load(p: &str) -> Vec<i16> {
    let a = read_wav(&PathBuf::from(p)).expect("read wav");
    resample(&a.samples, a.rate, RATE).expect("resample")
}

fn pad(mut x: Vec<i16>, n: usize) -> Vec<i16> {
    x.resize(n, 0);
    x
}

/// CPU time of this thread (user + system) from /proc, in seconds. Linux only.
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// Runs the stage over a call: each 20 ms tick plays one far-end frame, then cleans the frame
/// the microphone captured. Returns the output and the CPU seconds spent in the stage.
fn run(far: &[i16], mic: &[i16], cfg: ProcessingConfig) -> (Vec<i16>, f64) {
    let mut p = AudioProcessor::new(cfg).expect("processor");
    let mut out = Vec::with_capacity(mic.len());
    let c0 = thread_cpu();
    for (f, m) in far.chunks_exact(FRAME).zip(mic.chunks_exact(FRAME)) {
        p.far_end(f).expect("far");
        let mut x = m.to_vec();
        p.near_end(&mut x).expect("near");
        out.extend_from_slice(&x);
    }
    (out, thread_cpu() - c0)
}

fn save(dir: &Path, name: &str, pcm: &[i16]) {
    let s16 = resample(pcm, RATE, 16_000).expect("resample");
    write_wav(
        &dir.join(format!("{name}.wav")),
        &Audio {
            rate: 16_000,
            samples: s16,
        },
    )
    .expect("write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: processing FAR.wav NEAR.wav OUT_DIR");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[3]);
    std::fs::create_dir_all(&dir).expect("out dir");
    // Speech at a normal level (−26 dBFS active speech is the ITU reference; espeak's pauses
    // make the RMS lower, so aim at −28 dBFS overall).
    let far = scale_to_dbfs(&load(&args[1]), -28.0);
    let near = scale_to_dbfs(&load(&args[2]), -28.0);
    let len = (far.len().max(near.len() + 4 * RATE as usize)).div_ceil(FRAME) * FRAME;
    let far = pad(far, len);
    // The near end starts talking 4 s in.
    let near_late = pad([vec![0i16; 4 * RATE as usize], near.clone()].concat(), len);
    // A laptop on a desk: 60 ms from playing to hearing (device buffers and air), 200 ms
    // reverberation, echo 6 dB below what is played (loudspeaker close to the microphone).
    let path = EchoPath::room(RATE, 60.0, 200.0, -6.0, 7);
    let echo = path.apply(&far);
    let room = white_noise(11, len, -65.0);
    let converge = 3 * RATE as usize;
    let block = (RATE / 100) as usize;

    // 1. Echo only.
    let mic = mix(&echo, &room);
    let (out, cpu) = run(&far, &mic, ProcessingConfig::default());
    let erle = erle_db(&echo, &out, block, converge, -50.0);
    let erle_all = erle_db(&echo, &out, block, 0, -50.0);
    let (_, aec_only_cpu) = run(
        &far,
        &mic,
        ProcessingConfig {
            noise_suppression: None,
            ..ProcessingConfig::default()
        },
    );
    let secs = len as f64 / f64::from(RATE);
    println!(
        "{{\"condition\":\"echo_only\",\"echo_level_dbfs\":{:.1},\"out_level_dbfs\":{:.1},\"erle_db_after_3s\":{erle:.1},\"erle_db_whole\":{erle_all:.1},\"audio_seconds\":{secs:.1},\"cpu_percent_of_one_core\":{:.2},\"cpu_percent_aec_without_ns\":{:.2}}}",
        rms_dbfs(&echo),
        rms_dbfs(&out),
        100.0 * cpu / secs,
        100.0 * aec_only_cpu / secs,
    );
    save(&dir, "echo_only_in", &mic);
    save(&dir, "echo_only_out", &out);

    // 2. Double talk.
    let mic = mix(&mix(&echo, &near_late), &room);
    let cfg = ProcessingConfig {
        noise_suppression: if std::env::var_os("PROC_NO_NS").is_some() {
            None
        } else {
            ProcessingConfig::default().noise_suppression
        },
        echo_cancellation: std::env::var_os("PROC_NO_AEC").is_none(),
        stream_delay_ms: std::env::var("PROC_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        ..ProcessingConfig::default()
    };
    let (out, _) = run(&far, &mic, cfg);
    let start = 4 * RATE as usize;
    // ERLE where only the far end talks (before the near end starts, after convergence).
    let erle_single = erle_db(&echo[..start], &out[..start], block, converge, -50.0);
    let near_seg = &near_late[start..];
    let (c_in, _) = best_correlation(near_seg, &mic[start..], 0);
    let (c_out, lag) = best_correlation(near_seg, &out[start..], 2400);
    let sdr_in = sdr_db(near_seg, &mic[start..]);
    let sdr_out = sdr_db(near_seg, &out[start + lag..]);
    println!(
        "{{\"condition\":\"double_talk\",\"erle_db_far_only\":{erle_single:.1},\"near_correlation_in\":{c_in:.3},\"near_correlation_out\":{c_out:.3},\"lag_samples\":{lag},\"near_sdr_db_in\":{sdr_in:.1},\"near_sdr_db_out\":{sdr_out:.1}}}"
    );
    save(&dir, "double_talk_ref", near_seg);
    save(&dir, "double_talk_in", &mic[start..]);
    save(&dir, "double_talk_out", &out[start + lag..]);

    // 3. Transparency: the near end alone, no echo, no noise (room noise only).
    let near_only = pad(near.clone(), len);
    let mic = mix(&near_only, &room);
    let (out, _) = run(&vec![0i16; len], &mic, ProcessingConfig::default());
    let (c, lag) = best_correlation(&near_only, &out, 2400);
    println!(
        "{{\"condition\":\"near_only\",\"near_correlation_out\":{c:.3},\"lag_samples\":{lag},\"level_change_db\":{:.1}}}",
        rms_dbfs(&out[lag..]) - rms_dbfs(&near_only)
    );
    save(&dir, "near_only_ref", &near_only);
    save(&dir, "near_only_in", &mic);
    save(&dir, "near_only_out", &out[lag..]);

    // 4. Noise suppression: near-end speech at 5 dB SNR (of the whole clip), no far end.
    let silent = vec![0i16; len];
    for (name, noise) in [
        ("white_noise", white_noise(21, len, rms_dbfs(&near) - 5.0)),
        ("pink_noise", pink_noise(22, len, rms_dbfs(&near) - 5.0)),
    ] {
        let mic = mix(&near_only, &noise);
        let (out, _) = run(&silent, &mic, ProcessingConfig::default());
        let (_, lag) = best_correlation(&near_only, &out, 2400);
        let out = &out[lag..];
        let snr_in = snr_db(&near_only, &mic, block);
        let snr_out = snr_db(&near_only, out, block);
        println!(
            "{{\"condition\":\"{name}\",\"snr_db_in\":{snr_in:.1},\"snr_db_out\":{snr_out:.1},\"snr_improvement_db\":{:.1},\"sdr_db_in\":{:.1},\"sdr_db_out\":{:.1}}}",
            snr_out - snr_in,
            sdr_db(&near_only, &mic),
            sdr_db(&near_only, out),
        );
        save(&dir, &format!("{name}_ref"), &near_only);
        save(&dir, &format!("{name}_in"), &mic);
        save(&dir, &format!("{name}_out"), out);
    }
}
