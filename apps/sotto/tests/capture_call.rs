//! Packet captures (`tshark` on `lo`, Debian `tshark`, needs the right to capture: root or the
//! `wireshark` group) of a sotto↔sotto call and of a sotto→linphonec call, read back and checked
//! datagram by datagram:
//!
//! - no RTP leaves either side before its part of the ZRTP handshake is done: the initiator's
//!   first RTP packet follows its Confirm2, the responder's follows its Conf2ACK (RFC 6189 §4.6:
//!   the earliest each side holds and has confirmed the SRTP keys);
//! - every RTP packet after that is SRTP: the first payload byte, which in clear Opus is the TOC
//!   byte and stays the same for a whole call (RFC 6716 §3.1), is AES-CM keystream-masked in SRTP
//!   and looks random; and every packet is long enough to carry an authentication tag.
//!
//! Ignored by default: `cargo test -p sotto --test capture_call -- --ignored`.
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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sotto_call::demux::{Kind, classify};
use support::{
    LinphoneOpts, Linphonec, Listener, events, find, free_port, free_rtp_port, sotto_call,
    write_tone,
};

/// One captured UDP datagram.
#[derive(Debug, Clone)]
struct Datagram {
    at: f64,
    src: u16,
    payload: Vec<u8>,
}

struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    /// Starts `tshark` on `lo` for UDP on these ports and waits until it captures.
    fn start(dir: &Path, ports: &[u16]) -> Self {
        let which = Command::new("sh")
            .args(["-c", "command -v tshark"])
            .output()
            .unwrap();
        assert!(
            which.status.success(),
            "tshark is not installed: DEBIAN_FRONTEND=noninteractive apt-get install -y tshark (listed in .ci/apt-packages.txt)"
        );
        let file = dir.join("call.pcap");
        let filter = format!(
            "udp and ({})",
            ports
                .iter()
                .map(|p| format!("port {p}"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-q", "-f", &filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tshark");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.contains("Capturing on") => break,
                Ok(l) => seen.push(l),
                Err(_) => panic!("tshark did not start capturing on lo: {seen:?}"),
            }
        }
        // "Capturing on" is printed as the capture opens; give the filter a moment.
        std::thread::sleep(Duration::from_millis(500));
        Self { child, file }
    }

    /// Stops the capture (SIGINT, so the file is complete) and reads every datagram back.
    fn stop(mut self) -> Vec<Datagram> {
        std::thread::sleep(Duration::from_millis(300));
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let _ = self.child.wait();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
                "-e",
                "udp.srcport",
                "-e",
                "udp.payload",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "tshark -r failed");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let payload = hex::decode(f.get(2)?.replace(':', "")).ok()?;
                Some(Datagram {
                    at: f[0].parse().ok()?,
                    src: f[1].parse().ok()?,
                    payload,
                })
            })
            .collect()
    }
}

/// The ZRTP message type of a ZRTP packet (RFC 6189 §5: 12-byte header, `PZ`, length, type).
fn zrtp_type(d: &[u8]) -> Option<String> {
    let t = d.get(16..24)?;
    Some(String::from_utf8_lossy(t).trim().to_owned())
}

/// What the capture shows for one sending media port.
#[derive(Debug, Default)]
struct SideReport {
    zrtp: Vec<(f64, String)>,
    rtp_times: Vec<f64>,
    first_bytes: BTreeMap<u32, Vec<u8>>,
    short_packets: usize,
    stun: usize,
    rtcp: usize,
}

fn analyse(dgrams: &[Datagram], media_ports: &[u16]) -> BTreeMap<u16, SideReport> {
    let mut sides: BTreeMap<u16, SideReport> = BTreeMap::new();
    for d in dgrams {
        if !media_ports.contains(&d.src) {
            continue;
        }
        let side = sides.entry(d.src).or_default();
        match classify(&d.payload) {
            Kind::Zrtp => side
                .zrtp
                .push((d.at, zrtp_type(&d.payload).unwrap_or_default())),
            Kind::Rtp => {
                side.rtp_times.push(d.at);
                let ssrc = u32::from_be_bytes(d.payload[8..12].try_into().unwrap());
                let cc = usize::from(d.payload[0] & 0x0f);
                let x = d.payload[0] & 0x10 != 0;
                let mut off = 12 + 4 * cc;
                if x && d.payload.len() >= off + 4 {
                    let words = u16::from_be_bytes([d.payload[off + 2], d.payload[off + 3]]);
                    off += 4 + 4 * usize::from(words);
                }
                // Header, at least one payload byte, and a 32- or 80-bit tag.
                if d.payload.len() < off + 1 + 4 {
                    side.short_packets += 1;
                } else {
                    side.first_bytes
                        .entry(ssrc)
                        .or_default()
                        .push(d.payload[off]);
                }
            }
            Kind::Rtcp => side.rtcp += 1,
            Kind::Stun => side.stun += 1,
            _ => {}
        }
    }
    sides
}

/// Checks one side: media only after its handshake part, and all of it SRTP.
fn check_side(port: u16, s: &SideReport) {
    let sent = |name: &str| s.zrtp.iter().find(|(_, t)| t == name).map(|(at, _)| *at);
    let keys_done = match (sent("Confirm2"), sent("Conf2ACK")) {
        (Some(c2), _) => c2,
        (None, Some(ack)) => ack,
        (None, None) => panic!("port {port} never finished ZRTP: {:?}", s.zrtp),
    };
    let first_rtp = s.rtp_times.first().copied().expect("no RTP at all");
    assert!(
        first_rtp >= keys_done,
        "port {port} sent RTP {:.1} ms before its ZRTP handshake ended",
        (keys_done - first_rtp) * 1000.0
    );
    assert_eq!(s.short_packets, 0, "port {port}: RTP too short to be SRTP");
    for (ssrc, bytes) in &s.first_bytes {
        let distinct: BTreeSet<u8> = bytes.iter().copied().collect();
        assert!(
            bytes.len() >= 50,
            "port {port}: only {} packets",
            bytes.len()
        );
        // A clear Opus stream has one TOC byte (two or three at most); keystream-masked bytes
        // spread over most of the 256 values.
        assert!(
            distinct.len() * 3 >= bytes.len().min(256),
            "port {port} SSRC {ssrc:08x}: {} distinct first payload bytes in {} packets: clear RTP?",
            distinct.len(),
            bytes.len()
        );
    }
}

#[test]
fn the_srtp_check_catches_clear_opus() {
    // 100 clear Opus packets (TOC 0x78: CELT FB 20 ms) are caught; the same with a masked
    // first byte pass.
    let mk = |first: u8, seq: u16| {
        let mut p = vec![0x80, 96, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.push(first);
        p.extend_from_slice(&[0xaa; 60]);
        Datagram {
            at: 1.0 + f64::from(seq) / 50.0,
            src: 4000,
            payload: p,
        }
    };
    let mut zrtp = vec![0x10, 0, 0, 1];
    zrtp.extend_from_slice(b"ZRTP");
    zrtp.extend_from_slice(&[0; 4]);
    zrtp.extend_from_slice(&[0x50, 0x5a, 0, 0x13]);
    zrtp.extend_from_slice(b"Confirm2");
    zrtp.extend_from_slice(&[0; 40]);
    let hello = Datagram {
        at: 0.5,
        src: 4000,
        payload: zrtp,
    };
    let clear: Vec<Datagram> = std::iter::once(hello.clone())
        .chain((0..100).map(|i| mk(0x78, i)))
        .collect();
    let r = analyse(&clear, &[4000]);
    let caught = std::panic::catch_unwind(|| check_side(4000, &r[&4000]));
    assert!(caught.is_err(), "clear Opus passed as SRTP");
    let masked: Vec<Datagram> = std::iter::once(hello)
        .chain((0..100).map(|i| mk((i as u8).wrapping_mul(73).wrapping_add(11), i)))
        .collect();
    let r = analyse(&masked, &[4000]);
    check_side(4000, &r[&4000]);
}

#[test]
#[ignore = "needs tshark and the right to capture on lo"]
fn capture_of_a_sotto_to_sotto_call() {
    let tmp = tempfile::tempdir().unwrap();
    let tone = tmp.path().join("tone.wav");
    write_tone(&tone, 700.0, 48_000, 4);
    let (a_sip, b_sip, a_media) = (free_port(), free_port(), free_rtp_port());
    let b_media = loop {
        let p = free_rtp_port();
        if p.abs_diff(a_media) > 1 {
            break p;
        }
    };
    let cap = Capture::start(tmp.path(), &[a_sip, a_media, b_sip, b_media]);
    let listener = Listener::start(b_sip, |c| {
        c.args(["--media", &format!("127.0.0.1:{b_media}")])
            .arg("--play")
            .arg(&tone);
    });
    let caller = sotto_call(&format!("sip:listener@127.0.0.1:{b_sip}"))
        .args(["--sip", &format!("127.0.0.1:{a_sip}")])
        .args(["--media", &format!("127.0.0.1:{a_media}")])
        .args(["--duration", "2", "--auto-confirm", "--timeout", "10"])
        .arg("--play")
        .arg(&tone)
        .output()
        .unwrap();
    assert!(caller.status.success());
    assert!(listener.finish().0.success());
    let dgrams = cap.stop();
    let ev = events(&caller.stdout);
    find(&ev, "secure");
    let sides = analyse(&dgrams, &[a_media, b_media]);
    for port in [a_media, b_media] {
        let s = sides
            .get(&port)
            .unwrap_or_else(|| panic!("nothing captured from {port}: {} datagrams", dgrams.len()));
        eprintln!(
            "port {port}: {} ZRTP, {} SRTP, {} STUN, {} RTCP",
            s.zrtp.len(),
            s.rtp_times.len(),
            s.stun,
            s.rtcp
        );
        check_side(port, s);
    }
}

#[test]
#[ignore = "needs tshark, the right to capture on lo, and linphonec (Debian linphone-cli)"]
fn capture_of_a_sotto_to_linphonec_call() {
    let tmp = tempfile::tempdir().unwrap();
    let (tone, lp_tone, lp_rec) = (
        tmp.path().join("tone.wav"),
        tmp.path().join("lp.wav"),
        tmp.path().join("lp_heard.wav"),
    );
    write_tone(&tone, 700.0, 48_000, 5);
    write_tone(&lp_tone, 1000.0, 48_000, 5);
    let lp = Linphonec::start(tmp.path(), &lp_tone, &lp_rec, LinphoneOpts::ANSWERING);
    let (a_sip, a_media) = (free_port(), free_rtp_port());
    let ports = [
        a_sip,
        a_media,
        a_media + 1,
        lp.sip_port,
        lp.rtp_port,
        lp.rtp_port + 1,
    ];
    let cap = Capture::start(tmp.path(), &ports);
    let caller = sotto_call(&format!("sip:lp@127.0.0.1:{}", lp.sip_port))
        .args(["--sip", &format!("127.0.0.1:{a_sip}")])
        .args(["--media", &format!("127.0.0.1:{a_media}")])
        .args(["--duration", "3", "--auto-confirm", "--timeout", "10"])
        .arg("--play")
        .arg(&tone)
        .output()
        .unwrap();
    let dgrams = cap.stop();
    let lp_rtp = lp.rtp_port;
    lp.quit();
    assert!(
        caller.status.success(),
        "{}",
        String::from_utf8_lossy(&caller.stderr)
    );
    // rtcp-mux: linphonec's SRTCP shares its RTP port; every SRTP packet authenticated.
    let summary = find(&events(&caller.stdout), "summary").clone();
    assert_eq!(summary["srtp_rejected"], 0, "{summary}");
    assert_eq!(summary["clear_rtp_sent"], 0, "{summary}");
    let sides = analyse(&dgrams, &[a_media, lp_rtp]);
    assert!(
        sides[&lp_rtp].rtcp >= 1,
        "no SRTCP from linphonec on its RTP port"
    );
    for port in [a_media, lp_rtp] {
        let s = sides
            .get(&port)
            .unwrap_or_else(|| panic!("nothing captured from {port}: {} datagrams", dgrams.len()));
        eprintln!(
            "port {port}: {} ZRTP {:?}, {} SRTP, {} STUN, {} RTCP",
            s.zrtp.len(),
            s.zrtp.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
            s.rtp_times.len(),
            s.stun,
            s.rtcp
        );
        check_side(port, s);
    }
}
