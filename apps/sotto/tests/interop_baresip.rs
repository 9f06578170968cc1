//! sotto against a real, widely used SIP phone without ZRTP: `baresip` (Debian `baresip-core`
//! 1.0.0), started headless with a private configuration (see `support/baresip.rs`), SIP and
//! media on 127.0.0.1.
//!
//! **Debian's baresip has no ZRTP module** (`/usr/lib/baresip/modules` holds `srtp` and
//! `dtls_srtp` but no `zrtp`), so a ZRTP call with baresip cannot be tested here; ZRTP interop
//! with a real phone is `interop_linphone.rs`. What baresip is good for is the requirement "a SIP
//! peer without ZRTP: the call is refused with the reason", which these tests check against a
//! real phone (`bad_input.rs` checks it against a small hand-written answerer):
//!
//! - a. sotto calls baresip (plain RTP): refused with the reason, and baresip's own RTP counters
//!   and its dump of decoded audio show it received no RTP from sotto;
//! - b. baresip calls `sotto listen --auto-answer`: the same refusal, and baresip's audio, which
//!   did reach sotto, was dropped and never played;
//! - c. baresip with SDES-SRTP only (`mediaenc=srtp-mand`): called by sotto it refuses sotto's
//!   RTP/AVP offer (SIP 488) and sotto's reason says it probably wants SDES-SRTP; calling sotto
//!   its `a=crypto` keys are not used: sotto still wants ZRTP and ends the call with a reason
//!   that names the SDES-SRTP offer;
//! - d. with `--allow-insecure` the call connects, is red ("insecure") for its whole length,
//!   through the moment ZRTP gives up (a red `zrtp_failed` event says so), and audio flows both
//!   ways (tones checked at both ends).
//!
//! Ignored by default: `cargo test -p sotto --test interop_baresip -- --ignored` (about 15 s;
//! the four tests run in parallel). Without baresip-core installed the tests fail and say what to
//! install.
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

#[path = "support/baresip.rs"]
mod baresip;
mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use baresip::{Baresip, BaresipOpts, rtp_stats};
use support::{events, find, free_port, free_rtp_port, read_wav, tone_share, write_tone};

/// What sotto says when the other phone never speaks ZRTP.
const NO_ZRTP: &str = "the other phone does not support ZRTP (or did not answer it); the call \
                       was not connected because it could not be encrypted";

/// What sotto says when the other phone offered SDES-SRTP keys and never speaks ZRTP.
const SDES_ONLY: &str = "the other phone offered only SDES-SRTP keys, which travel through the \
                         SIP servers; sotto requires ZRTP, so the call was not connected because \
                         it could not be verified end to end";

/// What sotto says when the phone it calls refuses its RTP/AVP offer with 488.
const REFUSED_488: &str = "the other phone refused sotto's unencrypted-profile (RTP/AVP) offer \
                           (SIP 488); it probably requires SDES-SRTP, whose keys travel through \
                           the SIP servers, which sotto does not use";

/// What one `sotto` run printed.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
}

fn sotto(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sotto"));
    c.args(args)
        .env("SOTTO_DATA_DIR", dir.join("sotto-data"))
        .env("SOTTO_CONFIG_DIR", dir.join("sotto-conf"))
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Local SIP and media addresses for sotto, on 127.0.0.1.
fn sotto_addrs() -> (String, String) {
    (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_rtp_port()),
    )
}

/// Runs sotto; `when_ready` is called once it printed its `ready` line. Killed after `limit`.
fn run_sotto(cmd: &mut Command, limit: Duration, when_ready: impl FnOnce()) -> Run {
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = child.stderr.take().unwrap();
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"event\":\"ready\""), "{first}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
        let mut e = String::new();
        let _ = err.read_to_string(&mut e);
        let _ = tx.send((rest, e));
    });
    when_ready();
    let end = t + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            let (rest, e) = rx.recv().unwrap();
            panic!(
                "sotto still ran after {limit:?}: {first}{}\n{e}",
                String::from_utf8_lossy(&rest)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    let (rest, stderr) = rx.recv().unwrap();
    let mut stdout = first.into_bytes();
    stdout.extend_from_slice(&rest);
    Run {
        code: status.code(),
        stdout,
        stderr,
        took,
    }
}

/// The checks shared by every refused call: the reason, no secure state ever shown, nothing
/// sent in the clear or encrypted.
fn assert_refused(run: &Run, reason: &str) -> Vec<serde_json::Value> {
    let ev = events(&run.stdout);
    assert_eq!(
        find(&ev, "ended")["reason"],
        reason,
        "{ev:#?}\n{}",
        run.stderr
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr, "sotto: error: the call never became secure\n");
    assert!(
        ev.iter()
            .all(|e| e["event"] != "secure" && e["event"] != "verified"),
        "{ev:#?}"
    );
    let s = find(&ev, "summary");
    assert_eq!(s["clear_rtp_sent"], 0, "{s}");
    assert_eq!(s["srtp_sent"], 0, "{s}");
    assert_eq!(s["frames_decoded"], 0, "nothing was played: {s}");
    ev
}

/// baresip's dump of what it decoded (read once it quit) holds no audio at all.
fn assert_decoded_nothing(dump: Option<&Path>) {
    if let Some(p) = dump {
        let (samples, _) = read_wav(p);
        assert!(
            samples.is_empty(),
            "baresip decoded {} samples",
            samples.len()
        );
    }
}

fn note_missing_zrtp() {
    if baresip::has_zrtp_module() {
        eprintln!(
            "note: this baresip has a zrtp module: a ZRTP call with baresip could now be tested"
        );
    }
}

#[test]
#[ignore = "needs baresip (Debian baresip-core)"]
fn a_sotto_calling_baresip_is_refused_and_sends_no_clear_rtp() {
    note_missing_zrtp();
    let dir = tempfile::tempdir().unwrap();
    let b = Baresip::start(&dir.path().join("baresip"), BaresipOpts::default());
    let tone = dir.path().join("tone.wav");
    write_tone(&tone, 440.0, 48_000, 5);
    let (sip, media) = sotto_addrs();
    let uri = b.uri();
    let run = run_sotto(
        sotto(
            dir.path(),
            &[
                "call",
                "--headless",
                "--sip",
                &sip,
                "--media",
                &media,
                "--timeout",
                "20",
                "--play",
            ],
        )
        .arg(&tone)
        .arg(&uri),
        Duration::from_secs(30),
        || {},
    );
    let ev = assert_refused(&run, NO_ZRTP);
    eprintln!("sotto -> baresip refused after {:?}", run.took);
    // Refused by ZRTP giving up, not by our own 20 s limit.
    assert!(run.took < Duration::from_secs(15), "{:?}", run.took);
    assert_eq!(find(&ev, "connecting")["state"], "red");
    let s = find(&ev, "summary");
    // sotto tried ZRTP, and baresip's audio reached it and was dropped unplayed.
    assert!(s["zrtp_sent"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["rtp_dropped_before_secure"].as_u64().unwrap() > 10, "{s}");
    b.wait_for("terminated", Duration::from_secs(5));
    let dump = b.decoded_wav();
    let out = b.quit();
    let stats = rtp_stats(&out).unwrap_or_else(|| panic!("no RTP counters in:\n{out}"));
    assert!(stats.sent > 10, "{stats:?}");
    assert_eq!(
        stats.received, 0,
        "baresip received RTP from sotto: {stats:?}"
    );
    assert_decoded_nothing(dump.as_deref());
}

#[test]
#[ignore = "needs baresip (Debian baresip-core)"]
fn b_baresip_calling_sotto_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baresip::start(&dir.path().join("baresip"), BaresipOpts::default());
    let (sip, media) = sotto_addrs();
    let me = format!("sip:sotto@{sip}");
    let mut cmd = sotto(
        dir.path(),
        &[
            "listen",
            "--headless",
            "--auto-answer",
            "--sip",
            &sip,
            "--media",
            &media,
            "--timeout",
            "20",
        ],
    );
    let run = run_sotto(&mut cmd, Duration::from_secs(30), || b.dial(&me));
    let ev = assert_refused(&run, NO_ZRTP);
    eprintln!("baresip -> sotto refused after {:?}", run.took);
    assert!(run.took < Duration::from_secs(15), "{:?}", run.took);
    let from = find(&ev, "incoming_call")["from"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        from.contains(&format!("bare@127.0.0.1:{}", b.sip_port)),
        "{from}"
    );
    assert_eq!(find(&ev, "connecting")["state"], "red");
    let s = find(&ev, "summary");
    assert!(s["rtp_dropped_before_secure"].as_u64().unwrap() > 10, "{s}");
    b.wait_for("terminated", Duration::from_secs(5));
    let dump = b.decoded_wav();
    let out = b.quit();
    assert_decoded_nothing(dump.as_deref());
    // baresip offered plain RTP (no SDES keys) and saw the call established before sotto
    // ended it.
    assert!(out.contains("RTP/AVP"), "{out}");
    assert!(!out.contains("a=crypto"), "{out}");
    assert!(out.contains("Call established"), "{out}");
    let stats = rtp_stats(&out).unwrap_or_else(|| panic!("no RTP counters in:\n{out}"));
    assert_eq!(stats.received, 0, "{stats:?}");
}

#[test]
#[ignore = "needs baresip (Debian baresip-core)"]
fn c_baresip_with_sdes_srtp_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sdes = BaresipOpts {
        mediaenc: Some("srtp-mand"),
        ..BaresipOpts::default()
    };
    // c1. sotto calls: sotto offers RTP/AVP with a=zrtp-hash, never SDES keys (they would
    // travel through every SIP server on the way); baresip insists on SRTP and refuses.
    let b = Baresip::start(&dir.path().join("b1"), sdes);
    let (sip, media) = sotto_addrs();
    let uri = b.uri();
    let run = run_sotto(
        &mut sotto(
            dir.path(),
            &[
                "call",
                "--headless",
                "--sip",
                &sip,
                "--media",
                &media,
                "--timeout",
                "20",
                &uri,
            ],
        ),
        Duration::from_secs(30),
        || {},
    );
    let ev = assert_refused(&run, REFUSED_488);
    assert!(ev.iter().all(|e| e["event"] != "connecting"), "{ev:#?}");
    assert_eq!(find(&ev, "summary")["zrtp_sent"], 0);
    let out = b.quit();
    assert!(out.contains("starting mediaenc 'srtp-mand'"), "{out}");
    assert!(out.contains("SIP/2.0 488"), "{out}");

    // c2. baresip calls with RTP/SAVP and a=crypto: sotto ignores the SDES keys, runs ZRTP,
    // which baresip cannot speak, and refuses, saying the peer offered only SDES-SRTP.
    let mut b = Baresip::start(&dir.path().join("b2"), sdes);
    let (sip, media) = sotto_addrs();
    let me = format!("sip:sotto@{sip}");
    let mut cmd = sotto(
        dir.path(),
        &[
            "listen",
            "--headless",
            "--auto-answer",
            "--sip",
            &sip,
            "--media",
            &media,
            "--timeout",
            "20",
        ],
    );
    let run = run_sotto(&mut cmd, Duration::from_secs(30), || b.dial(&me));
    assert_refused(&run, SDES_ONLY);
    b.wait_for("terminated", Duration::from_secs(5));
    let dump = b.decoded_wav();
    let out = b.quit();
    assert_decoded_nothing(dump.as_deref());
    assert!(out.contains("RTP/SAVP"), "{out}");
    assert!(out.contains("a=crypto:"), "{out}");
    let stats = rtp_stats(&out).unwrap_or_else(|| panic!("no RTP counters in:\n{out}"));
    assert_eq!(stats.received, 0, "{stats:?}");
}

#[test]
#[ignore = "needs baresip (Debian baresip-core)"]
fn d_allow_insecure_connects_red_for_the_whole_call_and_audio_flows() {
    let dir = tempfile::tempdir().unwrap();
    let b = Baresip::start(&dir.path().join("baresip"), BaresipOpts::default());
    let tone = dir.path().join("tone.wav");
    let heard = dir.path().join("heard.wav");
    write_tone(&tone, 440.0, 48_000, 10);
    let (sip, media) = sotto_addrs();
    let uri = b.uri();
    // 6 s: longer than sotto's ZRTP attempt against baresip (about 4 s), so the call is seen
    // staying red, and connected, past the moment ZRTP gives up.
    let run = run_sotto(
        sotto(
            dir.path(),
            &[
                "call",
                "--headless",
                "--allow-insecure",
                "--duration",
                "6",
                "--sip",
                &sip,
                "--media",
                &media,
                "--timeout",
                "20",
                "--play",
            ],
        )
        .arg(&tone)
        .arg("--record")
        .arg(&heard)
        .arg(&uri),
        Duration::from_secs(30),
        || {},
    );
    let ev = events(&run.stdout);
    assert_eq!(run.code, Some(0), "{ev:#?}\n{}", run.stderr);
    assert!(
        run.stderr.ends_with(
            "sotto: warning: this call was NOT ENCRYPTED (you allowed an insecure call)\n"
        ),
        "{}",
        run.stderr
    );
    // ZRTP gave up during the call (sotto-call's log line), and the call went on, still red.
    assert!(
        run.stderr
            .contains("ZRTP failed; the call stays insecure as the user allowed"),
        "{}",
        run.stderr
    );
    // ... and the JSON says so too, as one red event, after connecting and before the end.
    let f = find(&ev, "zrtp_failed");
    assert_eq!(
        f["reason"],
        "the other phone does not support ZRTP (or did not answer it); the call goes on NOT \
         ENCRYPTED, as you allowed",
        "{f}"
    );
    assert_eq!(f["state"], "red", "{f}");
    assert_eq!(f["insecure"], true, "{f}");
    let at = |name: &str| ev.iter().position(|e| e["event"] == name).unwrap();
    assert!(
        at("connecting") < at("zrtp_failed") && at("zrtp_failed") < at("ended"),
        "{ev:#?}"
    );
    assert_eq!(
        ev.iter().filter(|e| e["event"] == "zrtp_failed").count(),
        1,
        "{ev:#?}"
    );
    let c = find(&ev, "connecting");
    assert_eq!(c["state"], "red", "{c}");
    assert_eq!(c["insecure"], true, "{c}");
    assert_eq!(
        c["detail"],
        "NOT ENCRYPTED: you allowed an insecure call; audio is sent and played in the clear"
    );
    // Red for the whole call: no other colour is ever shown, nothing claims to be secure.
    for e in &ev {
        if let Some(state) = e.get("state") {
            assert_eq!(state, "red", "{e}");
        }
        assert_ne!(e["event"], "verified", "{e}");
    }
    assert!(ev.iter().all(|e| e["event"] != "secure"), "{ev:#?}");
    assert_eq!(find(&ev, "ended")["reason"], "you hung up");
    assert!(run.took > Duration::from_secs(6), "{:?}", run.took);
    let s = find(&ev, "summary");
    assert_eq!(s["srtp_sent"], 0, "{s}");
    assert!(s["clear_rtp_sent"].as_u64().unwrap() > 200, "{s}");
    assert!(s["frames_decoded"].as_u64().unwrap() > 200, "{s}");
    // sotto heard baresip's 700 Hz tone.
    let (got, rate) = read_wav(&heard);
    assert_eq!(rate, 48_000);
    let tail = &got[got.len() / 3..];
    let sotto_share = tone_share(tail, 700.0, rate);
    assert!(
        sotto_share > 0.5,
        "700 Hz share {sotto_share:.3} in what sotto heard"
    );
    // baresip heard sotto's 440 Hz tone.
    b.wait_for("terminated", Duration::from_secs(5));
    let dump = b.decoded_wav().expect("baresip dumped no decoded audio");
    let out = b.quit();
    let stats = rtp_stats(&out).unwrap_or_else(|| panic!("no RTP counters in:\n{out}"));
    assert!(stats.received > 200, "{stats:?}");
    let (got, rate) = read_wav(&dump);
    assert_eq!(rate, 48_000);
    let tail = &got[got.len() / 3..];
    let share = tone_share(tail, 440.0, rate);
    assert!(share > 0.5, "440 Hz share {share:.3} in what baresip heard");
    eprintln!(
        "insecure call: 700 Hz share {sotto_share:.3} at sotto, 440 Hz share {share:.3} at \
         baresip; baresip {stats:?}"
    );
}
