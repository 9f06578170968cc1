//! A call between two `sotto` processes on 127.0.0.1: `sotto listen` answers, `sotto call`
//! plays a WAV file; the listener's recording must contain the caller's tone, both must show
//! the same SAS, and neither may send clear media.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "test code"
)]

mod support;

use support::{Listener, events, find, free_port, read_wav, sotto_call, tone_share, write_tone};

#[test]
fn call_between_two_sotto_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let tone = tmp.path().join("tone.wav");
    let rec = tmp.path().join("heard.wav");
    write_tone(&tone, 700.0, 16_000, 4);
    let sip_port = free_port();
    // Started once it says "ready".
    let listener = Listener::start(sip_port, |c| {
        c.arg("--record").arg(&rec);
    });
    let caller = sotto_call(&format!("sip:listener@127.0.0.1:{sip_port}"))
        .args(["--duration", "2", "--auto-confirm", "--timeout", "10"])
        .arg("--play")
        .arg(&tone)
        .output()
        .unwrap();
    assert!(
        caller.status.success(),
        "{}",
        String::from_utf8_lossy(&caller.stderr)
    );
    let (status, b, _) = listener.finish();
    assert!(status.success());
    let a = events(&caller.stdout);
    let (sa, sb) = (find(&a, "secure"), find(&b, "secure"));
    assert_eq!(sa["sas"], sb["sas"]);
    assert_eq!(sa["sas"].as_str().unwrap().len(), 4);
    find(&a, "connecting");
    find(&b, "verified");
    assert_eq!(find(&b, "ended")["reason"], "the other side hung up");
    for ev in [&a, &b] {
        let s = find(ev, "summary");
        assert_eq!(s["clear_rtp_sent"], 0);
        assert_eq!(s["rtp_dropped_before_secure"], 0);
        assert!(s["srtp_sent"].as_u64().unwrap() >= 80, "{s}");
        assert!(s["srtp_received"].as_u64().unwrap() >= 80, "{s}");
    }
    let (heard, rate) = read_wav(&rec);
    assert_eq!(rate, 48_000);
    assert!(heard.len() > 48_000, "recorded {} samples", heard.len());
    let share = tone_share(&heard[24_000..], 700.0, 48_000);
    assert!(
        share > 0.7,
        "the listener heard the 700 Hz tone at {share:.2}"
    );
}
