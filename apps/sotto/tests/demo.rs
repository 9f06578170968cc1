//! `sotto demo` is the README's first command: it must pass its own checks on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "test code"
)]

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_places_a_verified_encrypted_call_and_exits_zero() {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("run sotto demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "connecting: ZRTP key agreement running, no audio sent or played",
        "compare the code",
        "verified",
        "sent no clear media",
        "All checks passed.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
    // Not a terminal: no colour codes in the output.
    assert!(!stdout.contains('\x1b'));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "demo took {:?}",
        t.elapsed()
    );
}
