//! `sotto id`, `contacts`, `verify`, `forget` against a real store in a temporary directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "test code"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn sotto(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sotto"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG")
        .output()
        .expect("run sotto")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[test]
fn identity_is_created_once_private_and_stable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let first = sotto(&dir, &["id"]);
    assert!(first.status.success());
    let out = stdout(&first);
    let zid = field(&out, "zid:");
    let name = field(&out, "name:");
    assert_eq!(zid.len(), 24);
    assert!(zid.chars().all(|c| c.is_ascii_hexdigit()));
    // The pseudonym has nothing to do with the OS user.
    if let Ok(user) = std::env::var("USER") {
        assert!(!name.contains(&user) || user.len() < 3);
    }
    // Same identity on the next run.
    let again = stdout(&sotto(&dir, &["id"]));
    assert_eq!(field(&again, "zid:"), zid);
    // Files are private.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("sotto.db")), 0o600);
}

#[test]
fn rotating_the_identity_needs_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let zid = field(&stdout(&sotto(tmp.path(), &["id"])), "zid:");
    let refused = sotto(tmp.path(), &["id", "--new"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --yes"));
    assert_eq!(field(&stdout(&sotto(tmp.path(), &["id"])), "zid:"), zid);
    let rotated = sotto(tmp.path(), &["id", "--new", "--yes"]);
    assert!(rotated.status.success());
    let new_zid = field(&stdout(&rotated), "zid:");
    assert_ne!(new_zid, zid);
    assert_eq!(field(&stdout(&sotto(tmp.path(), &["id"])), "zid:"), new_zid);
}

#[test]
fn ephemeral_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = sotto(tmp.path(), &["--ephemeral", "id"]);
    assert!(o.status.success());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn unknown_peer_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = sotto(tmp.path(), &["verify", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nobody"), "{err}");
    let list = sotto(tmp.path(), &["contacts"]);
    assert!(list.status.success());
    assert!(stdout(&list).contains("no contacts yet"));
}

#[test]
fn no_command_outside_a_terminal_says_what_to_do() {
    // Every command is built now (`chat` was the last stub); `sotto` alone opens the home
    // screen only in a terminal, and says so otherwise.
    let tmp = tempfile::tempdir().unwrap();
    let o = sotto(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "sotto: no command given. In a terminal, `sotto` alone opens the home screen; see \
         `sotto --help` for the commands.\n"
    );
    assert!(o.stdout.is_empty());
}
