//! A private kamailio registrar/proxy for tests (Debian's `kamailio` package; never the system
//! service), shared by `sotto-net`'s registrar test and the `sotto` app's account test.
//!
//! Self-contained (std only) so other test crates can use it:
//!
//! ```ignore
//! #[path = "../../../crates/sotto-net/tests/support/kamailio.rs"]
//! mod kamailio;
//! let k = kamailio::Kamailio::start("MD5", None);  // panics with a clear message if missing
//! // register user U with password "pw-of-U" at k.addr; k.log_text() has one
//! // "sotto-test: METHOD R-URI ..." line per request it saw.
//! ```
//!
//! What it runs: registrar + usrloc in memory, digest auth with `pv_www_authenticate` for
//! REGISTER and `pv_proxy_authenticate` for everything else (qop=auth, password `pw-of-USER`),
//! INVITEs relayed to the registered contact or answered 404; on 127.0.0.1 only, on a free UDP
//! port, from a fresh directory under the system temp dir (deleted on drop).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs it.
pub const KAMAILIO: &str = "/usr/sbin/kamailio";

/// The configuration: listening on 127.0.0.1:`port`, digests with `algorithm` (`MD5` or
/// `SHA-256`, RFC 8760), and `alias` (a domain it takes as its own) when given.
fn config(port: u16, algorithm: &str, alias: Option<&str>) -> String {
    let alias = alias
        .map(|a| format!("alias=\"{a}\"\n"))
        .unwrap_or_default();
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
{alias}mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("auth", "algorithm", "{algorithm}")

request_route {{
    xlog("L_NOTICE", "sotto-test: $rm $ru from $si:$sp to=$td au=$au auth=$hdr(Authorization)$hdr(Proxy-Authorization)\n");
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

/// A running kamailio; killed (SIGTERM, so its children exit too) and its directory deleted
/// on drop, its log printed if the test is failing.
pub struct Kamailio {
    child: Child,
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    log: PathBuf,
    dir: PathBuf,
}

impl Kamailio {
    /// Starts it with digest `algorithm` (`MD5` or `SHA-256`) and the domain `alias` if any,
    /// and waits until it listens.
    pub fn start(algorithm: &str, alias: Option<&str>) -> Self {
        assert!(
            std::path::Path::new(KAMAILIO).exists(),
            "{KAMAILIO} not found: apt-get install -y kamailio"
        );
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("sotto-kamailio-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, config(port, algorithm, alias)).unwrap();
        let log = dir.join("kamailio.log");
        let child = Command::new(KAMAILIO)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E"])
            .arg("-w")
            .arg(&dir)
            .arg("-Y")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let k = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            dir,
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

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM so kamailio's children exit with it.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("kamailio log:\n{}", self.log_text());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
