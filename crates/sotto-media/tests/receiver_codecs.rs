//! The receiver with each codec on a virtual clock: G.711 with losses (concealment), and Opus
//! with DTX (silence not sent, speech resumes cleanly).
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

use sotto_media::g711::{G711Law, g711_encode};
use sotto_media::signal::{harmonic_sweep, rms_dbfs, tone};
use sotto_media::{
    AudioReceiver, Encoded, G711Decoder, JitterConfig, OPUS_FRAME, OPUS_MAX_PACKET, OpusConfig,
    OpusDecoder, OpusEncoder, PlayedKind,
};
use std::time::{Duration, Instant};

#[allow(clippy::disallowed_methods, reason = "virtual clock needs an origin")]
fn origin() -> Instant {
    Instant::now()
}

#[test]
fn g711_losses_are_concealed_without_gaps() {
    let t0 = origin();
    let pcm = tone(8000, 300.0, 0.3, 8000 * 4);
    let mut rx = AudioReceiver::new(
        JitterConfig::new(8000),
        G711Decoder::new(G711Law::Alaw, 160),
    );
    let mut out = vec![0i16; 160];
    let mut played = Vec::new();
    let mut kinds = Vec::new();
    for (k, frame) in pcm.chunks_exact(160).enumerate() {
        let now = t0 + Duration::from_millis(20 * k as u64);
        if k % 10 != 5 {
            let mut enc = [0u8; 160];
            g711_encode(G711Law::Alaw, frame, &mut enc).unwrap();
            rx.insert(now, (160 * k) as u32, &enc);
        }
        kinds.push(rx.pull(now, &mut out).unwrap());
        played.extend_from_slice(&out);
    }
    // G.711 has no FEC: a "recover from the next packet" decision falls back to concealment.
    let concealed = kinds
        .iter()
        .filter(|k| matches!(k, PlayedKind::Concealed | PlayedKind::Fec))
        .count();
    assert!((18..=20).contains(&concealed), "{concealed} concealed");
    // After start-up every 20 ms frame carries the tone, concealed ones included (a single
    // lost frame is the first 20 ms of concealment: full level for 10 ms, then fading).
    let start = kinds
        .iter()
        .position(|k| *k == PlayedKind::Decoded)
        .unwrap();
    for (i, f) in played.chunks_exact(160).enumerate().skip(start) {
        let level = rms_dbfs(f);
        assert!(
            level > -20.0,
            "frame {i} ({:?}) at {level:.1} dBFS",
            kinds[i]
        );
    }
}

#[test]
fn opus_dtx_silence_is_not_sent_and_speech_resumes() {
    let t0 = origin();
    // 1 s speech, 2 s silence, 1 s speech.
    let mut pcm = harmonic_sweep(48_000, 110.0, 170.0, 1.0);
    pcm.extend(std::iter::repeat_n(0i16, 96_000));
    pcm.extend(harmonic_sweep(48_000, 170.0, 110.0, 1.0));
    let mut enc = OpusEncoder::new(OpusConfig {
        dtx: true,
        ..OpusConfig::default()
    })
    .unwrap();
    let mut rx = AudioReceiver::new(JitterConfig::new(48_000), OpusDecoder::new().unwrap());
    let mut buf = [0u8; OPUS_MAX_PACKET];
    let mut out = [0i16; OPUS_FRAME];
    let mut sent = 0;
    let mut levels = Vec::new();
    for (k, frame) in pcm.chunks_exact(OPUS_FRAME).enumerate() {
        let now = t0 + Duration::from_millis(20 * k as u64);
        if let Encoded::Packet(n) = enc.encode(frame, &mut buf).unwrap() {
            sent += 1;
            rx.insert(now, (OPUS_FRAME * k) as u32, &buf[..n]);
        }
        rx.pull(now, &mut out).unwrap();
        levels.push(rms_dbfs(&out));
    }
    // 200 frames; of the 100 silent ones, 10 hangover + a refresh every 400 ms are sent.
    assert!(sent < 200 - 80, "sent {sent}");
    let st = rx.jitter().stats();
    assert_eq!(st.resyncs, 0, "{st:?}");
    assert_eq!(st.late, 0, "{st:?}");
    // Silence plays as (near) silence, and the second talkspurt is heard.
    assert!(
        levels[90..140].iter().all(|&l| l < -50.0),
        "{:?}",
        &levels[90..140]
    );
    let resumed = levels[160..200].iter().filter(|&&l| l > -30.0).count();
    assert!(
        resumed > 24,
        "{resumed} loud frames in the second talkspurt"
    );
}
