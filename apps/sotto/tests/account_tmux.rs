//! A SIP account from `config.toml`, end to end: `sotto listen` in a terminal (tmux) registers
//! with a real registrar (Debian's `kamailio`, digest auth, started here on 127.0.0.1) and says
//! so on its call screen; a headless `sotto call` with its own account reaches it through the
//! registrar by its address of record, and both sides show the same SAS. A wrong password is
//! shown as "NOT registered" with the reason, and direct calls still work.
//!
//! Ignored by default: needs `kamailio` and `tmux` (`apt-get install -y kamailio tmux`):
//! `cargo test -p sotto --test account_tmux -- --ignored`.
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

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Tmux, big_sas, events, find, free_port, sotto_call, sotto_in};

#[path = "../../../crates/sotto-net/tests/support/kamailio.rs"]
mod kamailio;
use kamailio::Kamailio;

/// A data and config directory with an `[account]` for `user` (mode 0600, as required).
fn home_with_account(registrar: SocketAddr, user: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let path = conf.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[account]\nregistrar = \"{registrar}\"\naor = \"sip:{user}@sotto.test\"\n\
             username = \"{user}\"\npassword = \"{password}\"\nexpires = 60\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir
}

#[test]
#[ignore = "needs kamailio and tmux"]
fn an_account_in_the_config_registers_and_is_reachable_by_its_address_of_record() {
    let k = Kamailio::start("MD5", Some("sotto.test"));
    let bob = home_with_account(k.addr, "bob", "pw-of-bob");
    let b = Tmux::start(
        &format!("sotto-acct-b-{}", k.addr.port()),
        120,
        &format!("{}; sleep 5", sotto_in(bob.path(), "listen --timeout 30")),
    );
    b.wait_for("registered (renewed within", Duration::from_secs(10));

    let alice = home_with_account(k.addr, "alice", "pw-of-alice");
    let caller = Command::new("sh")
        .arg("-c")
        .arg(sotto_in(
            alice.path(),
            // No --peer: sotto.test is the account's domain, so the INVITE goes to the
            // registrar.
            "call sip:bob@sotto.test --headless --auto-confirm --duration 3 --timeout 20",
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    b.wait_for("press  a  to answer", Duration::from_secs(10));
    b.keys("a");
    let orange = b.wait_for("Compare with partner", Duration::from_secs(10));
    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success());
    let ev = events(&out.stdout);
    let sas = find(&ev, "secure")["sas"].as_str().unwrap().to_uppercase();
    let big = big_sas(&sas);
    assert!(orange.contains(&big), "caller's SAS {sas}:\n{orange}");
    b.wait_for(
        "call ended: the other side hung up",
        Duration::from_secs(10),
    );
    // bob listens on a port nobody was told: only the registrar's lookup of
    // sip:bob@sotto.test (after alice's proxy authentication) could have reached it.
}

#[test]
#[ignore = "needs kamailio and tmux"]
fn a_wrong_password_is_shown_and_direct_calls_still_work() {
    let k = Kamailio::start("MD5", Some("sotto.test"));
    let carol = home_with_account(k.addr, "carol", "not-her-password");
    let port = free_port();
    let c = Tmux::start(
        &format!("sotto-acct-c-{}", k.addr.port()),
        120,
        &format!(
            "{}; sleep 5",
            sotto_in(
                carol.path(),
                &format!("listen --sip 127.0.0.1:{port} --timeout 30")
            )
        ),
    );
    let screen = c.wait_for(
        "SIP account: NOT registered: the registrar did not accept the user name or password",
        Duration::from_secs(15),
    );
    assert!(!screen.contains("not-her-password"), "{screen}");
    // A direct call needs no account.
    let caller = sotto_call(&format!("sip:carol@127.0.0.1:{port}"))
        .args(["--headless", "--duration", "2", "--timeout", "20"])
        .env("SOTTO_CONFIG_DIR", carol.path().join("no-config"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_for("press  a  to answer", Duration::from_secs(10));
    c.keys("a");
    c.wait_for("Compare with partner", Duration::from_secs(10));
    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success());
}
