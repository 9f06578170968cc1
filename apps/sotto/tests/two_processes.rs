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

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_tone(path: &std::path::Path, freq: f64, rate: u32, secs: u32) {
    let n = rate * secs;
    let mut data = Vec::new();
    for i in 0..n {
        let v =
            (8000.0 * (std::f64::consts::TAU * freq * f64::from(i) / f64::from(rate)).sin()) as i16;
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap();
}

fn read_wav_48k(path: &std::path::Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"RIFF");
    let pos = b.windows(4).position(|w| w == b"data").unwrap();
    b[pos + 8..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn tone_share(x: &[i16], freq: f64) -> f64 {
    let c = 2.0 * (std::f64::consts::TAU * freq / 48_000.0).cos();
    let (mut s1, mut s2, mut tot) = (0.0f64, 0.0f64, 0.0f64);
    for &v in x {
        let v = f64::from(v);
        tot += v * v;
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64 * tot)
}

fn events(out: &[u8]) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

fn find<'a>(ev: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    ev.iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {ev:?}"))
}

#[test]
fn call_between_two_sotto_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let tone = tmp.path().join("tone.wav");
    let rec = tmp.path().join("heard.wav");
    write_tone(&tone, 700.0, 16_000, 4);
    let sip_port = free_port();
    let mut listener = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["--ephemeral", "listen", "--auto-answer", "--auto-confirm"])
        .args(["--sip", &format!("127.0.0.1:{sip_port}")])
        .arg("--record")
        .arg(&rec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for "ready".
    let mut lines = BufReader::new(listener.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert!(first.contains("\"ready\""), "{first}");
    let caller = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args([
            "--ephemeral",
            "call",
            &format!("sip:listener@127.0.0.1:{sip_port}"),
        ])
        .args(["--duration", "2", "--auto-confirm", "--timeout", "10"])
        .arg("--play")
        .arg(&tone)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        caller.status.success(),
        "{}",
        String::from_utf8_lossy(&caller.stderr)
    );
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut lines, &mut rest).unwrap();
    assert!(listener.wait().unwrap().success());
    let a = events(&caller.stdout);
    let b = events(&rest);
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
    let heard = read_wav_48k(&rec);
    assert!(heard.len() > 48_000, "recorded {} samples", heard.len());
    let share = tone_share(&heard[24_000..], 700.0);
    assert!(
        share > 0.7,
        "the listener heard the 700 Hz tone at {share:.2}"
    );
}
