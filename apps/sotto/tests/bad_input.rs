//! Bad input, through the `sotto` binary as a user meets it: an unknown host, an address where
//! nothing listens (told at once), a silent peer address, a port already in use, a damaged ZID cache (kept aside, never overwritten), a SIP phone
//! without ZRTP (the call is refused with the reason), and bad configuration files (file, line
//! and key named; nothing rewritten). Each asserts the exact message the user reads.
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

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{events, find};

/// A private config and data directory, so no user file can interfere.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sotto"));
        c.args(args)
            .env("SOTTO_DATA_DIR", self.data())
            .env("SOTTO_CONFIG_DIR", self.conf())
            .env("HOME", self.dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_unknown_peer_host_is_named_and_nothing_is_sent() {
    let env = Env::new();
    let o = env.run(&["call", "--headless", "sip:bob@no-such-host.invalid"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    // The user's words first, the resolver's after (its wording varies with the C library).
    assert!(
        err.starts_with(
            "sotto: error: cannot find the computer 'no-such-host.invalid' (check the address); \
             the lookup said: "
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // With a port, the name alone is shown.
    let o = env.run(&["call", "--headless", "sip:bob@no-such-host.invalid:5070"]);
    assert!(
        stderr(&o).starts_with(
            "sotto: error: cannot find the computer 'no-such-host.invalid' (check the address)"
        ),
        "{}",
        stderr(&o)
    );
    // It failed before any call was attempted.
    let ev = events(&o.stdout);
    assert!(ev.iter().all(|e| e["event"] != "calling"), "{ev:?}");
}

#[test]
fn an_address_where_nothing_listens_is_reported_at_once() {
    let env = Env::new();
    // A port nobody holds: the kernel answers the INVITE with an ICMP port unreachable.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let uri = format!("sip:bob@{closed}");
    let t = Instant::now();
    let o = env.run(&["call", "--headless", "--timeout", "20", &uri]);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(o.status.code(), Some(1));
    let reason = format!("nothing answers at {closed} (no SIP phone is listening there)");
    assert_eq!(stderr(&o), format!("sotto: error: {reason}\n"));
    let ev = events(&o.stdout);
    assert_eq!(find(&ev, "ended")["reason"], reason.as_str(), "{ev:?}");
    let s = find(&ev, "summary");
    assert_eq!(s["clear_rtp_sent"], 0, "{s}");
    assert_eq!(s["zrtp_sent"], 0, "{s}");
    // The port written out by the user, default 5060 left implicit, works the same.
    let port = closed.port();
    let o = env.run(&[
        "call",
        "--headless",
        "--timeout",
        "20",
        "--peer",
        &closed.to_string(),
        "sip:bob@example.invalid",
    ]);
    assert_eq!(
        stderr(&o),
        format!(
            "sotto: error: nothing answers at 127.0.0.1:{port} (no SIP phone is listening there)\n"
        )
    );
}

/// A bound socket that never answers sends no ICMP back: sotto cannot tell it from a slow phone
/// and waits for its --timeout.
#[test]
fn a_peer_address_where_nobody_answers_gives_up_in_time() {
    let env = Env::new();
    // A bound socket that never answers: the INVITE goes nowhere.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uri = format!("sip:bob@{}", silent.local_addr().unwrap());
    let t = Instant::now();
    let o = env.run(&["call", "--headless", "--timeout", "2", &uri]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "sotto: error: the call never became secure\n");
    let ev = events(&o.stdout);
    assert_eq!(
        find(&ev, "error")["detail"],
        "the call did not become secure in time"
    );
    let s = find(&ev, "summary");
    assert_eq!(s["clear_rtp_sent"], 0, "{s}");
    assert_eq!(s["srtp_sent"], 0, "{s}");
}

#[test]
fn a_port_in_use_is_reported_with_what_to_do() {
    let env = Env::new();
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap();
    let o = env.run(&["listen", "--headless", "--sip", &at.to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sotto: error: cannot listen for SIP on {at}: the port is already in use (another \
             sotto or phone?); choose another with --sip or in config.toml\n"
        )
    );
    let o = env.run(&["listen", "--headless", "--media", &at.to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sotto: error: cannot listen for media on {at}: the port is already in use (another \
             sotto or phone?); choose another with --media or in config.toml\n"
        )
    );
    // The same port taken from the configuration file, and a flag overriding it.
    std::fs::create_dir_all(env.conf()).unwrap();
    std::fs::write(
        env.conf().join("config.toml"),
        format!("[sip]\nlisten = \"{at}\"\n"),
    )
    .unwrap();
    let o = env.run(&["listen", "--headless"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "cannot listen for SIP on {at}: the port is already in use"
        )),
        "{}",
        stderr(&o)
    );
    let mut child = env
        .cmd(&["listen", "--headless", "--sip", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["event"], "ready", "{line}");
    assert_ne!(ready["sip"], at.to_string());
}

fn aside_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".unusable-"))
        .collect();
    v.sort();
    v
}

fn assert_kept_aside(env: &Env, bytes: &[u8], what: &str, command: &[&str]) -> PathBuf {
    let db = env.data().join("sotto.db");
    let before = aside_files(&env.data());
    let o = env.run(command);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let after = aside_files(&env.data());
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let aside = after.iter().find(|p| !before.contains(p)).unwrap().clone();
    assert_eq!(
        stderr(&o),
        format!(
            "sotto: error: sotto's store {} (ZID cache and OTR keys) {what} and cannot be used. It was kept, renamed to \
             {} (nothing was deleted or overwritten). The next run starts a new identity and an \
             empty cache: the people you call will see a key change and you should compare the \
             security code with them again.\n",
            db.display(),
            aside.display()
        )
    );
    assert!(!db.exists(), "the damaged file must not stay in place");
    assert_eq!(std::fs::read(&aside).unwrap(), bytes, "kept byte for byte");
    aside
}

#[test]
fn a_damaged_cache_is_kept_aside_and_never_overwritten() {
    let env = Env::new();
    let db = env.data().join("sotto.db");
    let o = env.run(&["id"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = String::from_utf8(o.stdout).unwrap();
    // Damage everything after SQLite's 100-byte header: schema and tables.
    let mut bytes = std::fs::read(&db).unwrap();
    for b in &mut bytes[100..] {
        *b = 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let aside = assert_kept_aside(&env, &bytes, "is damaged", &["contacts"]);

    // The next run starts afresh (a new identity) and leaves the kept file alone.
    let o = env.run(&["id"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let second = String::from_utf8(o.stdout).unwrap();
    assert_ne!(first, second);
    assert_eq!(std::fs::read(&aside).unwrap(), bytes);

    // Not a database at all (another program's file): the same, under another name.
    let garbage = b"this is not a database\n".to_vec();
    std::fs::write(&db, &garbage).unwrap();
    let aside2 = assert_kept_aside(
        &env,
        &garbage,
        "is not a sotto ZID cache",
        &["call", "--headless", "sip:bob@127.0.0.1:9"],
    );
    assert_ne!(aside, aside2);
    assert_eq!(std::fs::read(&aside).unwrap(), bytes);
}

/// A plain SIP phone without ZRTP on 127.0.0.1: answers an INVITE with PCMU and no
/// `a=zrtp-hash`, never speaks ZRTP, answers BYE. Returns what its media port received.
struct PlainPhone {
    sip: UdpSocket,
    media: UdpSocket,
}

struct PlainReport {
    invite_had_zrtp_hash: bool,
    got_ack: bool,
    got_bye: bool,
    zrtp_packets: usize,
    other_packets: usize,
}

fn header_lines<'a>(msg: &'a str, names: &[&str]) -> Vec<&'a str> {
    msg.lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("").trim();
            names.iter().any(|n| n.eq_ignore_ascii_case(name))
        })
        .collect()
}

fn respond(req: &str, status: &str, to_tag: bool, contact: &str, body: &str) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for l in header_lines(req, &["via", "v"]) {
        r.push_str(l);
        r.push_str("\r\n");
    }
    for l in header_lines(req, &["from", "f", "call-id", "i", "cseq"]) {
        r.push_str(l);
        r.push_str("\r\n");
    }
    for l in header_lines(req, &["to", "t"]) {
        r.push_str(l);
        if to_tag && !l.contains("tag=") {
            r.push_str(";tag=plain1");
        }
        r.push_str("\r\n");
    }
    r.push_str(contact);
    if body.is_empty() {
        r.push_str("Content-Length: 0\r\n\r\n");
    } else {
        r.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    r
}

impl PlainPhone {
    fn new() -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let media = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        media
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Self { sip, media }
    }

    fn serve(self, for_at_most: Duration) -> PlainReport {
        let sip_at = self.sip.local_addr().unwrap();
        let mport = self.media.local_addr().unwrap().port();
        let contact = format!("Contact: <sip:plain@{sip_at}>\r\n");
        let sdp = format!(
            "v=0\r\no=plain 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {mport} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        );
        let mut rep = PlainReport {
            invite_had_zrtp_hash: false,
            got_ack: false,
            got_bye: false,
            zrtp_packets: 0,
            other_packets: 0,
        };
        let end = Instant::now() + for_at_most;
        let mut buf = [0u8; 4096];
        while Instant::now() < end && !rep.got_bye {
            if let Ok((n, from)) = self.sip.recv_from(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.starts_with("INVITE ") {
                    rep.invite_had_zrtp_hash |= msg.contains("a=zrtp-hash:");
                    let ok = respond(&msg, "200 OK", true, &contact, &sdp);
                    self.sip.send_to(ok.as_bytes(), from).unwrap();
                } else if msg.starts_with("ACK ") {
                    rep.got_ack = true;
                } else if msg.starts_with("BYE ") {
                    rep.got_bye = true;
                    let ok = respond(&msg, "200 OK", false, "", "");
                    self.sip.send_to(ok.as_bytes(), from).unwrap();
                }
            }
            while let Ok((n, _)) = self.media.recv_from(&mut buf) {
                // RFC 6189 §5: ZRTP packets start 0x10 and carry the magic cookie "ZRTP".
                if n >= 12 && buf[0] == 0x10 && &buf[4..8] == b"ZRTP" {
                    rep.zrtp_packets += 1;
                } else {
                    rep.other_packets += 1;
                }
            }
        }
        rep
    }
}

#[test]
fn a_sip_phone_without_zrtp_is_refused_with_the_reason() {
    let env = Env::new();
    let phone = PlainPhone::new();
    let uri = format!("sip:plain@{}", phone.sip.local_addr().unwrap());
    let server = std::thread::spawn(move || phone.serve(Duration::from_secs(25)));
    let t = Instant::now();
    let o = env.run(&["call", "--headless", "--timeout", "20", &uri]);
    let took = t.elapsed();
    let rep = server.join().unwrap();
    let reason = "the other phone does not support ZRTP (or did not answer it); the call was not \
                  connected because it could not be encrypted";
    let ev = events(&o.stdout);
    assert_eq!(find(&ev, "ended")["reason"], reason, "{ev:?}");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "sotto: error: the call never became secure\n");
    assert!(ev.iter().all(|e| e["event"] != "secure"), "{ev:?}");
    eprintln!("a phone without ZRTP: refused after {took:?}");
    // Refused by the ZRTP timeout, not by our own 20 s limit.
    assert!(took < Duration::from_secs(15), "{took:?}");
    // sotto offered ZRTP, tried it, sent no media in the clear, and hung up.
    assert!(rep.invite_had_zrtp_hash);
    assert!(rep.got_ack && rep.got_bye);
    assert!(rep.zrtp_packets >= 3, "{}", rep.zrtp_packets);
    assert_eq!(
        rep.other_packets, 0,
        "clear RTP reached a phone without ZRTP"
    );
    let s = find(&ev, "summary");
    assert_eq!(s["clear_rtp_sent"], 0, "{s}");
    assert_eq!(s["srtp_sent"], 0, "{s}");
}

#[test]
fn a_bad_config_file_names_file_line_and_key_and_is_not_rewritten() {
    let env = Env::new();
    let path = env.conf().join("config.toml");
    std::fs::create_dir_all(env.conf()).unwrap();
    let text = "# mine\nallow_insecure = false\n\n[zrtp]\nkey_agreements = [\"X255\", \"DH1k\"]\n";
    std::fs::write(&path, text).unwrap();
    for args in [
        &["config", "show"][..],
        &["config", "init"],
        &["listen", "--headless"],
        &["call", "--headless", "sip:bob@127.0.0.1:9"],
    ] {
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let want = if args[1] == "init" {
            format!(
                "sotto: error: {} already exists; it was not changed (edit it, or move it away \
                 first)\n",
                path.display()
            )
        } else {
            format!(
                "sotto: error: bad config file {}, line 5, key `zrtp.key_agreements`: unknown or \
                 unsupported algorithm name: \"DH1k\"\n",
                path.display()
            )
        };
        assert_eq!(stderr(&o), want, "{args:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{args:?}");
    }
    // An unknown key.
    std::fs::write(&path, "[sip]\nlisten = \"127.0.0.1:0\"\nport = 5060\n").unwrap();
    let o = env.run(&["config", "show"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sotto: error: bad config file {}, line 3, key `sip.port`: unknown field `port`, \
             expected `listen`\n",
            path.display()
        )
    );
}

#[cfg(unix)]
#[test]
fn a_config_with_a_password_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    // `config init` makes the directory 0700 and the file 0600.
    let o = env.run(&["config", "init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = env.conf().join("config.toml");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.conf()), 0o700);
    assert_eq!(mode(&path), 0o600);
    let o = env.run(&["config", "path"]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("{}\n", path.display())
    );

    let text = "[account]\nregistrar = \"127.0.0.1:5060\"\naor = \"sip:ana@example.org\"\n\
                username = \"ana\"\npassword = \"hunter2\"\n";
    std::fs::write(&path, text).unwrap();
    let o = env.run(&["config", "show"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = String::from_utf8(o.stdout).unwrap();
    assert!(shown.contains("password = \"********\""), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = env.run(&["config", "show"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sotto: error: refusing to use {p}: it holds a SIP password but other users may read \
             it (mode 0640); make it private with `chmod 600 {p}`\n",
            p = path.display()
        )
    );
    assert!(!String::from_utf8(o.stdout).unwrap().contains("hunter2"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
