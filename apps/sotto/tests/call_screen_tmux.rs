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
use std::time::{Duration, Instant};

mod support;

use support::free_port;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(session: &str, command: &str) -> Self {
        let st = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "110",
                "-y",
                "32",
                command,
            ])
            .status()
            .expect("tmux is needed for this test (apt-get install tmux)");
        assert!(st.success(), "tmux new-session failed");
        Self {
            session: session.to_owned(),
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.session, keys])
            .status()
            .unwrap();
    }

    fn wait_for(&self, text: &str, timeout: Duration) -> String {
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

#[test]
#[ignore = "needs tmux"]
fn the_call_screen_goes_red_orange_green() {
    let port = free_port();
    let session = format!("sotto-test-{port}");
    let listen = format!(
        "{} --ephemeral listen --sip 127.0.0.1:{port} --timeout 20; sleep 5",
        env!("CARGO_BIN_EXE_sotto")
    );
    let tmux = Tmux::start(&session, &listen);
    tmux.wait_for("listening on 127.0.0.1", Duration::from_secs(10));

    let caller = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args([
            "--ephemeral",
            "call",
            &format!("sip:listener@127.0.0.1:{port}"),
        ])
        .args(["--headless", "--duration", "4", "--timeout", "20"])
        .stdin(Stdio::null())
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
    let big: String = caller_sas
        .to_uppercase()
        .chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("   ");
    assert!(
        orange.contains(&big),
        "the screen's code differs from the caller's {caller_sas}:\n{orange}"
    );
    tmux.wait_for(
        "call ended: the other side hung up",
        Duration::from_secs(10),
    );
}
