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
#![allow(
    clippy::disallowed_methods,
    reason = "the test picks the clock origin with Instant::now"
)]
//! Interop with libotr 4.1 (Debian `libotr5-dev`), protocol version 3: our C harness
//! `tests/c/libotr_peer.c` is compiled with `cc` at test time and driven over stdin/stdout.
//!
//! Run with `cargo test -p sotto-otr --test interop_libotr -- --ignored`.

use sotto_otr::{Config, Event, LongTermKey, OtrState, SmpOutcome};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

#[path = "support/libotr_build.rs"]
mod libotr_build;
mod support;
use libotr_build::libotr_peer as harness;
use support::{ForeignPeer, Harness, Sotto, exchange, max_sender_keyid, pump, rng};

fn key() -> Arc<LongTermKey> {
    static K: OnceLock<Arc<LongTermKey>> = OnceLock::new();
    K.get_or_init(|| Arc::new(LongTermKey::generate(&mut rng(77))))
        .clone()
}

fn hex_of(s: &str) -> String {
    hex::encode(s.as_bytes())
}
fn unhex(s: &str) -> String {
    String::from_utf8(hex::decode(s).unwrap()).unwrap()
}

struct Lib {
    h: Harness,
    net: Vec<String>,
    wire: Vec<String>,
    lines: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Lib {
    fn spawn_with(fragment_size: Option<usize>, flags: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let h = Harness::spawn(
            Command::new(harness())
                .arg(dir.path())
                .arg(fragment_size.unwrap_or(0).to_string())
                .arg(flags),
            "quit".to_owned(),
        );
        let mut l = Self {
            h,
            net: Vec::new(),
            wire: Vec::new(),
            lines: Vec::new(),
            _dir: dir,
        };
        l.read_until_ready();
        l
    }

    fn read_until_ready(&mut self) {
        loop {
            let line = self.h.read_line("libotr peer");
            let line = line.trim_end().to_owned();
            if line == "ready" {
                return;
            }
            if let Some(h) = line.strip_prefix("net ") {
                self.net.push(unhex(h));
            } else {
                self.lines.push(line);
            }
        }
    }

    fn cmd(&mut self, c: &str) {
        self.h.write_line(c);
        self.read_until_ready();
    }

    fn fingerprint_human(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix("fp ").map(str::to_owned))
            .unwrap()
    }

    fn take_messages(&mut self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        self.lines.retain(|l| match l.strip_prefix("msg ") {
            Some(rest) => {
                let (enc, h) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push((unhex(h), enc == "1"));
                false
            }
            None => true,
        });
        out
    }

    fn last(&self, prefix: &str) -> Option<String> {
        self.lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }
}

impl ForeignPeer for Lib {
    const NAME: &'static str = "libotr";
    const PAD: &'static str = " ";
    const LONG_REPEAT: usize = 25;

    fn spawn(fragment_size: Option<usize>) -> Self {
        Self::spawn_with(fragment_size, "")
    }
    fn query(&mut self) {
        self.cmd("query");
    }
    fn deliver(&mut self, msg: &str) {
        self.cmd(&format!("net {}", hex_of(msg)));
    }
    fn send(&mut self, text: &str) {
        self.cmd(&format!("send {}", hex_of(text)));
    }
    fn take_net(&mut self) -> Vec<String> {
        std::mem::take(&mut self.net)
    }
    fn record_wire(&mut self, msg: String) {
        self.wire.push(msg);
    }
    fn take_messages(&mut self) -> Vec<(String, bool)> {
        Lib::take_messages(self)
    }
    fn log(&self) -> String {
        format!("{:?}", self.lines)
    }
}

fn connect(sotto_starts: bool, fragment: Option<usize>, seed: u64) -> (Sotto, Lib) {
    let (me, lib) = support::connect::<Lib>(sotto_starts, fragment, key(), seed);
    assert_eq!(me.s.version(), Some(3));
    let secure = lib.last("secure ").expect("libotr did not go secure");
    let (version, their_fp) = secure.split_once(' ').unwrap();
    assert_eq!(version, "3");
    assert_eq!(their_fp, hex::encode(key().fingerprint().0));
    assert_eq!(
        me.s.their_fingerprint().unwrap().to_human(),
        lib.fingerprint_human()
    );
    assert_eq!(lib.last("state ").as_deref(), Some("1"));
    (me, lib)
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_sotto_starts_v3_messages_and_rotation() {
    let (mut me, mut lib) = connect(true, None, 1);
    exchange(&mut me, &mut lib, 40, false);
    assert!(
        max_sender_keyid(&me.wire, 3) >= 25,
        "sotto key ids did not advance"
    );
    assert!(
        max_sender_keyid(&lib.wire, 3) >= 25,
        "libotr key ids did not advance"
    );
    // sotto ends the conversation: libotr goes to "finished" (msgstate 2).
    me.s.end(&mut me.rng).unwrap();
    pump(&mut me, &mut lib);
    lib.cmd("noop");
    assert_eq!(lib.last("state ").as_deref(), Some("2"));
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_starts_and_ends() {
    let (mut me, mut lib) = connect(false, None, 2);
    exchange(&mut me, &mut lib, 6, false);
    lib.cmd("end");
    pump(&mut me, &mut lib);
    assert_eq!(me.s.state(), OtrState::Finished);
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_fragments_v3() {
    let (mut me, mut lib) = connect(true, Some(150), 3);
    exchange(&mut me, &mut lib, 4, true);
    for w in [&me.wire, &lib.wire] {
        let frags: Vec<_> = w.iter().filter(|m| m.starts_with("?OTR|")).collect();
        assert!(frags.len() > 20, "too few v3 fragments: {}", frags.len());
        assert!(frags.iter().all(|f| f.len() <= 150));
    }
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_smp() {
    let (mut me, mut lib) = connect(true, None, 4);
    // sotto asks, no question, right secret.
    me.s.start_smp(None, b"the blue door", &mut me.rng).unwrap();
    pump(&mut me, &mut lib);
    assert_eq!(lib.last("smp ").as_deref(), Some("ask"));
    lib.cmd(&format!("smp_respond {}", hex_of("the blue door")));
    pump(&mut me, &mut lib);
    assert_eq!(me.smp(), Some(SmpOutcome::Succeeded));
    assert_eq!(lib.last("smp ").as_deref(), Some("success"));
    assert_eq!(me.s.state(), OtrState::Private);

    // libotr asks with a question; sotto answers wrong, then right.
    for (answer, ok) in [("Paris", false), ("Berlin", true)] {
        me.events.clear();
        lib.lines.clear();
        lib.cmd(&format!(
            "smp {} {}",
            hex_of("Berlin"),
            hex_of("Where did we meet?")
        ));
        pump(&mut me, &mut lib);
        let q = support::smp_question(&me.events);
        assert_eq!(q, Some(Some("Where did we meet?".to_owned())));
        me.s.respond_smp(answer.as_bytes(), &mut me.rng).unwrap();
        pump(&mut me, &mut lib);
        let want = support::smp_outcome(ok);
        assert_eq!(me.smp(), Some(want));
        assert_eq!(
            lib.last("smp ").as_deref(),
            Some(if ok { "success" } else { "failure" })
        );
    }

    // sotto asks with a question, libotr answers wrong.
    me.events.clear();
    lib.lines.clear();
    me.s.start_smp(Some("Colour of the door?"), b"blue", &mut me.rng)
        .unwrap();
    pump(&mut me, &mut lib);
    assert_eq!(
        lib.last("smp ask ").map(|h| unhex(&h)).as_deref(),
        Some("Colour of the door?")
    );
    lib.cmd(&format!("smp_respond {}", hex_of("red")));
    pump(&mut me, &mut lib);
    assert_eq!(me.smp(), Some(SmpOutcome::Failed));
    assert_eq!(lib.last("smp ").as_deref(), Some("failure"));
    exchange(&mut me, &mut lib, 2, false);
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_extra_symmetric_key() {
    let (mut me, mut lib) = connect(true, None, 5);
    exchange(&mut me, &mut lib, 3, false);
    // sotto announces a use; libotr derives the same key.
    let k =
        me.s.use_extra_symmetric_key(7, b"file.txt", &mut me.rng)
            .unwrap();
    pump(&mut me, &mut lib);
    let got = lib.last("symkey ").expect("libotr saw no symkey");
    assert_eq!(
        got,
        format!("7 {} {}", hex_of("file.txt"), hex::encode(k.expose()))
    );
    // libotr announces one; sotto derives the same key.
    lib.cmd(&format!("symkey 9 {}", hex_of("voice")));
    let sent = lib.last("symkey_sent ").unwrap();
    pump(&mut me, &mut lib);
    let ours = me.events.iter().find_map(|e| match e {
        Event::ExtraSymmetricKey {
            key,
            use_id,
            use_data,
        } => Some(format!(
            "{use_id} {}|{}",
            hex::encode(key.expose()),
            hex::encode(use_data)
        )),
        _ => None,
    });
    let (use_id, key_hex) = sent.split_once(' ').unwrap();
    assert_eq!(
        ours,
        Some(format!("{use_id} {key_hex}|{}", hex_of("voice")))
    );
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_v2_only_with_fragments() {
    let cfg = Config {
        max_fragment_size: Some(150),
        ..Config::default()
    };
    let mut me = Sotto::new(cfg, key(), 6);
    let mut lib = Lib::spawn_with(Some(150), "v2only");
    me.s.start();
    pump(&mut me, &mut lib);
    assert_eq!(me.s.version(), Some(2));
    assert!(lib.last("secure ").unwrap().starts_with("2 "));
    exchange(&mut me, &mut lib, 3, true);
    for w in [&me.wire, &lib.wire] {
        assert!(w.iter().filter(|m| m.starts_with("?OTR,")).count() > 10);
        assert!(!w.iter().any(|m| m.starts_with("?OTR|")));
    }
}

#[test]
#[ignore = "needs libotr5-dev and cc"]
fn libotr_whitespace_tags_start_ake_both_ways() {
    let now = Instant::now();
    // libotr tags its first plaintext message; sotto starts the AKE.
    let mut me = Sotto::new(Config::default(), key(), 7);
    let mut lib = Lib::spawn_with(None, "tag");
    lib.cmd(&format!("send {}", hex_of("hello in the clear")));
    pump(&mut me, &mut lib);
    assert_eq!(
        me.take_messages(),
        vec![("hello in the clear".to_owned(), false)]
    );
    assert_eq!(me.s.state(), OtrState::Unverified);
    assert_eq!(lib.last("state ").as_deref(), Some("1"));
    // sotto tags; libotr starts the AKE.
    let cfg = Config {
        send_whitespace_tag: true,
        ..Config::default()
    };
    let mut me = Sotto::new(cfg, key(), 8);
    let mut lib = Lib::spawn(None);
    me.s.send(now, "hi, tagged", &mut me.rng).unwrap();
    pump(&mut me, &mut lib);
    assert_eq!(lib.take_messages(), vec![("hi, tagged".to_owned(), false)]);
    assert_eq!(me.s.state(), OtrState::Unverified);
    assert_eq!(me.s.version(), Some(3));
    exchange(&mut me, &mut lib, 2, false);
}
