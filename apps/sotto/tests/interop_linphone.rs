//! Interop with Debian's `linphone-cli` (`linphonec` 5.1, ZRTP mandatory, WAV files as sound
//! card), both directions, on 127.0.0.1 only. Each side plays a tone and records the other:
//! each recording must hold the other's tone (so audio went both ways through SRTP keyed by
//! ZRTP), both sides must show the same SAS, and sotto must send no clear RTP.
//!
//! Ignored by default: `cargo test -p sotto --test interop_linphone -- --ignored`
//! (needs `apt-get install -y linphone-cli`).
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

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::{
    LinphoneOpts, Linphonec, Listener, events, find, free_port, read_wav, sotto, sotto_call,
    tone_share, write_tone,
};

const SOTTO_TONE: f64 = 700.0;
const LINPHONE_TONE: f64 = 1000.0;

/// The WAV files of one test in `dir`: each side's tone of `secs` seconds (sotto's at
/// [`SOTTO_TONE`], linphonec's at [`LINPHONE_TONE`]) and where each records the other.
struct Wavs {
    sotto_tone: PathBuf,
    lp_tone: PathBuf,
    sotto_rec: PathBuf,
    lp_rec: PathBuf,
}

impl Wavs {
    fn new(dir: &Path, secs: u32) -> Self {
        let w = Self {
            sotto_tone: dir.join("sotto.wav"),
            lp_tone: dir.join("lp.wav"),
            sotto_rec: dir.join("sotto_heard.wav"),
            lp_rec: dir.join("lp_heard.wav"),
        };
        write_tone(&w.sotto_tone, SOTTO_TONE, 48_000, secs);
        write_tone(&w.lp_tone, LINPHONE_TONE, 48_000, secs);
        w
    }

    /// linphonec in `dir`, playing its tone and recording what it hears.
    fn linphonec(&self, dir: &Path, opts: LinphoneOpts) -> Linphonec {
        Linphonec::start(dir, &self.lp_tone, &self.lp_rec, opts)
    }
}

/// linphonec (set up with `opts`) calls a `sotto listen` (with `listen_args`, stderr piped)
/// that plays and records [`Wavs`] of `secs` seconds; returns once linphonec shows the SAS,
/// with the directory everything lives in, the WAVs, both processes and linphonec's SAS.
fn linphonec_calls_sotto(
    secs: u32,
    listen_args: &[&str],
    opts: LinphoneOpts,
) -> (tempfile::TempDir, Wavs, Listener, Linphonec, String) {
    let tmp = tempfile::tempdir().unwrap();
    let w = Wavs::new(tmp.path(), secs);
    let sip_port = free_port();
    let listener = Listener::start(sip_port, |c| {
        c.args(listen_args)
            .arg("--play")
            .arg(&w.sotto_tone)
            .arg("--record")
            .arg(&w.sotto_rec)
            .stderr(Stdio::piped());
    });
    let mut lp = w.linphonec(tmp.path(), opts);
    lp.send(&format!("call sip:sotto@127.0.0.1:{sip_port}"));
    let lp_sas = lp.wait_sas(Duration::from_secs(10));
    (tmp, w, listener, lp, lp_sas)
}

/// sotto's "secure" event must show linphonec's SAS.
fn assert_same_sas(ev: &[serde_json::Value], lp_sas: &str) -> serde_json::Value {
    let secure = find(ev, "secure");
    assert_eq!(
        secure["sas"], lp_sas,
        "sotto and linphonec show different SAS"
    );
    secure.clone()
}

fn check_sotto_summary(ev: &[serde_json::Value]) {
    let s = find(ev, "summary");
    assert_eq!(s["clear_rtp_sent"], 0, "{s}");
    assert_eq!(s["rtp_dropped_before_secure"], 0, "{s}");
    assert_eq!(s["srtp_rejected"], 0, "{s}");
    // linphonec's SRTCP (32-bit tags under ZRTP HS32) authenticates too.
    assert_eq!(s["srtcp_rejected"], 0, "{s}");
    eprintln!("sotto summary: {s}");
    assert!(s["srtp_sent"].as_u64().unwrap() >= 100, "{s}");
    assert!(s["srtp_received"].as_u64().unwrap() >= 100, "{s}");
    assert!(s["zrtp_sent"].as_u64().unwrap() >= 3, "{s}");
}

/// The last `secs` seconds of a recording must be mostly `freq`.
fn assert_heard(path: &std::path::Path, freq: f64, secs: f64, who: &str) {
    let (x, rate) = read_wav(path);
    let n = (f64::from(rate) * secs) as usize;
    assert!(
        x.len() > n + rate as usize / 2,
        "{who} recorded only {} samples at {rate} Hz",
        x.len()
    );
    // Skip the last 200 ms (hang-up) and take `secs` before that.
    let end = x.len() - rate as usize / 5;
    let share = tone_share(&x[end - n..end], freq, rate);
    assert!(
        share > 0.7,
        "{who} heard the {freq} Hz tone at {share:.2} of its recording's energy"
    );
}

/// sotto offers `a=rtcp-mux` and linphonec (rtcp_mux=1) accepts: its SRTCP and STUN arrive on
/// sotto's one media port beside SRTP and ZRTP.
#[test]
#[ignore = "needs linphonec (Debian linphone-cli)"]
fn sotto_calls_linphonec() {
    let tmp = tempfile::tempdir().unwrap();
    let w = Wavs::new(tmp.path(), 8);
    let mut lp = w.linphonec(tmp.path(), LinphoneOpts::ANSWERING);

    let caller = sotto_call(&format!("sip:lp@127.0.0.1:{}", lp.sip_port))
        .args(["--duration", "4", "--auto-confirm", "--timeout", "15"])
        .arg("--play")
        .arg(&w.sotto_tone)
        .arg("--record")
        .arg(&w.sotto_rec)
        .output()
        .unwrap();
    let ev = events(&caller.stdout);
    assert!(
        caller.status.success(),
        "sotto call failed: {}\n{ev:#?}\nlinphonec log: {}",
        String::from_utf8_lossy(&caller.stderr),
        lp.log.display()
    );
    let lp_sas = lp.wait_sas(Duration::from_secs(5));
    lp.wait_for("ended", Duration::from_secs(5));
    lp.quit();

    let secure = assert_same_sas(&ev, &lp_sas);
    assert_eq!(secure["sas_type"], "B32");
    find(&ev, "ringing");
    find(&ev, "verified");
    assert_eq!(find(&ev, "ended")["reason"], "you hung up");
    check_sotto_summary(&ev);
    assert_heard(&w.sotto_rec, LINPHONE_TONE, 2.0, "sotto");
    assert_heard(&w.lp_rec, SOTTO_TONE, 2.0, "linphonec");
}

/// linphonec (rtcp_mux=0) offers audio and video and no `a=rtcp-mux`; sotto takes the audio and
/// refuses the video stream (port 0, RFC 3264 §6); linphonec puts sotto on hold and resumes with
/// two re-INVITEs, and hangs up with BYE.
#[test]
#[ignore = "needs linphonec (Debian linphone-cli)"]
fn linphonec_calls_sotto_with_hold_and_resume() {
    let (_tmp, w, listener, mut lp, lp_sas) = linphonec_calls_sotto(
        12,
        &["--timeout", "20"],
        LinphoneOpts {
            video: true,
            ..LinphoneOpts::default()
        },
    );
    std::thread::sleep(Duration::from_millis(2500));
    // Hold and resume: two re-INVITEs (a=sendonly, then a=sendrecv) in the secure call.
    lp.send("pause");
    lp.wait_for("is now paused", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    lp.send("resume");
    lp.wait_for("Resuming call", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(3000));
    lp.send("terminate");
    lp.wait_for("ended", Duration::from_secs(5));

    let (status, ev, err) = listener.finish();
    let log = lp.log.clone();
    lp.quit();
    assert!(status.success(), "sotto listen failed: {err}\n{ev:#?}");
    // linphonec offered video; every answer of sotto's (200 to INVITE and to both
    // re-INVITEs) refuses it with port 0 and keeps the m-line (RFC 3264 §6, §8).
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("m=video "), "linphonec offered no video");
    let refused = log.matches("\nm=video 0 RTP/AVP").count();
    assert!(
        refused >= 3,
        "sotto refused video in {refused} answers, wanted 3"
    );
    assert_same_sas(&ev, &lp_sas);
    find(&ev, "incoming_call");
    find(&ev, "verified");
    assert_eq!(find(&ev, "ended")["reason"], "the other side hung up");
    check_sotto_summary(&ev);
    // No rtcp-mux here: sotto's `a=rtcp` (RFC 3605) brings linphonec's SRTCP to sotto's one
    // media port, and sotto's SRTCP to linphonec's RTP port + 1 comes back as an RTT.
    let s = find(&ev, "summary");
    assert!(s["peer_reports"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["rtt_ms"].as_f64().is_some(), "{s}");
    // After the resume each side hears the other again.
    assert_heard(&w.sotto_rec, LINPHONE_TONE, 2.0, "sotto");
    assert_heard(&w.lp_rec, SOTTO_TONE, 2.0, "linphonec");
}

/// Key continuity (RFC 6189 §4.9, §7): two calls sotto → linphonec, both keeping their ZID cache
/// (sotto in a data directory, linphonec in its HOME). On the first both confirm the SAS; on
/// the second sotto finds the retained secret (`cache: match`), shows the call verified, and
/// both still show the same (new) SAS.
#[test]
#[ignore = "needs linphonec (Debian linphone-cli)"]
fn key_continuity_with_linphonec_across_two_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("sotto-data");
    let w = Wavs::new(tmp.path(), 4);
    let mut lp = w.linphonec(tmp.path(), LinphoneOpts::ANSWERING);
    let lp_port = lp.sip_port;
    let call = |secs: &str| {
        sotto()
            .arg("--data-dir")
            .arg(&data)
            .args(["call", &format!("sip:lp@127.0.0.1:{lp_port}")])
            .args(["--duration", secs, "--auto-confirm", "--timeout", "15"])
            .arg("--play")
            .arg(&w.sotto_tone)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let finish = |child: std::process::Child, n: usize| {
        let out = child.wait_with_output().unwrap();
        let ev = events(&out.stdout);
        assert!(
            out.status.success(),
            "call {n}: {}\n{ev:#?}",
            String::from_utf8_lossy(&out.stderr)
        );
        ev
    };
    let caller = call("3");
    let sas1 = lp.wait_sas(Duration::from_secs(10));
    // During the call (linphonec 5.1.65 crashes on zrtp-set-verified with no call); it shows
    // the encryption state again once done.
    lp.seen.clear();
    lp.send("zrtp-set-verified");
    lp.wait_for("auth token is", Duration::from_secs(3));
    lp.wait_for("ended", Duration::from_secs(8));
    let first = finish(caller, 1);
    let s1 = find(&first, "secure");
    assert_eq!(s1["sas"], sas1.as_str());
    assert_eq!(s1["cache"], "first call");
    assert_eq!(s1["verified"], false);

    lp.seen.clear();
    let caller = call("1.5");
    let sas2 = lp.wait_sas(Duration::from_secs(10));
    lp.wait_for("ended", Duration::from_secs(8));
    let second = finish(caller, 2);
    lp.quit();
    let s2 = assert_same_sas(&second, &sas2);
    assert_eq!(s2["cache"], "match", "{s2}");
    assert_eq!(s2["verified"], true, "{s2}");
    assert_eq!(s2["state"], "green");
    assert_eq!(s1["peer_zid"], s2["peer_zid"]);
    assert!(
        !second.iter().any(|e| e["event"] == "cache_mismatch"),
        "{second:#?}"
    );
    check_sotto_summary_lenient(&second);
}

/// No clear media and SRTP both ways (a short call).
fn check_sotto_summary_lenient(ev: &[serde_json::Value]) {
    let s = find(ev, "summary");
    assert_eq!(s["clear_rtp_sent"], 0, "{s}");
    assert_eq!(s["srtp_rejected"], 0, "{s}");
    assert!(s["srtp_sent"].as_u64().unwrap() >= 40, "{s}");
    assert!(s["srtp_received"].as_u64().unwrap() >= 40, "{s}");
}

/// linphonec offering G.711 only (no Opus): sotto answers with PCMU or PCMA, resamples between
/// 8 kHz on the wire and 48 kHz on its audio path, and the call is as secure as any other: same
/// SAS, SRTP both ways, each side hears the other's tone.
#[test]
#[ignore = "needs linphonec (Debian linphone-cli)"]
fn a_g711_only_linphonec_gets_a_secure_g711_call() {
    // Tones (700 Hz and 1000 Hz) well inside G.711's 4 kHz band.
    let (_tmp, w, listener, mut lp, lp_sas) = linphonec_calls_sotto(
        8,
        &["--timeout", "15", "--duration", "3"],
        LinphoneOpts {
            g711_only: true,
            ..LinphoneOpts::default()
        },
    );
    let (status, ev, err) = listener.finish();
    lp.wait_for("ended", Duration::from_secs(5));
    let log = lp.log.clone();
    lp.quit();
    assert!(status.success(), "sotto listen failed: {err}\n{ev:#?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("PCMU/8000") || log.contains("PCMA/8000"),
        "no G.711 in the SDP"
    );
    assert_same_sas(&ev, &lp_sas);
    check_sotto_summary(&ev);
    assert_heard(&w.sotto_rec, 1000.0, 1.5, "sotto");
    assert_heard(&w.lp_rec, 700.0, 1.5, "linphonec");
}

/// RFC 4733 key presses both ways with linphonec (which sends and receives them as RTP
/// telephone-events, `use_rfc2833`), and RFC 3550 RTCP both ways over SRTCP (rtcp-mux):
/// linphonec calls `sotto listen`; once secure, keys typed into linphonec arrive in sotto as
/// one `dtmf` event each, and `dtmf` on sotto's stdin reaches linphonec ("Receiving tone").
/// linphonec's reports arrive and authenticate, and sotto's round-trip time is computed from
/// linphonec's LSR/DLSR — LSR is the middle of the NTP time in sotto's own SR, so a measured
/// RTT proves linphonec decrypted and authenticated sotto's SRTCP and parsed its SR.
#[test]
#[ignore = "needs linphonec (Debian linphone-cli)"]
fn dtmf_and_rtcp_with_linphonec() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let w = Wavs::new(tmp.path(), 20);
    let sip_port = free_port();
    let mut listener = sotto()
        .args(["--ephemeral", "listen", "--auto-answer", "--auto-confirm"])
        .args(["--sip", &format!("127.0.0.1:{sip_port}")])
        .args(["--timeout", "30", "--headless"])
        .arg("--play")
        .arg(&w.sotto_tone)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sotto_in = listener.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let out = listener.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    let mut ev: Vec<serde_json::Value> = Vec::new();
    let wait_event = |name: &str, ev: &mut Vec<serde_json::Value>| -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(v) = ev.iter().find(|v| v["event"] == name) {
                return v.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) => ev.push(v),
                Err(_) => panic!("sotto never reported {name}: {ev:#?}"),
            }
        }
    };
    wait_event("ready", &mut ev);

    let mut lp = w.linphonec(
        tmp.path(),
        LinphoneOpts {
            rtcp_mux: true,
            ..LinphoneOpts::default()
        },
    );
    lp.send(&format!("call sip:sotto@127.0.0.1:{sip_port}"));
    let lp_sas = lp.wait_sas(Duration::from_secs(10));
    let secure = wait_event("secure", &mut ev);
    assert_eq!(secure["sas"], lp_sas.as_str());
    std::thread::sleep(Duration::from_millis(500));

    // linphonec → sotto: a key typed during a call is sent as DTMF.
    for key in ["1", "#", "9"] {
        lp.send(key);
        std::thread::sleep(Duration::from_millis(400));
    }
    // sotto → linphonec.
    writeln!(sotto_in, "dtmf 5").unwrap();
    writeln!(sotto_in, "dtmf *0").unwrap();
    sotto_in.flush().unwrap();
    for t in ["5", "*", "0"] {
        lp.wait_for(&format!("Receiving tone {t}"), Duration::from_secs(5));
    }
    // Long enough for a few RTCP intervals on both sides (linphonec reports every ~5 s).
    std::thread::sleep(Duration::from_millis(9000));
    lp.send("terminate");
    lp.wait_for("ended", Duration::from_secs(5));
    wait_event("ended", &mut ev);
    let summary = wait_event("summary", &mut ev);
    let status = listener.wait().unwrap();
    let mut err = String::new();
    listener
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let log = std::fs::read_to_string(&lp.log).unwrap();
    lp.quit();
    assert!(status.success(), "sotto listen failed: {err}\n{ev:#?}");
    let digits: String = ev
        .iter()
        .filter(|v| v["event"] == "dtmf")
        .map(|v| v["digit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        digits, "1#9",
        "one dtmf event per key linphonec sent: {ev:#?}"
    );
    let received_tones = lp_seen_tones(&log);
    eprintln!("sotto summary: {summary}\nlinphonec log RTCP/DTMF lines: {received_tones}");
    assert_eq!(summary["dtmf_sent"], 3, "{summary}");
    assert_eq!(summary["dtmf_received"], 3, "{summary}");
    assert_eq!(summary["srtcp_rejected"], 0, "{summary}");
    // oRTP repeats each key's end packet with one sequence number: SRTP's replay check drops
    // the two repeats of each of linphonec's three keys (nothing else is replayed).
    assert!(summary["srtp_replayed"].as_u64().unwrap() <= 6, "{summary}");
    assert!(summary["rtcp_sent"].as_u64().unwrap() >= 3, "{summary}");
    assert!(summary["peer_reports"].as_u64().unwrap() >= 1, "{summary}");
    let rtt = summary["rtt_ms"]
        .as_f64()
        .expect("an RTT from linphonec's report on sotto's SR");
    assert!((0.0..50.0).contains(&rtt), "RTT {rtt} ms on loopback");
    assert!(
        summary["peer_loss_percent"].as_f64().unwrap() < 5.0,
        "{summary}"
    );
    assert!(
        !log.contains("srtp_unprotect_rtcp") || !log.contains("failed"),
        "linphonec refused sotto's SRTCP"
    );
    check_sotto_summary(&ev);
}

/// linphonec's log lines about RTCP and DTMF, for the test output.
fn lp_seen_tones(log: &str) -> String {
    log.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            (l.contains("rtcp") && (l.contains("srtp") || l.contains("receiv")))
                || l.contains("dtmf")
        })
        .take(12)
        .collect::<Vec<_>>()
        .join("\n")
}
