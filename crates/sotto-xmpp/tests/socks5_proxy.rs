//! The XMPP connection through a real SOCKS5 proxy (Debian's `microsocks`), proving it goes
//! only through the proxy and that the server name is resolved by the proxy, never here.
//! Run: `cargo test -p sotto-xmpp --test socks5_proxy -- --ignored`.
//!
//! The proxy runs in its own mount namespace (`unshare --mount`, needs root as in CI) with a
//! private `/etc/hosts` that names the server `xmpp.proxy-only.test`; that name does not
//! resolve in this process. Own file, own process: the socket check below sees only this
//! test's connections.
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
use support::prosody::Prosody;

use sotto_xmpp::{MessageHints, Socks5Proxy, TlsMode, XmppConfig, XmppError, XmppEvent, connect};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const PROXY_ONLY_NAME: &str = "xmpp.proxy-only.test";

struct Microsocks {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_microsocks(dir: &std::path::Path) -> Microsocks {
    for cmd in ["microsocks", "unshare"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {cmd}")])
                .output()
                .unwrap()
                .status
                .success(),
            "`{cmd}` not found: install Debian's `microsocks` (and util-linux)"
        );
    }
    let hosts = dir.join("proxy-hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n127.0.0.1 {PROXY_ONLY_NAME}\n"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec microsocks -i 127.0.0.1 -p {port} -u sotto -P proxy-pw",
        hosts.display()
    );
    let child = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut m = Microsocks {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&m.addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(st)) = m.child.try_wait() {
            panic!(
                "microsocks (in `unshare --mount`) exited: {st}; this test needs root for the mount namespace"
            );
        }
        assert!(Instant::now() < deadline, "microsocks did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    m
}

/// Remote endpoints of this process's established TCP sockets (from /proc).
fn my_tcp_peers() -> Vec<SocketAddr> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(link) = std::fs::read_link(fd.path()) {
            let l = link.to_string_lossy().into_owned();
            if let Some(i) = l.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.push(i.to_owned());
            }
        }
    }
    let mut peers = Vec::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "01" || !inodes.iter().any(|i| i == f[9]) {
                continue; // not ESTABLISHED, or not ours
            }
            let (ip, port) = f[2].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            if ip.len() == 8 {
                let v = u32::from_str_radix(ip, 16).unwrap();
                peers.push(SocketAddr::from((v.to_le_bytes(), port)));
            } else {
                // IPv6: four little-endian u32 words.
                let mut b = [0u8; 16];
                for w in 0..4 {
                    let v = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).unwrap();
                    b[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
                }
                peers.push(SocketAddr::from((b, port)));
            }
        }
    }
    peers
}

fn config(p: &Prosody, proxy: SocketAddr, user: &str, tls: TlsMode, proxy_pw: &str) -> XmppConfig {
    let mut c = XmppConfig::new(&p.jid(user), &format!("pw-{user}"));
    let port = if tls == TlsMode::DirectTls {
        p.direct_tls_port
    } else {
        p.c2s_port
    };
    c.server = Some((PROXY_ONLY_NAME.into(), port));
    c.tls = tls;
    c.trusted_root = Some(p.ca_path());
    c.proxy = Some(Socks5Proxy {
        addr: proxy,
        username: Some("sotto".into()),
        password: Some(Zeroizing::new(proxy_pw.into())),
    });
    c
}

#[tokio::test]
#[ignore = "needs Debian's prosody, openssl, microsocks, and root for unshare"]
async fn xmpp_goes_only_through_the_socks5_proxy_which_resolves_the_name() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    p.register("bob", "pw-bob");
    let proxy = start_microsocks(p.dir());

    // The name means nothing here: any local resolution would fail the login.
    assert!(
        (PROXY_ONLY_NAME, 5222).to_socket_addrs().is_err(),
        "{PROXY_ONLY_NAME} must not resolve outside the proxy's namespace"
    );
    // Sanity: without the proxy the same config cannot even connect.
    let mut direct = config(&p, proxy.addr, "alice", TlsMode::StartTls, "proxy-pw");
    direct.proxy = None;
    assert!(matches!(
        connect(direct).await.unwrap_err(),
        XmppError::Network(_)
    ));

    // Wrong proxy password: a clear proxy error.
    let err = connect(config(&p, proxy.addr, "alice", TlsMode::StartTls, "wrong"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, XmppError::Proxy(m) if m.contains("rejected")),
        "{err:?}"
    );

    let (a, mut arx) = connect(config(
        &p,
        proxy.addr,
        "alice",
        TlsMode::StartTls,
        "proxy-pw",
    ))
    .await
    .unwrap_or_else(|e| panic!("alice via proxy: {e}\n{}", p.log()));
    let (b, mut brx) = connect(config(
        &p,
        proxy.addr,
        "bob",
        TlsMode::DirectTls,
        "proxy-pw",
    ))
    .await
    .unwrap_or_else(|e| panic!("bob via proxy (direct TLS): {e}\n{}", p.log()));
    assert!(a.bound_jid().starts_with("alice@sotto.test/"));

    // Every established TCP connection of this process goes to the proxy; none to Prosody.
    let peers = my_tcp_peers();
    assert!(
        peers.len() >= 2,
        "expected our two proxy connections, saw {peers:?}"
    );
    assert!(
        peers.iter().all(|&s| s == proxy.addr),
        "a connection bypasses the proxy: {peers:?} (proxy {})",
        proxy.addr
    );

    // And the tunnelled sessions work end to end.
    b.set_presence(true).await.unwrap();
    a.send_message(b.bound_jid(), "через прокси", MessageHints { otr: true })
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(XmppEvent::Message { from, body, hints }) = brx.recv().await {
                return (from, body, hints);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got.0, a.bound_jid());
    assert_eq!(got.1, "через прокси");
    assert!(got.2.is_otr());
    b.send_message(a.bound_jid(), "ok", MessageHints::default())
        .await
        .unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(XmppEvent::Message { body, .. }) = arx.recv().await {
                return body;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(back, "ok");
    a.close().await.unwrap();
    b.close().await.unwrap();
}
