//! A hostile or broken server (a scripted TCP listener on 127.0.0.1: things a real server
//! would not send) must produce a clear error, never a panic or a hang, and never a
//! plaintext login. Runs by default (no external programs).
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

use sotto_xmpp::{XmppConfig, XmppError, connect};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='x' from='sotto.test' version='1.0'>";

/// Serve one connection: write `script` (after the client's first bytes), then keep reading
/// until the client gives up. Returns everything the client sent.
async fn run(script: Vec<u8>) -> (XmppError, Vec<u8>) {
    run_chunks(vec![script]).await
}

/// Like [`run`], writing the chunks 100 ms apart.
async fn run_chunks(script: Vec<Vec<u8>>) -> (XmppError, Vec<u8>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap_or(0);
        got.extend_from_slice(&buf[..n]);
        for chunk in script {
            let _ = s.write_all(&chunk).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        got
    });
    let mut cfg = XmppConfig::new("alice@sotto.test", "secret-password");
    cfg.server = Some(("127.0.0.1".into(), port));
    let err = tokio::time::timeout(Duration::from_secs(10), connect(cfg))
        .await
        .expect("connect must not hang")
        .expect_err("must fail");
    (err, server.await.unwrap())
}

fn proto(e: &XmppError, needle: &str) -> bool {
    matches!(e, XmppError::Protocol(m) if m.contains(needle))
}

#[tokio::test]
async fn not_xmpp_at_all() {
    let (e, _) = run(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()).await;
    assert!(proto(&e, "not an XML stream"), "{e:?}");
    let (e, _) = run(b"<html><body>hi</body></html>".to_vec()).await;
    assert!(proto(&e, "does not start with <stream:stream>"), "{e:?}");
    let (e, _) = run(vec![0xff, 0xfe, 0, 0x3c]).await;
    assert!(matches!(e, XmppError::Protocol(_)), "{e:?}");
}

#[tokio::test]
async fn closed_early_is_a_network_error() {
    let (e, _) = run(Vec::new()).await;
    assert!(matches!(e, XmppError::Network(_)), "{e:?}");
    let (e, _) = run(HEADER.as_bytes().to_vec()).await;
    assert!(matches!(e, XmppError::Network(_)), "{e:?}");
}

#[tokio::test]
async fn no_starttls_means_no_login_and_no_password_sent() {
    let script = format!(
        "{HEADER}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    );
    let (e, sent) = run(script.into_bytes()).await;
    assert!(
        matches!(&e, XmppError::Tls(m) if m.contains("STARTTLS")),
        "{e:?}"
    );
    let sent = String::from_utf8_lossy(&sent);
    assert!(
        !sent.contains("<auth"),
        "client started SASL in plaintext: {sent}"
    );
    assert!(!sent.contains("c2VjcmV0LXBhc3N3b3Jk"), "password sent");
}

#[tokio::test]
async fn starttls_refused_or_stream_errors() {
    let script = format!(
        "{HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>\
         <failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    );
    let (e, _) = run(script.into_bytes()).await;
    assert!(
        matches!(&e, XmppError::Tls(m) if m.contains("failure")),
        "{e:?}"
    );
    let script = format!(
        "{HEADER}<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
    );
    let (e, _) = run(script.into_bytes()).await;
    assert!(proto(&e, "stream error: host-unknown"), "{e:?}");
    // STARTTLS proceeds, then the "TLS" is garbage.
    let script = format!(
        "{HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>\
         <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    );
    let garbage = b"\x16\x03\x03\x00\x05garbage-not-a-server-hello".to_vec();
    let (e, _) = run_chunks(vec![script.clone().into_bytes(), garbage.clone()]).await;
    assert!(
        matches!(&e, XmppError::Tls(m) if m.contains("corrupt") || m.contains("invalid")),
        "{e:?}"
    );
    // The same bytes glued to <proceed/> (before our TLS hello): a protocol violation.
    let (e, _) = run([script.into_bytes(), garbage].concat()).await;
    assert!(matches!(e, XmppError::Protocol(_)), "{e:?}");
}

#[tokio::test]
async fn bad_headers_and_floods() {
    let old = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' id='x'><stream:features/>";
    let (e, _) = run(old.as_bytes().to_vec()).await;
    assert!(proto(&e, "XMPP 1.0"), "{e:?}");
    // An endless element: stopped at the size limit.
    let mut flood = format!("{HEADER}<stream:features><x>").into_bytes();
    flood.extend(std::iter::repeat_n(b'a', 2 << 20));
    let (e, _) = run(flood).await;
    assert!(proto(&e, "larger than 1 MiB"), "{e:?}");
    // Deep nesting.
    let deep = format!("{HEADER}{}", "<a>".repeat(1000));
    let (e, _) = run(deep.into_bytes()).await;
    assert!(proto(&e, "nested too deeply"), "{e:?}");
    // Entity expansion attempt.
    let bomb = "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'aaaa'>]><stream:stream/>";
    let (e, _) = run(bomb.as_bytes().to_vec()).await;
    assert!(matches!(e, XmppError::Protocol(_)), "{e:?}");
}
