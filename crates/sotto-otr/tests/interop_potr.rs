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
//! Interop with an independent OTR implementation: python-potr (OTR v2), driven through
//! `tests/py/potr_peer.py` over stdin/stdout, one JSON line per network message or command.
//!
//! Needs `python3` with the PyPI packages `python-potr` (installed with `--no-deps`, its
//! `pycrypto` dependency no longer builds) and `pycryptodome`. Run with
//! `cargo test -p sotto-otr --test interop_potr -- --ignored`.

use serde_json::{Value, json};
use sotto_otr::{LongTermKey, OtrState, SmpOutcome};
use std::process::Command;
use std::sync::{Arc, OnceLock};

mod support;
use support::{ForeignPeer, Harness, Sotto, exchange, max_sender_keyid, pump, rng};

fn key() -> Arc<LongTermKey> {
    static K: OnceLock<Arc<LongTermKey>> = OnceLock::new();
    K.get_or_init(|| Arc::new(LongTermKey::generate(&mut rng(99))))
        .clone()
}

struct Py {
    h: Harness,
    net: Vec<String>,
    wire: Vec<String>,
    events: Vec<Value>,
    fingerprint: String,
}

impl Py {
    fn spawn(fragment_size: Option<usize>) -> Self {
        let python = std::env::var("SOTTO_PYTHON").unwrap_or_else(|_| "python3".into());
        let check = Command::new(&python)
            .args(["-c", "import potr, Crypto.PublicKey.DSA"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
        assert!(
            check.status.success(),
            "python-potr is missing: `pip install pycryptodome && pip install --no-deps python-potr` ({})",
            String::from_utf8_lossy(&check.stderr)
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/potr_peer.py");
        let mut cmd = Command::new(&python);
        cmd.arg(script);
        if let Some(f) = fragment_size {
            cmd.args(["--fragment-size", &f.to_string()]);
        }
        let h = Harness::spawn(&mut cmd, json!({"cmd": "quit"}).to_string());
        let mut py = Self {
            h,
            net: Vec::new(),
            wire: Vec::new(),
            events: Vec::new(),
            fingerprint: String::new(),
        };
        py.read_until_ready();
        py.fingerprint = py
            .events
            .iter()
            .find_map(|e| {
                (e["event"] == "fingerprint").then(|| e["ours"].as_str().unwrap().to_owned())
            })
            .unwrap();
        py
    }

    fn read_until_ready(&mut self) {
        loop {
            let line = self.h.read_line("python peer");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("ready").is_some() {
                return;
            }
            if let Some(t) = v.get("net") {
                self.net.push(t.as_str().unwrap().to_owned());
            } else {
                if v["event"] == "exception" {
                    panic!("python peer raised: {v}");
                }
                self.events.push(v);
            }
        }
    }

    fn cmd(&mut self, v: Value) {
        self.h.write_line(&v.to_string());
        self.read_until_ready();
    }

    fn take_messages(&mut self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        self.events.retain(|e| {
            if e["event"] == "message" {
                out.push((
                    e["text"].as_str().unwrap().to_owned(),
                    e["encrypted"].as_bool().unwrap(),
                ));
                false
            } else {
                true
            }
        });
        out
    }

    fn state(&self) -> Option<String> {
        self.events
            .iter()
            .rev()
            .find_map(|e| (e["event"] == "state").then(|| e["state"].as_str().unwrap().to_owned()))
    }

    fn smp_prog(&self) -> Option<i64> {
        self.events
            .iter()
            .rev()
            .find_map(|e| (e["event"] == "smp_progress").then(|| e["prog"].as_i64().unwrap()))
    }
}

impl ForeignPeer for Py {
    const NAME: &'static str = "potr";
    const PAD: &'static str = "";
    const LONG_REPEAT: usize = 20;

    fn spawn(fragment_size: Option<usize>) -> Self {
        Py::spawn(fragment_size)
    }
    fn query(&mut self) {
        self.cmd(json!({"cmd": "query"}));
    }
    fn deliver(&mut self, msg: &str) {
        self.cmd(json!({"cmd": "net", "text": msg}));
    }
    fn send(&mut self, text: &str) {
        self.cmd(json!({"cmd": "send", "text": text}));
    }
    fn take_net(&mut self) -> Vec<String> {
        std::mem::take(&mut self.net)
    }
    fn record_wire(&mut self, msg: String) {
        self.wire.push(msg);
    }
    fn take_messages(&mut self) -> Vec<(String, bool)> {
        Py::take_messages(self)
    }
    fn log(&self) -> String {
        format!("{:?}", self.events)
    }
}

fn connect(sotto_starts: bool, fragment: Option<usize>, seed: u64) -> (Sotto, Py) {
    let (me, py) = support::connect::<Py>(sotto_starts, fragment, key(), seed);
    assert_eq!(me.s.version(), Some(2));
    assert_eq!(
        py.state().as_deref(),
        Some("encrypted"),
        "potr events: {:?}",
        py.events
    );
    // Both sides see the right fingerprints.
    let theirs = me.s.their_fingerprint().unwrap();
    assert_eq!(hex::encode(theirs.0), py.fingerprint);
    (me, py)
}

#[test]
#[ignore = "needs python3 with python-potr + pycryptodome"]
fn potr_sotto_starts_ake_messages_and_rotation() {
    let (mut me, mut py) = connect(true, None, 1);
    exchange(&mut me, &mut py, 40, false);
    // Keys rotated with (almost) every round trip, on both sides.
    assert!(
        max_sender_keyid(&me.wire, 2) >= 25,
        "sotto key ids did not advance"
    );
    assert!(
        max_sender_keyid(&py.wire, 2) >= 25,
        "potr key ids did not advance"
    );
}

#[test]
#[ignore = "needs python3 with python-potr + pycryptodome"]
fn potr_starts_ake_messages() {
    let (mut me, mut py) = connect(false, None, 2);
    exchange(&mut me, &mut py, 10, false);
    // potr ends the conversation: sotto shows "finished".
    py.cmd(json!({"cmd": "end"}));
    pump(&mut me, &mut py);
    assert_eq!(me.s.state(), OtrState::Finished);
}

#[test]
#[ignore = "needs python3 with python-potr + pycryptodome"]
fn potr_fragmentation_small_size() {
    let (mut me, mut py) = connect(true, Some(120), 3);
    exchange(&mut me, &mut py, 4, true);
    // Both sides really fragmented (v2 format), within the size limit.
    for w in [&me.wire, &py.wire] {
        let frags: Vec<_> = w.iter().filter(|m| m.starts_with("?OTR,")).collect();
        assert!(frags.len() > 20, "too few fragments: {}", frags.len());
        assert!(frags.iter().all(|f| f.len() <= 120));
    }
    // sotto ends: potr goes to "finished".
    me.s.end(&mut me.rng).unwrap();
    pump(&mut me, &mut py);
    assert_eq!(py.state().as_deref(), Some("finished"));
    assert_eq!(me.s.state(), OtrState::NotPrivate);
}

#[test]
#[ignore = "needs python3 with python-potr + pycryptodome"]
fn potr_smp_sotto_initiates() {
    let (mut me, mut py) = connect(true, None, 4);
    // Right secret, no question.
    me.s.start_smp(None, b"the blue door", &mut me.rng).unwrap();
    pump(&mut me, &mut py);
    assert!(
        py.events
            .iter()
            .any(|e| e["event"] == "smp_request" && e["question"].is_null())
    );
    py.cmd(json!({"cmd": "smp_respond", "secret": "the blue door"}));
    pump(&mut me, &mut py);
    assert_eq!(me.smp(), Some(SmpOutcome::Succeeded));
    assert_eq!(py.smp_prog(), Some(1));
    assert_eq!(me.s.state(), OtrState::Private);
    // Wrong secret, with a question.
    py.events.clear();
    me.events.clear();
    me.s.start_smp(Some("Which door?"), b"the blue door", &mut me.rng)
        .unwrap();
    pump(&mut me, &mut py);
    assert!(
        py.events
            .iter()
            .any(|e| e["event"] == "smp_request" && e["question"] == "Which door?")
    );
    py.cmd(json!({"cmd": "smp_respond", "secret": "the red door"}));
    pump(&mut me, &mut py);
    assert_eq!(me.smp(), Some(SmpOutcome::Failed));
    assert_eq!(py.smp_prog(), Some(-1));
    // Messages still flow after SMP.
    exchange(&mut me, &mut py, 2, false);
}

#[test]
#[ignore = "needs python3 with python-potr + pycryptodome"]
fn potr_smp_potr_initiates() {
    let (mut me, mut py) = connect(false, None, 5);
    for (question, theirs, secret, ok) in [
        (None, "s3cret", "s3cret", true),
        (Some("Where did we meet?"), "Berlin", "Berlin", true),
        (Some("Where did we meet?"), "Berlin", "Paris", false),
        (None, "s3cret", "other", false),
    ] {
        me.events.clear();
        py.events.clear();
        py.cmd(json!({"cmd": "smp_start", "secret": theirs, "question": question}));
        pump(&mut me, &mut py);
        let q = support::smp_question(&me.events);
        assert_eq!(q, Some(question.map(str::to_owned)));
        me.s.respond_smp(secret.as_bytes(), &mut me.rng).unwrap();
        pump(&mut me, &mut py);
        let want = support::smp_outcome(ok);
        assert_eq!(
            me.smp(),
            Some(want),
            "question {question:?} secret {secret}"
        );
        assert_eq!(py.smp_prog(), Some(if ok { 1 } else { -1 }));
    }
}
