//! The call screen as a person sees it: `sotto listen` runs in a real terminal (tmux), a
//! headless `sotto call` rings it; the screen must wait for the user, show red while
//! connecting, the orange "zrtp" band with the caller's SAS, turn green on `c`, and say the
//! call ended. Ignored by default: needs tmux (Debian `tmux`, installed by `.ci/run`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "test code"
)]

use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use support::{Tmux, big_sas, free_port, sotto_call, sotto_in};

#[test]
#[ignore = "needs tmux"]
fn the_call_screen_goes_red_orange_green() {
    let port = free_port();
    let session = format!("sotto-test-{port}");
    let listen = format!(
        "{} --ephemeral listen --sip 127.0.0.1:{port} --timeout 20; sleep 5",
        env!("CARGO_BIN_EXE_sotto")
    );
    let tmux = Tmux::start(&session, 110, &listen);
    tmux.wait_for("listening on 127.0.0.1", Duration::from_secs(10));

    let caller = sotto_call(&format!("sip:listener@127.0.0.1:{port}"))
        .args(["--headless", "--duration", "4", "--timeout", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // It rings and waits for the user: nothing is answered by itself.
    tmux.wait_for("press  a  to answer", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !tmux.screen().contains("Compare with partner"),
        "the call was answered without the user"
    );
    tmux.keys("a");
    let orange = tmux.wait_for("Compare with partner", Duration::from_secs(10));
    assert!(orange.contains("zrtp"), "{orange}");
    tmux.keys("c");
    let green = tmux.wait_for("VERIFIED", Duration::from_secs(5));
    assert!(green.contains("key continuity: first call"), "{green}");

    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success());
    let caller_sas = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "secure")
        .and_then(|e| e["sas"].as_str().map(str::to_owned))
        .expect("the caller reported a SAS");
    // The screen shows the SAS in large spaced capitals: "A   B   C   D".
    let big = big_sas(&caller_sas);
    assert!(
        orange.contains(&big),
        "the screen's code differs from the caller's {caller_sas}:\n{orange}"
    );
    tmux.wait_for(
        "call ended: the other side hung up",
        Duration::from_secs(10),
    );
}

/// The line of `screen` holding `needle`, trimmed of the borders.
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{screen}"))
        .trim_matches(|c: char| c == '│' || c.is_whitespace())
}

#[test]
#[ignore = "needs tmux"]
fn the_home_screen_places_a_call_keys_reach_the_other_side_and_contacts_are_managed() {
    let port = free_port();
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    // A's identity, made beforehand so the test knows its name and ZID.
    let id = Command::new("sh")
        .args(["-c", &sotto_in(a_dir.path(), "id")])
        .output()
        .unwrap();
    assert!(id.status.success());
    let id = String::from_utf8(id.stdout).unwrap();
    let a_name = id
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("name:")
        .trim();
    let a_zid = id.lines().nth(1).unwrap().trim_start_matches("zid:").trim();

    let b = Tmux::start(
        &format!("sotto-b-{port}"),
        110,
        &format!(
            "{}; sleep 5",
            sotto_in(
                b_dir.path(),
                &format!("listen --sip 127.0.0.1:{port} --timeout 30")
            )
        ),
    );
    b.wait_for("listening on 127.0.0.1", Duration::from_secs(10));
    let a = Tmux::start(
        &format!("sotto-a-{port}"),
        110,
        &format!("{}; sleep 5", sotto_in(a_dir.path(), "")),
    );
    // The home screen: who we are, no contacts, no history.
    let home = a.wait_for("no contacts yet", Duration::from_secs(10));
    assert!(home.contains(&format!("you are \"{a_name}\"")), "{home}");
    assert!(home.contains(&format!("ZID {}…", &a_zid[..8])), "{home}");
    assert!(home.contains("no call history is kept"), "{home}");

    // Place a call by typing a sip: address.
    a.keys("d");
    a.wait_for("place a call", Duration::from_secs(5));
    a.literal(&format!("bob@127.0.0.1:{port}"));
    a.wait_for(
        &format!("call: sip:bob@127.0.0.1:{port}_"),
        Duration::from_secs(5),
    );
    a.keys("Enter");
    b.wait_for("press  a  to answer", Duration::from_secs(10));
    b.keys("a");
    let a_orange = a.wait_for("Compare with partner", Duration::from_secs(10));
    let b_orange = b.wait_for("Compare with partner", Duration::from_secs(10));
    // The same code on both screens (the line under "Compare with partner").
    let code = |s: &str| {
        let mut lines = s
            .lines()
            .skip_while(|l| !l.contains("Compare with partner"));
        lines
            .nth(1)
            .unwrap()
            .trim_matches(|c: char| c == '│' || c.is_whitespace())
            .to_owned()
    };
    assert_eq!(code(&a_orange), code(&b_orange));
    assert_eq!(code(&a_orange).len(), 13, "{a_orange}");
    a.keys("c");
    b.keys("c");
    a.wait_for("VERIFIED", Duration::from_secs(5));
    b.wait_for("VERIFIED", Duration::from_secs(5));

    // Keypad: A presses 4 2 #, B sees them; B presses 7, A sees it.
    for k in ["4", "2", "#"] {
        a.keys(k);
        std::thread::sleep(Duration::from_millis(250));
    }
    let b_keys = b.wait_for("they pressed [42#]", Duration::from_secs(5));
    assert!(b_keys.contains("the other side pressed 4"), "{b_keys}");
    b.keys("7");
    let a_keys = a.wait_for("they pressed [7]", Duration::from_secs(5));
    assert!(a_keys.contains("you pressed [42#]"), "{a_keys}");

    // Hang up; back on the home screen the peer is a verified contact.
    a.keys("h");
    a.wait_for("call ended: you hung up", Duration::from_secs(10));
    b.wait_for(
        "call ended: the other side hung up",
        Duration::from_secs(10),
    );
    a.keys("q");
    let contacts = a.wait_for("contacts (1)", Duration::from_secs(10));
    let row = line_with(&contacts, "verified");
    assert!(row.contains("(no name)"), "{row}");
    assert!(!row.contains("unverified"), "{row}");

    // Name it, withdraw the verification (asked first), keep it, then forget it.
    a.keys("e");
    a.wait_for("name a contact", Duration::from_secs(5));
    a.literal("Bea");
    a.keys("Enter");
    let named = a.wait_for("named Bea", Duration::from_secs(5));
    assert!(line_with(&named, "Bea").contains("verified"), "{named}");
    a.keys("u");
    a.wait_for("Mark Bea as not verified?", Duration::from_secs(5));
    a.keys("y");
    let unverified = a.wait_for("Bea: no longer verified", Duration::from_secs(5));
    assert!(
        line_with(&unverified, "Bea ").contains("unverified"),
        "{unverified}"
    );
    a.keys("f");
    a.wait_for("Forget Bea?", Duration::from_secs(5));
    a.keys("n");
    a.wait_for("nothing changed", Duration::from_secs(5));
    assert!(a.screen().contains("contacts (1)"));
    a.keys("f");
    a.wait_for("Forget Bea?", Duration::from_secs(5));
    a.keys("y");
    a.wait_for("no contacts yet", Duration::from_secs(5));
    a.keys("q");
}
