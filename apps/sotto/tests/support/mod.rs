//! Helpers for the interop tests: WAV tones and their measurement, free loopback ports, `sotto`
//! JSON-line events, `sotto listen` as a child process, a `linphonec` (Debian `linphone-cli`)
//! driven through its stdin with a private configuration under a temporary HOME, and a tmux
//! session to run `sotto` in a real terminal.
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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A UDP port on 127.0.0.1 free right now.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An even UDP port `p` on 127.0.0.1 with `p + 1` free too (RTP + RTCP).
pub fn free_rtp_port() -> u16 {
    for _ in 0..200 {
        let p = free_port() & !1;
        if p < 1024 {
            continue;
        }
        let a = UdpSocket::bind(("127.0.0.1", p));
        let b = UdpSocket::bind(("127.0.0.1", p + 1));
        if a.is_ok() && b.is_ok() {
            return p;
        }
    }
    panic!("no free RTP port pair on 127.0.0.1");
}

/// Whether something already listens on UDP 127.0.0.1:`port`.
pub fn udp_port_taken(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// Writes a 16-bit mono PCM WAV with a sine tone.
pub fn write_tone(path: &Path, freq: f64, rate: u32, secs: u32) {
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

/// A 16-bit PCM WAV file's first channel and its sample rate.
pub fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_eq!(&b[..4], b"RIFF", "{} is not a WAV file", path.display());
    assert_eq!(&b[8..12], b"WAVE");
    let mut pos = 12;
    let (mut rate, mut channels, mut bits) = (0u32, 1usize, 16u16);
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            channels = usize::from(u16::from_le_bytes([b[body + 2], b[body + 3]]));
            rate = u32::from_le_bytes(b[body + 4..body + 8].try_into().unwrap());
            bits = u16::from_le_bytes([b[body + 14], b[body + 15]]);
        } else if id == b"data" {
            assert_eq!(bits, 16, "{}: {bits}-bit WAV", path.display());
            let end = (body + len).min(b.len());
            let samples = b[body..end]
                .chunks_exact(2 * channels)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (samples, rate);
        }
        pos = body + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// Energy of `freq` relative to the total energy (Goertzel); 1.0 is a pure tone.
#[allow(unused_imports, reason = "not every test binary measures tones")]
pub use sotto_media::signal::tone_share;

/// The JSON events a `sotto` process printed.
pub fn events(out: &[u8]) -> Vec<serde_json::Value> {
    out.lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect()
}

/// The first event called `name`.
pub fn find<'a>(ev: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    ev.iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {ev:#?}"))
}

/// `linphonec` with a private configuration: SIP and media on 127.0.0.1 only, IPv6 off, Opus
/// only, ZRTP mandatory, audio from and to WAV files.
pub struct Linphonec {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Every stdout line so far.
    pub seen: Vec<String>,
    /// Its SIP port.
    pub sip_port: u16,
    /// Its RTP port.
    pub rtp_port: u16,
    /// The debug log (verbosity 6).
    pub log: PathBuf,
}

/// How a [`Linphonec`] is set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinphoneOpts {
    /// Answer incoming calls (`-a`).
    pub auto_answer: bool,
    /// Offer and accept RTCP on the RTP port (RFC 5761); otherwise RTCP goes one port up.
    pub rtcp_mux: bool,
    /// Offer a video stream too (`-V`, a static test image as camera).
    pub video: bool,
    /// Offer G.711 (PCMU, PCMA) only, no Opus.
    pub g711_only: bool,
}

impl LinphoneOpts {
    /// Answers calls by itself, with RTCP on the RTP port: the callee of sotto's calls.
    pub const ANSWERING: Self = Self {
        auto_answer: true,
        rtcp_mux: true,
        video: false,
        g711_only: false,
    };
}

fn linphonerc(sip_port: u16, rtp_port: u16, o: LinphoneOpts) -> String {
    let mux = u8::from(o.rtcp_mux);
    let video = u8::from(o.video);
    let opus = u8::from(!o.g711_only);
    let g711 = u8::from(o.g711_only);
    let video_port = free_rtp_port();
    let mut rc = format!(
        "[sip]\n\
         sip_port={sip_port}\n\
         sip_tcp_port=-1\n\
         sip_tls_port=-1\n\
         bind_address=127.0.0.1\n\
         contact=\"lp\" <sip:lp@127.0.0.1>\n\
         guess_hostname=0\n\
         use_ipv6=0\n\
         ipv6_migration_done=1\n\
         media_encryption=zrtp\n\
         media_encryption_mandatory=1\n\
         inc_timeout=30\n\
         [net]\n\
         firewall_policy=0\n\
         [rtp]\n\
         bind_address=127.0.0.1\n\
         audio_rtp_port={rtp_port}\n\
         rtcp_mux={mux}\n\
         video_rtp_port={video_port}\n\
         [video]\n\
         enabled={video}\n\
         capture={video}\n\
         display=0\n\
         automatically_initiate={video}\n\
         automatically_accept=0\n\
         [sound]\n\
         echocancellation=0\n\
         [audio_codec_0]\n\
         mime=opus\n\
         rate=48000\n\
         channels=2\n\
         enabled={opus}\n"
    );
    // Every other codec this build knows, off: the call must use Opus.
    let others = [
        ("speex", 16_000),
        ("speex", 8000),
        ("speex", 32_000),
        ("PCMU", 8000),
        ("PCMA", 8000),
        ("GSM", 8000),
        ("G722", 8000),
        ("G729", 8000),
    ];
    for (i, (mime, rate)) in others.iter().enumerate() {
        let on = if mime.starts_with("PCM") { g711 } else { 0 };
        rc.push_str(&format!(
            "[audio_codec_{}]\nmime={mime}\nrate={rate}\nchannels=1\nenabled={on}\n",
            i + 1
        ));
    }
    rc
}

impl Linphonec {
    /// Starts `linphonec` in `dir` (its HOME, config and log live there), switched to WAV files:
    /// it plays `play` as its microphone and records what it hears into `record`.
    pub fn start(dir: &Path, play: &Path, record: &Path, opts: LinphoneOpts) -> Self {
        let which = Command::new("sh")
            .args(["-c", "command -v linphonec"])
            .output()
            .unwrap();
        assert!(
            which.status.success(),
            "linphonec is not installed: apt-get install -y linphone-cli (listed in .ci/apt-packages.txt)"
        );
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        std::fs::create_dir_all(home.join(".config")).unwrap();
        let sip_port = free_port();
        let rtp_port = free_rtp_port();
        let rc = dir.join("linphonerc");
        std::fs::write(&rc, linphonerc(sip_port, rtp_port, opts)).unwrap();
        let log = dir.join("linphonec.log");
        let mut cmd = Command::new("linphonec");
        cmd.arg("-c").arg(&rc).args(["-d", "6", "-l"]).arg(&log);
        if opts.auto_answer {
            cmd.arg("-a");
        }
        if opts.video {
            cmd.arg("-V");
        }
        let mut child = cmd
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting linphonec");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lp = Self {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
            sip_port,
            rtp_port,
            log,
        };
        lp.send("soundcard use files");
        lp.wait_for("Using wav files", Duration::from_secs(10));
        lp.send(&format!("play {}", play.display()));
        lp.send(&format!("record {}", record.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !udp_port_taken(sip_port) {
            assert!(
                Instant::now() < deadline,
                "linphonec does not listen on 127.0.0.1:{sip_port}; log: {}",
                lp.log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        lp
    }

    /// Types a command.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for an output line containing `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "linphonec never printed {needle:?}; it printed:\n{}\nlog: {}",
                    self.seen.join("\n"),
                    self.log.display()
                ),
            }
        }
    }

    /// The SAS linphonec shows once the call is encrypted ("... auth token is XXXX.").
    pub fn wait_sas(&mut self, timeout: Duration) -> String {
        let line = self.wait_for("auth token is", timeout);
        let sas = line
            .rsplit("auth token is")
            .next()
            .unwrap()
            .trim()
            .trim_end_matches('.')
            .to_owned();
        assert!(!sas.is_empty(), "no SAS in {line:?}");
        sas
    }

    /// Quits and waits for it to exit (killing it after 5 s).
    pub fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `sotto` binary under test.
pub fn sotto() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sotto"))
}

/// `sotto --ephemeral call URI` with stdin closed; the caller adds the rest.
pub fn sotto_call(uri: &str) -> Command {
    let mut c = sotto();
    c.args(["--ephemeral", "call", uri]).stdin(Stdio::null());
    c
}

/// `sotto` with its data in `dir` (a private data and config directory), as a shell command.
pub fn sotto_in(dir: &Path, args: &str) -> String {
    format!(
        "env SOTTO_DATA_DIR={d}/data SOTTO_CONFIG_DIR={d}/conf {} {args}",
        env!("CARGO_BIN_EXE_sotto"),
        d = dir.display()
    )
}

/// A SAS as the call screen shows it: large spaced capitals, "A   B   C   D".
pub fn big_sas(sas: &str) -> String {
    sas.to_uppercase()
        .chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("   ")
}

/// A running `sotto --ephemeral listen --auto-answer --auto-confirm` that said "ready".
pub struct Listener {
    /// The process.
    pub child: Child,
    /// Its stdout, past the "ready" line.
    pub out: BufReader<ChildStdout>,
}

impl Listener {
    /// Starts it on 127.0.0.1:`sip_port`; `configure` adds arguments and stdio (stdin is null
    /// and stdout piped unless it says otherwise). Waits for its "ready" line.
    pub fn start(sip_port: u16, configure: impl FnOnce(&mut Command)) -> Self {
        let mut cmd = sotto();
        cmd.args(["--ephemeral", "listen", "--auto-answer", "--auto-confirm"])
            .args(["--sip", &format!("127.0.0.1:{sip_port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        configure(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(first.contains("\"ready\""), "{first}");
        Self { child, out }
    }

    /// Reads the rest of its stdout, waits for it to exit and reads its stderr (if piped):
    /// its exit status, its events after "ready", and what it wrote on stderr.
    pub fn finish(mut self) -> (ExitStatus, Vec<serde_json::Value>, String) {
        let mut rest = Vec::new();
        self.out.read_to_end(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).unwrap();
        }
        (status, events(&rest), err)
    }
}

/// A detached tmux session running one command in a terminal of `cols` x 32; killed on drop.
pub struct Tmux {
    session: String,
}

impl Tmux {
    /// Starts `command` in a new session called `session`.
    pub fn start(session: &str, cols: u16, command: &str) -> Self {
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", session, "-x", &cols.to_string()])
            .args(["-y", "32", command])
            .status()
            .expect("tmux is needed for this test (apt-get install tmux)");
        assert!(st.success(), "tmux new-session failed");
        Self {
            session: session.to_owned(),
        }
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Presses keys (tmux key names such as `Enter` allowed).
    pub fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.session, keys])
            .status()
            .unwrap();
    }

    /// Types `text` as is (no key names).
    pub fn literal(&self, text: &str) {
        Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .unwrap();
    }

    /// Types `text` as is and presses Enter.
    pub fn type_line(&self, text: &str) {
        self.literal(text);
        self.keys("Enter");
    }

    /// Waits until the screen shows `text` and returns the screen.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let t = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                t.elapsed() < timeout,
                "the screen never showed {text:?}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}
