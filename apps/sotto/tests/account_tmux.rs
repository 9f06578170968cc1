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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{events, find, free_port};

const KAMAILIO: &str = "/usr/sbin/kamailio";

/// Registrar for `sotto.test` with digest auth (password `pw-of-USER`), usrloc in memory,
/// routing INVITEs (after proxy auth) to registered contacts.
fn kamailio_cfg(port: u16) -> String {
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="sotto.test"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)

request_route {{
    xlog("L_NOTICE", "sotto-test: $rm $ru to=$td au=$au auth=$hdr(Authorization)$hdr(Proxy-Authorization)\n");
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{ t_relay(); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "pw-of-$au", "0")) {{ www_challenge("$td", "1"); exit; }}
        consume_credentials();
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (!pv_proxy_authenticate("$fd", "pw-of-$au", "0")) {{ proxy_challenge("$fd", "1"); exit; }}
    consume_credentials();
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"#
    )
}

struct Kamailio {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    fn start() -> Self {
        assert!(
            Path::new(KAMAILIO).exists(),
            "{KAMAILIO} not found: apt-get install -y kamailio"
        );
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, kamailio_cfg(port)).unwrap();
        let log = dir.path().join("kamailio.log");
        let child = Command::new(KAMAILIO)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-w"])
            .arg(dir.path())
            .arg("-Y")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let k = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        };
        let t0 = Instant::now();
        while !k.log_text().contains("SO_RCVBUF is finally") {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "kamailio did not start:\n{}",
                k.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        k
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("kamailio log:\n{}", self.log_text());
        }
    }
}

struct Tmux(String);

impl Tmux {
    fn start(session: &str, command: &str) -> Self {
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", session, "-x", "120", "-y", "32"])
            .arg(command)
            .status()
            .expect("tmux is needed for this test (apt-get install tmux)");
        assert!(st.success());
        Self(session.to_owned())
    }
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, k: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.0, k])
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
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

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

fn sotto_in(dir: &Path, args: &str) -> String {
    format!(
        "env SOTTO_DATA_DIR={d}/data SOTTO_CONFIG_DIR={d}/conf {} {args}",
        env!("CARGO_BIN_EXE_sotto"),
        d = dir.display()
    )
}

#[test]
#[ignore = "needs kamailio and tmux"]
fn an_account_in_the_config_registers_and_is_reachable_by_its_address_of_record() {
    let k = Kamailio::start();
    let bob = home_with_account(k.addr, "bob", "pw-of-bob");
    let b = Tmux::start(
        &format!("sotto-acct-b-{}", k.addr.port()),
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
    let big: String = sas
        .chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("   ");
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
    let k = Kamailio::start();
    let carol = home_with_account(k.addr, "carol", "not-her-password");
    let port = free_port();
    let c = Tmux::start(
        &format!("sotto-acct-c-{}", k.addr.port()),
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
    let caller = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args([
            "--ephemeral",
            "call",
            &format!("sip:carol@127.0.0.1:{port}"),
        ])
        .args(["--headless", "--duration", "2", "--timeout", "20"])
        .env("SOTTO_CONFIG_DIR", carol.path().join("no-config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_for("press  a  to answer", Duration::from_secs(10));
    c.keys("a");
    c.wait_for("Compare with partner", Duration::from_secs(10));
    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success());
}
