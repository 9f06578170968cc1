//! `config.toml` reaching the phone: the display name, the SIP and media addresses, and the
//! `allow_insecure` warning, through `sotto listen --headless`; command-line flags win. And its
//! `[xmpp]` table reaching `sotto chat` (the configured server named when it cannot be reached).
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

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use support::free_port;

/// Starts `sotto listen --headless ARGS` with `dir`'s config, returns its `ready` event and
/// stderr, then stops it.
fn ready(dir: &Path, args: &[&str]) -> (serde_json::Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["--ephemeral", "listen", "--headless"])
        .args(args)
        .env("SOTTO_CONFIG_DIR", dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (serde_json::from_str(&line).unwrap(), err)
}

#[test]
fn the_config_file_reaches_the_phone_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let (sip, media, other) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "display_name = \"Ana\"\nallow_insecure = true\n[sip]\nlisten = \"127.0.0.1:{sip}\"\n\
             [media]\nlisten = \"127.0.0.1:{media}\"\ncodecs = [\"opus\"]\n"
        ),
    )
    .unwrap();
    let (r, err) = ready(dir.path(), &[]);
    assert_eq!(r["event"], "ready", "{r}");
    assert_eq!(r["name"], "Ana");
    assert_eq!(r["sip"], format!("127.0.0.1:{sip}"));
    assert_eq!(r["media"], format!("127.0.0.1:{media}"));
    assert!(
        err.contains(&format!(
            "sotto: warning: allow_insecure = true in {}: a call to a phone without ZRTP will \
             connect UNENCRYPTED (it is shown as insecure throughout)",
            dir.path().join("config.toml").display()
        )),
        "{err}"
    );
    let (r, _) = ready(dir.path(), &["--sip", &format!("127.0.0.1:{other}")]);
    assert_eq!(r["sip"], format!("127.0.0.1:{other}"));
    assert_eq!(r["media"], format!("127.0.0.1:{media}"));

    // No file: the pseudonym, loopback on any port, no warning.
    let empty = tempfile::tempdir().unwrap();
    let (r, err) = ready(empty.path(), &[]);
    assert_ne!(r["name"], "Ana");
    assert_eq!(r["name"].as_str().unwrap().split('-').count(), 3, "{r}");
    assert!(r["sip"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn chat_takes_its_account_from_the_xmpp_table_and_names_the_server_it_could_not_reach() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A TCP port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[xmpp]\naccount = \"ana@example.org\"\nserver = \"127.0.0.1:{port}\"\n\
             password = \"not-a-real-password\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["--ephemeral", "chat", "--headless", "bob@example.org"])
        .env("SOTTO_CONFIG_DIR", dir.path())
        .env_remove("SOTTO_XMPP_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "sotto: error: logging in as ana@example.org (server 127.0.0.1:{port}): network:"
        )),
        "{err}"
    );
    assert!(!err.contains("not-a-real-password"), "{err}");

    // The same file readable by others is refused before anything else, naming the file.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["--ephemeral", "chat", "--headless", "bob@example.org"])
        .env("SOTTO_CONFIG_DIR", dir.path())
        .env_remove("SOTTO_XMPP_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "refusing to use {}: it holds an XMPP password but other users may read it",
            path.display()
        )),
        "{err}"
    );
}
