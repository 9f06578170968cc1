//! A private Prosody XMPP server for tests (Debian's `prosody` package; never the system
//! service).
//!
//! Self-contained (std only) so other test crates can use it:
//!
//! ```ignore
//! #[path = "../../../crates/sotto-xmpp/tests/support/prosody.rs"]
//! mod prosody;
//! let server = prosody::Prosody::start();          // panics with a clear message if prosody is missing
//! server.register("alice", "pw-a");                 // prosodyctl register alice <domain> pw-a
//! let jid = server.jid("alice");                    // "alice@sotto.test"
//! // connect to 127.0.0.1:server.c2s_port (STARTTLS) or server.direct_tls_port (direct TLS),
//! // trusting server.ca_path(); server.data_dir() is Prosody's storage (grep it for plaintext).
//! // Dropping `server` kills Prosody and deletes its directory (set SOTTO_KEEP_PROSODY=1 to keep it).
//! ```
//!
//! What it sets up, in a fresh directory under the system temp dir:
//! - a CA and a server certificate for the domain (made with the `openssl` CLI), plus an
//!   unrelated second CA ([`Prosody::other_ca_path`]) for "wrong CA" tests;
//! - `prosody.cfg.lua`: listens on 127.0.0.1 only, on two free ports (c2s with STARTTLS
//!   required, and c2s direct TLS), no s2s, no HTTP, internal hashed auth (SCRAM), its own
//!   data dir, and no message storage at all: `offline`, `mam`, `carbons` and `smacks` are
//!   not loaded;
//! - Prosody running in the foreground as a child process, logging to `prosody.log`.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: each test file uses a different part; failures panic with a message"
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The default test domain (any name works: nothing resolves it, clients connect to
/// 127.0.0.1 and check the certificate against this name).
pub const DOMAIN: &str = "sotto.test";

/// A running private Prosody. Drop kills it.
pub struct Prosody {
    /// The XMPP domain (VirtualHost) served.
    pub domain: String,
    /// 127.0.0.1 port for plain c2s with STARTTLS (required).
    pub c2s_port: u16,
    /// 127.0.0.1 port for direct-TLS c2s (XEP-0368 style).
    pub direct_tls_port: u16,
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn need(cmd: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
        || Path::new(cmd).is_file();
    assert!(
        found,
        "`{cmd}` not found: install Debian's packages `prosody` and `openssl` \
         (see .ci/apt-packages.txt)"
    );
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Make a CA (`name`.crt/.key) in `dir`.
fn make_ca(dir: &Path, name: &str, cn: &str) {
    run(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .args(["-days", "2", "-subj", &format!("/CN={cn}")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(dir.join(format!("{name}.crt"))),
        "openssl req (CA)",
    );
}

impl Prosody {
    /// Start Prosody for [`DOMAIN`]. Panics with a clear message if `prosody`/`openssl`
    /// are missing or Prosody does not come up within 15 s.
    pub fn start() -> Prosody {
        Self::start_for(DOMAIN)
    }

    /// Start Prosody serving `domain`.
    pub fn start_for(domain: &str) -> Prosody {
        need("prosody");
        need("prosodyctl");
        need("openssl");
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sotto-prosody-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("create prosody dir");
        std::fs::create_dir_all(dir.join("certs")).expect("create cert dir");
        let certs = dir.join("certs");

        // CA, server key + CSR, server certificate (SAN = domain) signed by the CA.
        make_ca(&certs, "ca", "sotto test CA");
        make_ca(&certs, "other-ca", "unrelated CA");
        let key = certs.join(format!("{domain}.key"));
        let csr = certs.join(format!("{domain}.csr"));
        let crt = certs.join(format!("{domain}.crt"));
        run(
            Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                ])
                .args(["-subj", &format!("/CN={domain}")])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr),
            "openssl req (server CSR)",
        );
        let ext = certs.join("server.ext");
        std::fs::write(
            &ext,
            format!(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{domain}\n"
            ),
        )
        .expect("write ext file");
        run(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(certs.join("ca.crt"))
                .arg("-CAkey")
                .arg(certs.join("ca.key"))
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&crt),
            "openssl x509 (sign server certificate)",
        );

        let c2s_port = free_port();
        let mut direct_tls_port = free_port();
        while direct_tls_port == c2s_port {
            direct_tls_port = free_port();
        }
        let d = dir.display();
        let config = dir.join("prosody.cfg.lua");
        let cfg = format!(
            r#"-- Private test server written by sotto's tests. Nothing here is the system service.
run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
-- info, not debug: nothing about stanzas goes to disk.
log = {{ info = "{d}/prosody.log" }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
c2s_direct_tls_ports = {{ {direct_tls_port} }}
c2s_direct_tls_ssl = {{ key = "{key}"; certificate = "{crt}"; }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
-- No archive (mam), no offline storage, no carbons, no stream management: nothing keeps
-- messages. The roster module stores contacts only.
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "message"; "iq"; }}
modules_disabled = {{ "offline"; "s2s"; "posix"; "mam"; "carbons"; "smacks"; }}
authentication = "internal_hashed"
c2s_require_encryption = true
allow_unencrypted_plain_auth = false
allow_registration = false
storage = "internal"
certificates = "{certs}"
VirtualHost "{domain}"
  ssl = {{ key = "{key}"; certificate = "{crt}"; }}
"#,
            key = key.display(),
            crt = crt.display(),
            certs = certs.display(),
        );
        std::fs::write(&config, cfg).expect("write prosody config");

        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("stdout log");
        let stderr = stdout.try_clone().expect("clone log");
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn prosody");
        let mut p = Prosody {
            domain: domain.to_owned(),
            c2s_port,
            direct_tls_port,
            dir,
            config,
            child: Some(child),
        };
        p.wait_ready();
        p
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let up = [self.c2s_port, self.direct_tls_port].iter().all(|&port| {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if up {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("prosody exited early ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "prosody did not listen within 15 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Create account `user@domain` with `pass` (`prosodyctl --config ... register`).
    pub fn register(&self, user: &str, pass: &str) {
        run(
            Command::new("prosodyctl")
                .arg("--config")
                .arg(&self.config)
                .args(["register", user, &self.domain, pass]),
            "prosodyctl register",
        );
    }

    /// `user@domain`.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// PEM of the CA that signed the server certificate (trust this).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("certs").join("ca.crt")
    }

    /// PEM of an unrelated CA (trusting only this must fail certificate verification).
    pub fn other_ca_path(&self) -> PathBuf {
        self.dir.join("certs").join("other-ca.crt")
    }

    /// Prosody's storage directory (accounts, rosters; grep it for message text).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The private directory holding config, certificates, data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The config file path.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Prosody's log so far (for assertion messages).
    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default();
        let log = std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        for l in tail.into_iter().rev() {
            s.push('\n');
            s.push_str(l);
        }
        s
    }

    /// Pid of the Prosody process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("SOTTO_KEEP_PROSODY").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
