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
//! `sotto diag srtp` and `sotto bench srtp`, run as a user would.
//!
//! The reference packets were produced by Debian's libsrtp2 2.5 (our harness
//! `crates/sotto-srtp/tests/c/srtp_peer.c`): AES_CM_128_HMAC_SHA1_80, master key 0x22 * 16,
//! master salt 0x44 * 14, SSRC 0x01020304, seq 1, payload 0xa5 * 20; and an RTCP BYE with
//! SRTCP index 1 (libsrtp's first).

use std::process::Command;

const KEY: &str = "22222222222222222222222222222222";
const SALT: &str = "4444444444444444444444444444";
const RTP: &str = "800000010000000001020304a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5";
const SRTP: &str =
    "800000010000000001020304f5b44b7e3ad4eb057bc6480c45df6547bb70bcc27b136e1f3d3a62821b15";
const RTCP: &str = "81cb0001010203040000";
const SRTCP: &str = "81cb00010102030486ab80000001e68b2b1e1193fa41732b";

fn sotto(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn diag(action: &str, extra: &[&str], packets: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "diag",
        "srtp",
        action,
        "--profile",
        "AES_CM_128_HMAC_SHA1_80",
        "--key",
        KEY,
        "--salt",
        SALT,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(packets);
    sotto(&args)
}

#[test]
fn protect_matches_libsrtp() {
    let (code, out, err) = diag("protect", &[], &[RTP]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{SRTP}\n"));
}

#[test]
fn unprotect_libsrtp_packet() {
    let (code, out, err) = diag("unprotect", &[], &[SRTP]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{RTP}\n"));
}

#[test]
fn srtcp_both_ways_match_libsrtp() {
    let (code, out, _) = diag("protect", &["--rtcp", "--srtcp-index", "1"], &[RTCP]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("{SRTCP}\n"));
    let (code, out, _) = diag("unprotect", &["--rtcp"], &[SRTCP]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("{RTCP}\n"));
}

#[test]
fn failing_packets_print_error_lines_and_exit_2() {
    let mut bad = SRTP.to_string();
    bad.replace_range(30..31, if &SRTP[30..31] == "0" { "1" } else { "0" });
    // Bad, good, replay of good, not hex: one line each, in order.
    let (code, out, _) = diag("unprotect", &[], &[&bad, SRTP, SRTP, "zz"]);
    assert_eq!(code, 2);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "error: authentication failed");
    assert_eq!(lines[1], RTP);
    assert_eq!(lines[2], "error: replayed packet");
    assert!(lines[3].starts_with("error: "), "{}", lines[3]);
}

#[test]
fn bad_profile_is_a_usage_error() {
    let (code, _, err) = sotto(&[
        "diag",
        "srtp",
        "protect",
        "--profile",
        "NOPE",
        "--key",
        KEY,
        "--salt",
        SALT,
        RTP,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown profile"), "{err}");
}

#[test]
fn bench_prints_one_json_line() {
    let (code, out, err) = sotto(&[
        "bench",
        "srtp",
        "--profile",
        "AEAD_AES_128_GCM",
        "--size",
        "100",
        "--seconds",
        "0.05",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["profile"], "AEAD_AES_128_GCM");
    assert_eq!(v["size"], 100);
    assert!(v["protect_pps"].as_u64().unwrap() > 0);
    assert!(v["unprotect_pps"].as_u64().unwrap() > 0);
    assert!(
        lines[0].starts_with("{\"profile\":"),
        "field order as documented"
    );
}
