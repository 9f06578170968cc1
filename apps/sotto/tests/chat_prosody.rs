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
//! `sotto chat` end to end: sotto (headless) against an independent OTR peer — Debian's libotr
//! 4.1 (sotto-otr's harness `crates/sotto-otr/tests/c/libotr_peer.c`) behind Debian's slixmpp
//! (`tests/peers/xmpp_otr_bridge.py`) — through a private Prosody on 127.0.0.1 (no archive, no
//! offline storage), over STARTTLS with the test's own CA.
//!
//! One conversation story, three sotto runs on the same data directory:
//! 1. the peer starts OTR (AKE peer -> sotto); long (fragmented) and non-ASCII messages both
//!    ways; SMP with a wrong secret (both fail); SMP with a question from the peer and the right
//!    secret (both succeed, sotto shows `private`); sotto ends the session (`finished` at the
//!    peer);
//! 2. sotto restarts and starts OTR (AKE sotto -> peer): the peer's key is known and still
//!    verified (`private` at once); SMP with a question from sotto; the peer ends the session
//!    (`finished` at sotto, which then refuses to send);
//! 3. the peer comes back with a new key: a `fingerprint_changed` warning and `unverified`
//!    (this run logs in with `--direct-tls`).
//!
//! In between, the peer's XMPP client offers a file: sotto refuses it and says so.
//! Afterwards neither sotto's data directory nor Prosody's holds any message text or secret.
//!
//! Run with `cargo test -p sotto --test chat_prosody -- --ignored` (needs prosody,
//! libotr5-dev, pkg-config, python3-slixmpp).

#[path = "../../../crates/sotto-otr/tests/support/libotr_build.rs"]
mod libotr_build;
#[path = "../../../crates/sotto-xmpp/tests/support/prosody.rs"]
mod prosody;
mod support;

use libotr_build::libotr_peer;
use support::Tmux;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn check_slixmpp() {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import slixmpp"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Debian's slixmpp is missing: apt-get install python3-slixmpp"
    );
}

/// Lines of a child's stdout, read on a thread (and echoed to the test's captured output, shown
/// when the test fails).
fn line_reader(who: &'static str, out: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(l) = line else { break };
            let short: String = l.chars().take(160).collect();
            eprintln!("{who}: {short}");
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// A child process driven by lines: typed lines in; its stdout lines, parsed, kept in order.
struct Proc<T> {
    who: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<String>,
    parse: fn(&str) -> T,
    seen: Vec<T>,
    next: usize,
}

impl<T: Clone + std::fmt::Debug> Proc<T> {
    /// Spawns `cmd` with piped stdin/stdout (stderr inherited).
    fn start(who: &'static str, cmd: &mut Command, parse: fn(&str) -> T) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let rx = line_reader(who, child.stdout.take().unwrap());
        Self {
            who,
            child,
            stdin,
            rx,
            parse,
            seen: Vec::new(),
            next: 0,
        }
    }

    fn cmd(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line (after the ones already consumed) that matches.
    fn wait(&mut self, what: &str, pred: impl Fn(&T) -> bool) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            while self.next < self.seen.len() {
                let v = &self.seen[self.next];
                self.next += 1;
                if pred(v) {
                    return v.clone();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    let v = (self.parse)(&l);
                    self.seen.push(v);
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no {what} within {WAIT:?}; seen: {:#?}",
                        self.who, self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{} exited before {what}; seen: {:#?}", self.who, self.seen)
                }
            }
        }
    }

    /// Takes in the lines already printed, without waiting.
    fn drain(&mut self) {
        while let Ok(l) = self.rx.try_recv() {
            let v = (self.parse)(&l);
            self.seen.push(v);
        }
    }

    /// End of input: waits for the process to exit and takes in its last lines.
    fn exit(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.drain();
                return st;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.who);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl<T> Drop for Proc<T> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sotto process: JSON events out, typed lines in.
type Sotto = Proc<Value>;

fn parse_event(l: &str) -> Value {
    serde_json::from_str(l).unwrap_or_else(|e| panic!("sotto printed a non-JSON line {l:?}: {e}"))
}

impl Proc<Value> {
    fn spawn(srv: &Server, data: &Path, account: &str, contact: &str) -> Self {
        Self::spawn_with(srv, data, account, contact, &[])
    }

    fn spawn_with(srv: &Server, data: &Path, account: &str, contact: &str, extra: &[&str]) -> Self {
        let pwfile = data.with_extension("pw");
        std::fs::write(&pwfile, format!("{}\n", srv.password(account))).unwrap();
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sotto"));
        cmd.arg("--data-dir")
            .arg(data)
            .args(["chat", "--headless", "--account", account])
            .arg("--password-file")
            .arg(&pwfile);
        if !extra.contains(&"--server") {
            cmd.args(["--server", &format!("127.0.0.1:{}", srv.port)]);
        }
        cmd.arg("--ca")
            .arg(&srv.ca)
            .args(["--otr-fragment-size", "300"])
            .args(extra)
            .arg(contact)
            .env_remove("SOTTO_XMPP_PASSWORD");
        let mut s = Self::start("sotto", &mut cmd, parse_event);
        s.wait("connected", |v| v["event"] == "connected");
        s
    }

    fn wait_state(&mut self, state: &str) -> Value {
        self.wait(&format!("state {state}"), |v| {
            v["event"] == "state" && v["state"] == state
        })
    }

    fn all(&self, event: &str) -> Vec<&Value> {
        self.seen.iter().filter(|v| v["event"] == event).collect()
    }

    /// End of input: sotto ends the conversation, logs out and exits 0.
    fn finish(mut self) -> Vec<Value> {
        let st = self.exit();
        assert!(st.success(), "sotto exited with {st}: {:#?}", self.seen);
        std::mem::take(&mut self.seen)
    }
}

/// The independent peer: libotr behind slixmpp (its stdout lines as they are).
struct Peer {
    io: Proc<String>,
    fingerprint: String,
}

impl std::ops::Deref for Peer {
    type Target = Proc<String>;
    fn deref(&self) -> &Proc<String> {
        &self.io
    }
}

impl std::ops::DerefMut for Peer {
    fn deref_mut(&mut self) -> &mut Proc<String> {
        &mut self.io
    }
}

fn hex_of(s: &str) -> String {
    s.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(h: &str) -> String {
    let bytes: Vec<u8> = (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

impl Peer {
    fn spawn(srv: &Server, workdir: &Path, account: &str, contact: &str) -> Self {
        std::fs::create_dir_all(workdir).unwrap();
        let bridge = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/xmpp_otr_bridge.py"
        );
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(bridge)
            .args([account, &srv.password(account), "127.0.0.1"])
            .arg(srv.port.to_string())
            .arg(&srv.ca)
            .args([contact, "--"])
            .arg(libotr_peer())
            .arg(workdir)
            .args(["300", "keep,insecure", account, contact]);
        let mut io = Proc::start("libotr peer", &mut cmd, str::to_owned);
        let fp = io.wait("fingerprint", |l| l.starts_with("fp "));
        io.wait("login", |l| l == "xmpp online");
        Self {
            io,
            fingerprint: fp[3..].to_owned(),
        }
    }

    /// The next message libotr showed its user: (text, came encrypted).
    fn wait_msg(&mut self) -> (String, bool) {
        let l = self.wait("message", |l| l.starts_with("msg "));
        let (enc, h) = l[4..].split_once(' ').unwrap_or((&l[4..], ""));
        (unhex(h), enc == "1")
    }

    fn count(&mut self, pred: impl Fn(&str) -> bool) -> usize {
        self.drain();
        self.seen.iter().filter(|l| pred(l)).count()
    }

    fn finish(mut self) -> Vec<String> {
        self.exit();
        std::mem::take(&mut self.seen)
    }
}

/// The private Prosody, seen through what these tests need.
struct Server {
    port: u16,
    direct_tls_port: u16,
    ca: PathBuf,
    /// Prosody's whole private directory: data, logs, config.
    dir: PathBuf,
    accounts: Vec<(String, String)>,
    _prosody: prosody::Prosody,
}

impl Server {
    fn password(&self, jid: &str) -> String {
        self.accounts
            .iter()
            .find(|(j, _)| j == jid)
            .map(|(_, p)| p.clone())
            .unwrap()
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(b) = std::fs::read(&p)
            && b.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(p);
        }
    }
    hits
}

#[test]
#[ignore = "interop: needs prosody, libotr5-dev and python3-slixmpp (run by .ci/run)"]
fn chat_with_libotr_over_prosody() {
    check_slixmpp();
    let _ = libotr_peer();
    let srv = start_server();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("sotto-data");
    let peer_dir = tmp.path().join("libotr");
    let (me, them) = (srv.accounts[0].0.clone(), srv.accounts[1].0.clone());
    // Unique texts, to grep for on disk afterwards.
    let hello = "Grüße aus Köln — ünïcödé ✓ marker-1f3a";
    let long_out = format!("long-out-7c2e {}", "ça va? ".repeat(300));
    let long_in = format!("long-in-92bd {}", "żółw ".repeat(400));
    let reply = "Ответ: да, marker-44d0";
    let (wrong_a, wrong_b) = ("apples-5e1c", "oranges-0b7a");
    let (question, answer) = ("Where did we first meet?", "the old harbour 3d9e");
    let (question2, answer2) = ("Name of the boat?", "Aurora-6f21");
    let after_end = "said after the end marker-8e8e";

    // ---- Run 1: the peer starts OTR.
    let t = Instant::now();
    let mut sotto = Sotto::spawn(&srv, &data, &me, &them);
    let login_new_key = t.elapsed();
    sotto.wait_state("not private");
    let mut peer = Peer::spawn(&srv, &peer_dir, &them, &me);
    let peer_fp = peer.fingerprint.clone();
    sotto.cmd("/fingerprint");
    let fpv = sotto.wait("fingerprint", |v| v["event"] == "fingerprint");
    let our_fp = fpv["ours"].as_str().unwrap().to_owned();
    assert_eq!(sotto.seen[0]["fingerprint"], our_fp.as_str());
    assert!(fpv["theirs"].is_null());
    peer.cmd("query");
    let st = sotto.wait_state("unverified");
    assert_eq!(
        st["fingerprint"],
        peer_fp.as_str(),
        "sotto sees libotr's key"
    );
    let secure = peer.wait("secure", |l| l.starts_with("secure "));
    assert_eq!(
        secure,
        format!("secure 3 {}", our_fp.replace(' ', "").to_lowercase()),
        "libotr sees sotto's key, protocol 3"
    );
    assert!(sotto.all("fingerprint_changed").is_empty());

    // Messages both ways, short non-ASCII and long (fragmented).
    sotto.cmd(hello);
    assert_eq!(peer.wait_msg(), (hello.to_owned(), true));
    let t = Instant::now();
    sotto.cmd(&long_out);
    assert_eq!(peer.wait_msg(), (long_out.clone(), true));
    let long_msg = t.elapsed();
    peer.cmd(&format!("send {}", hex_of(reply)));
    let m = sotto.wait("message in", |v| {
        v["event"] == "message" && v["direction"] == "in"
    });
    assert_eq!(
        (m["text"].as_str().unwrap(), m["encrypted"].as_bool()),
        (reply, Some(true))
    );
    peer.cmd(&format!("send {}", hex_of(&long_in)));
    let m = sotto.wait("long message in", |v| {
        v["event"] == "message" && v["direction"] == "in"
    });
    assert_eq!(m["text"].as_str().unwrap(), long_in);
    let frag_in = peer.count(|l| l == "xmpp in fragment hints");
    assert!(
        frag_in >= 7,
        "sotto's long message must arrive in fragments, with no-store/no-copy hints: {:#?}",
        peer.seen
    );
    assert!(
        peer.count(|l| l == "xmpp out fragment") >= 7,
        "libotr's long message must leave in fragments"
    );

    // SMP, wrong secret (sotto asks, no question): both fail.
    sotto.cmd(&format!("/verify secret {wrong_a}"));
    assert_eq!(
        peer.wait("smp ask", |l| l.starts_with("smp ask")),
        "smp ask"
    );
    peer.cmd(&format!("smp_respond {}", hex_of(wrong_b)));
    sotto.wait("smp failed", |v| {
        v["event"] == "smp" && v["result"] == "failed"
    });
    assert_eq!(
        peer.wait("smp result", |l| l.starts_with("smp ")),
        "smp failure"
    );
    assert!(sotto.all("state").iter().all(|v| v["state"] != "private"));

    // SMP with a question from the peer, right secret: both succeed, sotto turns private.
    peer.cmd(&format!("smp {} {}", hex_of(answer), hex_of(question)));
    let ask = sotto.wait("smp asked", |v| {
        v["event"] == "smp" && v["result"] == "asked"
    });
    assert_eq!(ask["question"], question);
    sotto.cmd(&format!("/verify secret {answer}"));
    sotto.wait("smp succeeded", |v| {
        v["event"] == "smp" && v["result"] == "succeeded"
    });
    assert_eq!(
        peer.wait("smp result", |l| l.starts_with("smp ")),
        "smp success"
    );
    let st = sotto.wait_state("private");
    assert_eq!(st["fingerprint"], peer_fp.as_str());

    // A file offer (XEP-0066) from the peer's XMPP client is refused and shown.
    peer.cmd("xmpp offer-file");
    assert_eq!(
        peer.wait("offer answer", |l| l.starts_with("xmpp offer")),
        "xmpp offer refused not-acceptable"
    );
    let refused = sotto.wait("file_refused", |v| v["event"] == "file_refused");
    assert!(
        refused["from"].as_str().unwrap().starts_with(&them),
        "{refused}"
    );

    // sotto ends the session: libotr is "finished" (msgstate 2).
    sotto.cmd("/otr end");
    sotto.wait_state("not private");
    peer.wait("finished", |l| l == "state 2");
    peer.cmd("end");
    let events = sotto.finish();
    assert!(
        !events.iter().any(|v| v["event"] == "error"),
        "no errors in run 1: {events:#?}"
    );

    // ---- Run 2: sotto restarts and starts OTR; the key is known and still verified.
    let t = Instant::now();
    let mut sotto = Sotto::spawn(&srv, &data, &me, &them);
    let login_stored_key = t.elapsed();
    let t = Instant::now();
    sotto.cmd("/otr start");
    let st = sotto.wait_state("private");
    let ake = t.elapsed();
    assert_eq!(st["fingerprint"], peer_fp.as_str());
    assert!(
        sotto
            .all("state")
            .iter()
            .all(|v| v["state"] != "unverified"),
        "a known verified key is private at once: {:#?}",
        sotto.seen
    );
    assert!(sotto.all("fingerprint_changed").is_empty());
    assert!(
        sotto.all("notice").iter().all(|v| !v["text"]
            .as_str()
            .unwrap()
            .contains("first private conversation")),
        "the fingerprint must be known on the second run"
    );
    peer.wait("secure", |l| l.starts_with("secure 3 "));
    // SMP with a question from sotto.
    let t = Instant::now();
    sotto.cmd(&format!("/verify question \"{question2}\" {answer2}"));
    let ask = peer.wait("smp ask", |l| l.starts_with("smp ask"));
    assert_eq!(ask, format!("smp ask {}", hex_of(question2)));
    peer.cmd(&format!("smp_respond {}", hex_of(answer2)));
    sotto.wait("smp succeeded", |v| {
        v["event"] == "smp" && v["result"] == "succeeded"
    });
    assert_eq!(
        peer.wait("smp result", |l| l.starts_with("smp ")),
        "smp success"
    );
    let smp = t.elapsed();
    eprintln!(
        "timing: login with a new OTR key {login_new_key:?} (key generation included), with the \
         stored key {login_stored_key:?}; AKE sotto->libotr via Prosody {ake:?}; SMP with a \
         question {smp:?}; 2.1 kB message in fragments sotto->libotr {long_msg:?}"
    );
    // The peer ends the session: sotto shows "finished" and sends nothing more.
    peer.cmd("end");
    sotto.wait_state("finished");
    sotto.cmd(after_end);
    let err = sotto.wait("refusal", |v| v["event"] == "error");
    assert!(
        err["detail"].as_str().unwrap().contains("not sent"),
        "{err}"
    );
    let before = peer.seen.len();
    sotto.cmd("/otr end");
    sotto.wait_state("not private");
    sotto.finish();
    std::thread::sleep(Duration::from_millis(300));
    peer.drain();
    assert!(
        !peer.seen[before..].iter().any(|l| l.starts_with("msg ")),
        "nothing may reach the peer after the end: {:#?}",
        &peer.seen[before..]
    );
    let peer_lines = peer.finish();
    assert!(
        !peer_lines.iter().any(|l| l.starts_with("xmpp in plain")),
        "sotto never sent plaintext: {peer_lines:#?}"
    );

    // ---- Run 3: the peer comes back with a new key: loud warning, not verified.
    let mut peer = Peer::spawn(&srv, &tmp.path().join("libotr-new-key"), &them, &me);
    assert_ne!(peer.fingerprint, peer_fp);
    let new_fp = peer.fingerprint.clone();
    // (This run logs in with direct TLS on Prosody's XEP-0368 port instead of STARTTLS.)
    let direct = format!("127.0.0.1:{}", srv.direct_tls_port);
    let mut sotto = Sotto::spawn_with(
        &srv,
        &data,
        &me,
        &them,
        &["--direct-tls", "--server", &direct],
    );
    peer.cmd("query");
    let changed = sotto.wait("fingerprint_changed", |v| {
        v["event"] == "fingerprint_changed"
    });
    assert_eq!(changed["old"], peer_fp.as_str());
    assert_eq!(changed["new"], new_fp.as_str());
    let st = sotto.wait_state("unverified");
    assert_eq!(st["fingerprint"], new_fp.as_str());
    assert!(sotto.all("state").iter().all(|v| v["state"] != "private"));
    peer.wait("secure", |l| l.starts_with("secure 3 "));
    sotto.finish();
    drop(peer);

    // ---- No plaintext on disk: sotto's data directory and Prosody's (data, logs, config).
    assert!(data.join("sotto.db").exists());
    for text in [
        hello,
        &long_out[..14],
        &long_in[..12],
        reply,
        wrong_a,
        wrong_b,
        answer,
        answer2,
        question,
        after_end,
        "marker-",
        "ça va? ça va?",
        "żółw żółw",
    ] {
        for dir in [&data, &srv.dir] {
            let hits = files_containing(dir, text.as_bytes());
            assert!(hits.is_empty(), "{text:?} found on disk in {hits:?}");
        }
    }
}

/// A private Prosody with two accounts: sotto's and the libotr peer's.
fn start_server() -> Server {
    let p = prosody::Prosody::start();
    let accounts = vec![
        (p.jid("alice"), "alice-pw-81c4".to_owned()),
        (p.jid("bob"), "bob-pw-2e95".to_owned()),
    ];
    for (jid, pw) in &accounts {
        p.register(jid.split('@').next().unwrap(), pw);
    }
    Server {
        port: p.c2s_port,
        direct_tls_port: p.direct_tls_port,
        ca: p.ca_path(),
        dir: p.dir().to_path_buf(),
        accounts,
        _prosody: p,
    }
}

// ---------------------------------------------------------------- the screen, in tmux

/// The conversation view as a person sees it, with `--ephemeral`: the band goes NOT PRIVATE ->
/// UNVERIFIED -> PRIVATE (SMP with the peer's question, answered on the screen) -> FINISHED,
/// messages show both ways, and nothing is written to the data directory.
#[test]
#[ignore = "interop: needs prosody, libotr5-dev, python3-slixmpp and tmux (run by .ci/run)"]
fn the_chat_screen_shows_the_otr_state() {
    check_slixmpp();
    let srv = start_server();
    let tmp = tempfile::tempdir().unwrap();
    let (me, them) = (srv.accounts[0].0.clone(), srv.accounts[1].0.clone());
    let mut peer = Peer::spawn(&srv, &tmp.path().join("libotr"), &them, &me);
    let data = tmp.path().join("never-created");
    let session = format!("sotto-chat-{}", srv.port);
    let command = format!(
        "SOTTO_XMPP_PASSWORD='{pw}' {bin} --ephemeral --data-dir {data} chat --account {me} \
         --server 127.0.0.1:{port} --ca {ca} {them}; sleep 5",
        pw = srv.password(&me),
        bin = env!("CARGO_BIN_EXE_sotto"),
        data = data.display(),
        port = srv.port,
        ca = srv.ca.display(),
    );
    let tmux = Tmux::start(&session, 120, &command);
    let s = tmux.wait_for("NOT PRIVATE", WAIT);
    assert!(s.contains("online as"), "{s}");
    peer.cmd("query");
    tmux.wait_for("UNVERIFIED", WAIT);
    peer.wait("secure", |l| l.starts_with("secure 3 "));
    tmux.type_line("typed on the screen ✓");
    assert_eq!(peer.wait_msg(), ("typed on the screen ✓".to_owned(), true));
    peer.cmd(&format!("send {}", hex_of("hello from libotr")));
    tmux.wait_for("hello from libotr", WAIT);
    peer.cmd(&format!(
        "smp {} {}",
        hex_of("blue cat"),
        hex_of("Colour of the cat?")
    ));
    tmux.wait_for("asks: \"Colour of the cat?\"", WAIT);
    tmux.type_line("/verify secret blue cat");
    let s = tmux.wait_for("PRIVATE", WAIT);
    assert!(!s.contains("UNVERIFIED"), "{s}");
    assert_eq!(
        peer.wait("smp result", |l| l.starts_with("smp ")),
        "smp success"
    );
    peer.cmd("end");
    tmux.wait_for("FINISHED", WAIT);
    tmux.type_line("after the end");
    tmux.wait_for("not sent", WAIT);
    tmux.keys("Escape");
    let t = Instant::now();
    while tmux.screen().contains("FINISHED") {
        assert!(t.elapsed() < WAIT, "Esc did not leave the screen");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(peer);
    assert!(
        !data.exists(),
        "--ephemeral must not create the data directory"
    );
    for text in ["typed on the screen", "hello from libotr", "blue cat"] {
        let hits = files_containing(&srv.dir, text.as_bytes());
        assert!(hits.is_empty(), "{text:?} found on disk in {hits:?}");
    }
}

// ---------------------------------------------------------------- through a SOCKS5 proxy

/// `--proxy socks5://user:pass@127.0.0.1:PORT` (Debian's microsocks, with authentication): the
/// whole conversation goes through the proxy; a proxy that is not there is an error, never a
/// silent direct connection.
#[test]
#[ignore = "interop: needs prosody, libotr5-dev, python3-slixmpp and microsocks (run by .ci/run)"]
fn chat_through_a_socks5_proxy() {
    check_slixmpp();
    let found = Command::new("sh")
        .args(["-c", "command -v microsocks"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "`microsocks` not found: apt-get install microsocks");
    let srv = start_server();
    let tmp = tempfile::tempdir().unwrap();
    let (me, them) = (srv.accounts[0].0.clone(), srv.accounts[1].0.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Command::new("microsocks")
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "iso",
            "-P",
            "lation-7d",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < WAIT, "microsocks did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut peer = Peer::spawn(&srv, &tmp.path().join("libotr"), &them, &me);
    let url = format!("socks5://iso:lation-7d@127.0.0.1:{port}");
    let mut sotto = Sotto::spawn_with(
        &srv,
        &tmp.path().join("data"),
        &me,
        &them,
        &["--proxy", &url],
    );
    // Established through the proxy: the only TCP connection sotto has is to the proxy port.
    let conns = Command::new("ss")
        .args(["-tnpH", "state", "established"])
        .output()
        .unwrap();
    let conns = String::from_utf8_lossy(&conns.stdout);
    let pid = format!("pid={},", sotto.child.id());
    let ours: Vec<&str> = conns.lines().filter(|l| l.contains(&pid)).collect();
    assert!(!ours.is_empty(), "no connection of sotto found: {conns}");
    for l in &ours {
        assert!(
            l.contains(&format!("127.0.0.1:{port} ")),
            "sotto has a connection that is not to the proxy: {l}"
        );
    }
    sotto.cmd("/otr start");
    sotto.wait_state("unverified");
    peer.wait("secure", |l| l.starts_with("secure 3 "));
    sotto.cmd("through the proxy ✓");
    assert_eq!(peer.wait_msg(), ("through the proxy ✓".to_owned(), true));
    sotto.finish();
    let _ = proxy.kill();
    let _ = proxy.wait();

    // No proxy there: a clear error, and no direct connection instead.
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, srv.password(&me)).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["--ephemeral", "chat", "--headless", "--account", &me])
        .arg("--password-file")
        .arg(&pw)
        .args(["--server", &format!("127.0.0.1:{}", srv.port)])
        .arg("--ca")
        .arg(&srv.ca)
        .args(["--proxy", &format!("socks5://127.0.0.1:{port}"), &them])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("proxy"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("connected"),
        "it must not connect without the proxy"
    );
}

// ---------------------------------------------------------------- refusals (no server needed)

fn sotto_chat(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sotto"));
    cmd.args(["--ephemeral", "chat"]).args(args);
    cmd.env_remove("SOTTO_XMPP_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_password_never_comes_from_the_command_line_or_a_readable_file() {
    let (code, err) = sotto_chat(&["--account", "a@example.org", "b@example.org"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no password") && err.contains("SOTTO_XMPP_PASSWORD"),
        "{err}"
    );
    let (code, err) = sotto_chat(
        &[
            "--account",
            "a@example.org",
            "--password",
            "x",
            "b@example.org",
        ],
        &[],
    );
    assert_eq!(code, 2, "there is no --password option: {err}");
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = sotto_chat(
        &[
            "--account",
            "a@example.org",
            "--password-file",
            pw.to_str().unwrap(),
            "b@example.org",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refusing") && err.contains("chmod 600"),
        "{err}"
    );
    let (code, err) = sotto_chat(
        &[
            "--account",
            "a@example.org",
            "--proxy",
            "http://127.0.0.1:1",
            "b@example.org",
        ],
        &[("SOTTO_XMPP_PASSWORD", "x")],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("socks5://"), "{err}");
}

#[test]
fn a_damaged_store_is_kept_aside_with_a_clear_error_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let garbage = b"not a database: maybe the user's only copy of their OTR key".to_vec();
    std::fs::write(data.join("sotto.db"), &garbage).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .arg("--data-dir")
        .arg(&data)
        .args([
            "chat",
            "--headless",
            "--account",
            "a@example.org",
            "b@example.org",
        ])
        // Nothing listens there: the store must be refused before any connection is tried.
        .args(["--server", "127.0.0.1:9"])
        .env("SOTTO_XMPP_PASSWORD", "x")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("kept, renamed"), "{err}");
    assert!(
        !err.contains("logging in"),
        "refused before connecting: {err}"
    );
    assert!(out.stdout.is_empty());
    let kept: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".unusable-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(kept[0].path()).unwrap(), garbage);
}
