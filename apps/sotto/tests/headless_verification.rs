//! Verification across calls, between two headless `sotto` processes with their own data
//! directories: the JSON events come in order; `confirm` typed on one side marks the peer
//! verified there (`sotto contacts`); green needs both sides to have confirmed (our cache flag
//! and the peer's V flag), so once the other side confirms too, the next call is green from the
//! start with no new confirmation; after the other side's cache is replaced (its ZID kept, its
//! retained secrets gone), the next call reports a key change, is not shown as verified, and
//! `sotto contacts` says KEY CHANGED.
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

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{events, find, free_port};

fn sotto(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sotto"));
    c.env("SOTTO_DATA_DIR", dir.join("data"))
        .env("SOTTO_CONFIG_DIR", dir.join("conf"))
        .env_remove("RUST_LOG");
    c
}

/// The event names, in order, without the ones whose place may vary.
fn names(ev: &[Value]) -> Vec<String> {
    ev.iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .filter(|n| n != "ringing" && n != "other")
        .collect()
}

/// One call: `b` listens and answers (and confirms the code if `b_confirms`), `a` calls and
/// types `confirm` on its stdin if `a_confirms`. Returns both sides' events.
fn call(a: &Path, b: &Path, a_confirms: bool, b_confirms: bool) -> (Vec<Value>, Vec<Value>) {
    let port = free_port();
    let mut listener = sotto(b)
        .args(["listen", "--headless", "--auto-answer", "--timeout", "15"])
        .args(b_confirms.then_some("--auto-confirm"))
        .args(["--sip", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut b_out = BufReader::new(listener.stdout.take().unwrap());
    let mut first = String::new();
    b_out.read_line(&mut first).unwrap();
    assert!(first.contains("\"ready\""), "{first}");

    let mut caller = sotto(a)
        .args(["call", "--headless", "--duration", "1.5", "--timeout", "15"])
        .arg(format!("sip:b@127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = caller.stdin.take().unwrap();
    let mut a_lines = Vec::new();
    for line in BufReader::new(caller.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "secure" && a_confirms {
            writeln!(stdin, "confirm").unwrap();
        }
        a_lines.push(v);
    }
    drop(stdin);
    assert!(caller.wait().unwrap().success());
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut b_out, &mut rest).unwrap();
    assert!(listener.wait().unwrap().success());
    let mut b_ev = events(first.as_bytes());
    b_ev.extend(events(&rest));
    (a_lines, b_ev)
}

fn contacts(dir: &Path) -> String {
    let o = sotto(dir).arg("contacts").output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn confirmed_then_green_without_asking_then_a_replaced_cache_is_a_key_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // b's identity, and a copy of its cache as it is before any call.
    assert!(sotto(&b).arg("id").output().unwrap().status.success());
    let fresh_b = std::fs::read(b.join("data/sotto.db")).unwrap();
    let b_zid = String::from_utf8(sotto(&b).arg("id").output().unwrap().stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("zid:")
        .trim()
        .to_owned();

    // First call: orange, `confirm` typed on a's side, green there.
    let (ea, eb) = call(&a, &b, true, false);
    assert_eq!(
        names(&ea),
        [
            "ready",
            "calling",
            "connecting",
            "secure",
            "verified",
            "ended",
            "summary"
        ],
        "{ea:?}"
    );
    assert_eq!(
        names(&eb),
        [
            "ready",
            "incoming_call",
            "connecting",
            "secure",
            "ended",
            "summary"
        ],
        "{eb:?}"
    );
    let s = find(&ea, "secure");
    assert_eq!(
        (s["state"].as_str(), s["verified"].as_bool()),
        (Some("orange"), Some(false))
    );
    assert_eq!(s["peer_zid"], b_zid.as_str());
    assert_eq!(find(&ea, "verified")["state"], "green");
    assert_eq!(find(&ea, "secure")["sas"], find(&eb, "secure")["sas"]);
    let list = contacts(&a);
    let row = list.lines().find(|l| l.contains(&b_zid)).unwrap();
    assert!(
        row.ends_with("verified") && !row.ends_with("unverified"),
        "{list}"
    );

    // b never confirmed: the next call is orange again on both sides, since green needs both
    // sides to have compared the code (a's cache flag and b's V flag, RFC 6189 §7.1).
    assert!(contacts(&b).contains("unverified"));
    let (ea, eb) = call(&a, &b, false, false);
    for e in [&ea, &eb] {
        let s = find(e, "secure");
        assert_eq!(
            (s["state"].as_str(), s["cache"].as_str().is_some()),
            (Some("orange"), true)
        );
    }
    // b confirms in this call; a's flag is still set from the first call.
    let (ea, eb) = call(&a, &b, false, true);
    assert_eq!(find(&eb, "verified")["state"], "green");
    assert_eq!(find(&ea, "secure")["state"], "orange");

    // Now: green from the start on both sides, no confirmation typed.
    let (ea, eb) = call(&a, &b, false, false);
    assert_eq!(find(&eb, "secure")["state"], "green");
    assert_eq!(
        names(&ea),
        [
            "ready",
            "calling",
            "connecting",
            "secure",
            "ended",
            "summary"
        ],
        "{ea:?}"
    );
    let s = find(&ea, "secure");
    assert_eq!(
        (s["state"].as_str(), s["verified"].as_bool()),
        (Some("green"), Some(true))
    );

    // b's cache replaced by its pre-call copy: same ZID, no retained secret for a.
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(b.join(format!("data/sotto.db{side}")));
    }
    std::fs::write(b.join("data/sotto.db"), &fresh_b).unwrap();
    let (ea, _) = call(&a, &b, false, false);
    let n = names(&ea);
    assert!(n.contains(&"cache_mismatch".to_owned()), "{n:?}");
    assert!(!n.contains(&"verified".to_owned()), "{n:?}");
    let s = find(&ea, "secure");
    assert_eq!(
        (s["state"].as_str(), s["verified"].as_bool()),
        (Some("orange"), Some(false))
    );
    assert_eq!(s["peer_zid"], b_zid.as_str());
    let list = contacts(&a);
    let row = list.lines().find(|l| l.contains(&b_zid)).unwrap();
    assert!(row.ends_with("KEY CHANGED"), "{list}");
}
