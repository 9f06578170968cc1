//! A real `baresip` (Debian `baresip-core`) for the interop tests, headless: a private
//! configuration directory (`baresip -f DIR`), SIP and media on 127.0.0.1 only, no sound device
//! (a sine tone from the `ausine` module as the microphone, the `aubridge` module as a loudspeaker
//! that plays nowhere, and the `sndfile` module dumping what it decoded to a WAV file), commands
//! on its stdin (the `stdio` and `menu` modules), its console (with `-s`, the SIP trace) collected.
//!
//! Included with `#[path = "support/baresip.rs"] mod baresip;`: self-contained, so it does not
//! depend on how `support/mod.rs` is laid out.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "test code"
)]

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where Debian installs baresip's modules.
pub const MODULE_DIR: &str = "/usr/lib/baresip/modules";

/// The modules the configuration below loads.
const MODULES: &[&str] = &[
    "stdio", "menu", "account", "g711", "opus", "ausine", "aubridge", "srtp", "sndfile",
];

/// How the baresip account is set up.
#[derive(Debug, Clone, Copy)]
pub struct BaresipOpts {
    /// `mediaenc` of the account: `None` for plain RTP, `Some("srtp-mand")` for SDES-SRTP only.
    pub mediaenc: Option<&'static str>,
    /// Frequency of the tone baresip sends, in Hz.
    pub tone_hz: u32,
}

impl Default for BaresipOpts {
    fn default() -> Self {
        Self {
            mediaenc: None,
            tone_hz: 700,
        }
    }
}

/// What baresip printed about one call's RTP when it ended (`rtp_stats yes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpStats {
    /// RTP packets it sent.
    pub sent: u64,
    /// RTP packets it received and accepted as RTP.
    pub received: u64,
}

/// A running baresip.
pub struct Baresip {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    /// Its SIP port on 127.0.0.1.
    pub sip_port: u16,
    /// Its configuration directory (also where it dumps audio).
    pub dir: PathBuf,
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An even port with the next one free too (baresip's RTP and RTCP).
fn free_rtp_pair() -> u16 {
    for _ in 0..200 {
        let p = free_udp_port() & !1;
        if p >= 1024
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no free RTP port pair on 127.0.0.1");
}

/// Fails with what to install when baresip or one of the modules is missing.
pub fn require_baresip() {
    let found = Command::new("sh")
        .args(["-c", "command -v baresip"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "baresip is not installed: DEBIAN_FRONTEND=noninteractive apt-get install -y baresip-core \
         (listed in .ci/apt-packages.txt)"
    );
    for m in MODULES {
        let p = Path::new(MODULE_DIR).join(format!("{m}.so"));
        assert!(
            p.exists(),
            "baresip module {} is missing: apt-get install -y baresip-core",
            p.display()
        );
    }
}

/// Whether this baresip has a ZRTP module (Debian's 1.0.0 has none).
pub fn has_zrtp_module() -> bool {
    Path::new(MODULE_DIR).join("zrtp.so").exists()
}

fn pump(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

impl Baresip {
    /// Writes the configuration into `dir` and starts baresip with its SIP trace on; returns
    /// once it says it is ready.
    pub fn start(dir: &Path, opts: BaresipOpts) -> Self {
        require_baresip();
        std::fs::create_dir_all(dir).unwrap();
        let sip_port = free_udp_port();
        let rtp = free_rtp_pair();
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             net_interface 127.0.0.1\n\
             dns_server 127.0.0.1:53\n\
             call_local_timeout 30\n\
             call_max_calls 1\n\
             audio_player aubridge,nowhere\n\
             audio_alert aubridge,nowhere\n\
             audio_source ausine,{tone}\n\
             rtp_ports {rtp}-{rtp_end}\n\
             rtcp_mux no\n\
             jitter_buffer_delay 1-4\n\
             rtp_stats yes\n\
             module_path {MODULE_DIR}\n\
             module stdio.so\n\
             module g711.so\n\
             module opus.so\n\
             module ausine.so\n\
             module aubridge.so\n\
             module srtp.so\n\
             module sndfile.so\n\
             snd_path {dir}\n\
             module_tmp account.so\n\
             module_app menu.so\n",
            tone = opts.tone_hz,
            rtp_end = rtp + 1,
            dir = dir.display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        // Opus only: `ausine` makes 48 kHz stereo, which is what Opus carries.
        let mut account = format!(
            "<sip:bare@127.0.0.1:{sip_port}>;regint=0;answermode=auto;\
             audio_codecs=opus/48000/2"
        );
        if let Some(enc) = opts.mediaenc {
            account.push_str(&format!(";mediaenc={enc}"));
        }
        std::fs::write(dir.join("accounts"), format!("{account}\n")).unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let mut child = Command::new("baresip")
            .arg("-s")
            .arg("-f")
            .arg(dir)
            .current_dir(dir)
            .env("HOME", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        pump(child.stdout.take().unwrap(), out.clone());
        pump(child.stderr.take().unwrap(), out.clone());
        let stdin = child.stdin.take();
        let b = Self {
            child,
            stdin,
            out,
            sip_port,
            dir: dir.to_path_buf(),
        };
        b.wait_for("baresip is ready.", Duration::from_secs(10));
        b
    }

    /// The URI sotto calls.
    pub fn uri(&self) -> String {
        format!("sip:bare@127.0.0.1:{}", self.sip_port)
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until its output contains `needle`; panics with the output after `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.out.lock().unwrap().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "baresip did not print {needle:?} within {timeout:?}; it printed:\n{}",
            self.output()
        );
    }

    /// Types a command on its console (`/dial URI`, `/hangup`, ...).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Places a call.
    pub fn dial(&mut self, uri: &str) {
        self.send(&format!("/dial {uri}"));
    }

    /// Quits (killing it if it does not go within 5 s) and returns everything it printed.
    pub fn quit(mut self) -> String {
        let _ = self
            .stdin
            .as_mut()
            .map(|s| s.write_all(b"/quit\n").and_then(|()| s.flush()));
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let the reader threads take the last bytes.
        std::thread::sleep(Duration::from_millis(100));
        self.output()
    }

    /// The WAV file the `sndfile` module wrote with what baresip decoded (received), if any.
    pub fn decoded_wav(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("dump-") && n.ends_with("-dec.wav")
            })
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The RTP counters baresip printed when its call ended (the `packets:` line of its
/// `Transmit:`/`Receive:` table), if it printed them.
pub fn rtp_stats(output: &str) -> Option<RtpStats> {
    let mut lines = output.split(['\r', '\n']);
    lines.find(|l| l.contains("Transmit:") && l.contains("Receive:"))?;
    let line = lines.find(|l| l.trim_start().starts_with("packets:"))?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    Some(RtpStats {
        sent: *nums.first()?,
        received: *nums.get(1)?,
    })
}
