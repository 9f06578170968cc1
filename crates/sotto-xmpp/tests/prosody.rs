//! sotto-xmpp against a real, private Prosody (Debian's `prosody`), on 127.0.0.1.
//! Run: `cargo test -p sotto-xmpp --test prosody -- --ignored`.
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

use sotto_xmpp::stanza::{NS_IQ_OOB, NS_JINGLE, NS_SI, NS_SI_FILE};
use sotto_xmpp::xml::{Element, NS_CLIENT};
use sotto_xmpp::{MessageHints, TlsMode, XmppClient, XmppConfig, XmppError, XmppEvent, connect};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

fn config(p: &Prosody, user: &str, pass: &str, tls: TlsMode) -> XmppConfig {
    let mut c = XmppConfig::new(&p.jid(user), pass);
    c.resource = Some(format!("test-{user}"));
    let port = match tls {
        TlsMode::DirectTls => p.direct_tls_port,
        _ => p.c2s_port,
    };
    c.server = Some(("127.0.0.1".into(), port));
    c.tls = tls;
    c.trusted_root = Some(p.ca_path());
    c
}

async fn login(p: &Prosody, user: &str) -> (XmppClient, Receiver<XmppEvent>) {
    connect(config(p, user, &format!("pw-{user}"), TlsMode::StartTls))
        .await
        .unwrap_or_else(|e| panic!("login {user}: {e}\n{}", p.log()))
}

/// Wait (10 s max) for the first event matching `pred`, skipping others.
async fn wait_for(
    rx: &mut Receiver<XmppEvent>,
    what: &str,
    pred: impl Fn(&XmppEvent) -> bool,
) -> XmppEvent {
    let fut = async {
        loop {
            match rx.recv().await {
                Some(ev) if pred(&ev) => return ev,
                Some(XmppEvent::Disconnected { reason }) => {
                    panic!("disconnected while waiting for {what}: {reason}")
                }
                Some(_) => {}
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn recv_message(rx: &mut Receiver<XmppEvent>) -> (String, String, sotto_xmpp::ReceivedHints) {
    match wait_for(rx, "a message", |e| matches!(e, XmppEvent::Message { .. })).await {
        XmppEvent::Message { from, body, hints } => (from, body, hints),
        _ => unreachable!(),
    }
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn starttls_and_direct_tls_login_bind_and_roster() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    for mode in [TlsMode::StartTls, TlsMode::DirectTls] {
        let t0 = std::time::Instant::now();
        let (c, mut rx) = connect(config(&p, "alice", "pw-alice", mode))
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}\n{}", p.log()));
        assert_eq!(c.bound_jid(), "alice@sotto.test/test-alice", "{mode:?}");
        eprintln!(
            "{mode:?} login (TCP, TLS, {}, bind, roster) took {:?}",
            c.sasl_mechanism(),
            t0.elapsed()
        );
        // Prosody's internal_hashed store only supports SCRAM; PLAIN is never used here.
        assert!(
            c.sasl_mechanism().starts_with("SCRAM-SHA-"),
            "{}",
            c.sasl_mechanism()
        );
        let ev = wait_for(&mut rx, "roster", |e| matches!(e, XmppEvent::Roster(_))).await;
        assert_eq!(ev, XmppEvent::Roster(vec![]));
        // A round trip through the live session: ping our own server.
        let pong = c
            .iq(Element::new("iq", NS_CLIENT)
                .attr("type", "get")
                .attr("to", "sotto.test")
                .child(Element::new("ping", "urn:xmpp:ping")))
            .await
            .unwrap();
        assert_eq!(pong.get_attr("type"), Some("result"));
        c.close().await.unwrap();
        let ev = wait_for(&mut rx, "disconnect", |e| {
            matches!(e, XmppEvent::Disconnected { .. })
        })
        .await;
        assert_eq!(
            ev,
            XmppEvent::Disconnected {
                reason: "closed by us".into()
            }
        );
    }
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn wrong_password_is_a_clear_auth_error() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    for mode in [TlsMode::StartTls, TlsMode::DirectTls] {
        let err = connect(config(&p, "alice", "not-the-password", mode))
            .await
            .unwrap_err();
        match &err {
            XmppError::AuthFailed(m) => assert!(m.contains("not-authorized"), "{m}"),
            other => panic!("{mode:?}: expected AuthFailed, got {other:?}"),
        }
        assert!(err.to_string().starts_with("authentication failed"));
    }
    // Unknown account: same error, nothing more revealed.
    let err = connect(config(&p, "nobody", "x", TlsMode::StartTls))
        .await
        .unwrap_err();
    assert!(matches!(err, XmppError::AuthFailed(_)), "{err:?}");
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn wrong_ca_or_wrong_name_is_a_certificate_error() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    for mode in [TlsMode::StartTls, TlsMode::DirectTls] {
        // An unrelated CA.
        let mut c = config(&p, "alice", "pw-alice", mode);
        c.trusted_root = Some(p.other_ca_path());
        let err = connect(c).await.unwrap_err();
        assert!(
            matches!(&err, XmppError::Certificate(m) if m.contains("UnknownIssuer")),
            "{mode:?}: {err:?}"
        );
        // The public roots (webpki-roots) do not know our test CA either.
        let mut c = config(&p, "alice", "pw-alice", mode);
        c.trusted_root = None;
        let err = connect(c).await.unwrap_err();
        assert!(
            matches!(err, XmppError::Certificate(_)),
            "{mode:?}: {err:?}"
        );
    }
    // Right CA, but the certificate is for another name than the JID's domain: a rustls
    // server (Prosody itself refuses the unknown SNI name before showing a certificate)
    // presenting Prosody's sotto.test certificate to a client that logs in to other.test.
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> =
        rustls_pki_types::CertificateDer::pem_file_iter(p.dir().join("certs/sotto.test.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(p.dir().join("certs/sotto.test.key"))
        .unwrap();
    let server_cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_cfg));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.map(|_| ())
    });
    let mut c = config(&p, "alice", "pw-alice", TlsMode::DirectTls);
    c.jid = "alice@other.test".into();
    c.server = Some(("127.0.0.1".into(), port));
    let err = connect(c).await.unwrap_err();
    assert!(
        matches!(&err, XmppError::Certificate(m) if m.contains("NotValidForName")),
        "{err:?}"
    );
    assert!(
        server.await.unwrap().is_err(),
        "the client must abort the handshake"
    );
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn two_clients_exchange_messages_both_ways_with_otr_hints() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    p.register("bob", "pw-bob");
    let (a, mut arx) = login(&p, "alice").await;
    let (b, mut brx) = login(&p, "bob").await;
    a.set_presence(true).await.unwrap();
    b.set_presence(true).await.unwrap();
    // Bob's presence is processed once the server reflects it to him (RFC 6121 §4.2.2);
    // only then does a message to his bare JID have an available resource to go to.
    let bob_full = b.bound_jid().to_owned();
    wait_for(&mut brx, "own presence", |e| {
        *e == XmppEvent::Presence {
            from: bob_full.clone(),
            available: true,
        }
    })
    .await;

    // Non-ASCII, markup characters, to the bare JID, with OTR hints.
    let hello = "Grüße aus Zürich — 世界 🎉 <b>&amp;</b> 'quoted' \"double\"";
    a.send_message("bob@sotto.test", hello, MessageHints { otr: true })
        .await
        .unwrap();
    let (from, body, hints) = recv_message(&mut brx).await;
    assert_eq!(from, a.bound_jid());
    assert_eq!(body, hello);
    assert!(
        hints.no_copy && hints.no_store && hints.no_permanent_store && hints.private,
        "{hints:?}"
    );
    assert_eq!(hints.encryption.as_deref(), Some("urn:xmpp:otr:0"));
    assert!(hints.is_otr());

    // Long reply to the full JID, without hints.
    let long: String = (0..3000)
        .map(|i| format!("{i}:ü∑{}", if i % 7 == 0 { "\n" } else { " " }))
        .collect();
    assert!(long.len() > 20_000);
    b.send_message(a.bound_jid(), &long, MessageHints::default())
        .await
        .unwrap();
    let (from, body, hints) = recv_message(&mut arx).await;
    assert_eq!(from, b.bound_jid());
    assert_eq!(body, long);
    assert!(!hints.is_otr());
    assert_eq!(hints, sotto_xmpp::ReceivedHints::default());

    // Many in a row arrive in order.
    let t0 = std::time::Instant::now();
    for i in 0..50 {
        a.send_message(b.bound_jid(), &format!("n{i}"), MessageHints { otr: true })
            .await
            .unwrap();
    }
    for i in 0..50 {
        let (_, body, _) = recv_message(&mut brx).await;
        assert_eq!(body, format!("n{i}"));
    }
    eprintln!(
        "50 hinted messages alice -> Prosody -> bob in {:?}",
        t0.elapsed()
    );

    // A message to an account that is offline bounces (no offline storage on this server).
    p.register("carol", "pw-carol");
    a.send_message(
        "carol@sotto.test",
        "are you there?",
        MessageHints { otr: true },
    )
    .await
    .unwrap();
    let ev = wait_for(&mut arx, "bounce", |e| {
        matches!(e, XmppEvent::MessageError { .. })
    })
    .await;
    assert_eq!(
        ev,
        XmppEvent::MessageError {
            from: "carol@sotto.test".into(),
            condition: "service-unavailable".into()
        }
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
    // Nothing of the conversation is in Prosody's storage.
    for needle in ["Zürich", "are you there", "n49", "2999:"] {
        assert!(
            !grep_dir(&p.data_dir(), needle.as_bytes()),
            "{needle:?} found in Prosody's data dir"
        );
    }
}

fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            grep_dir(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|d| d.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn presence_after_mutual_subscription() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    p.register("bob", "pw-bob");
    let (a, mut arx) = login(&p, "alice").await;
    let (b, mut brx) = login(&p, "bob").await;
    b.set_presence(true).await.unwrap();
    a.set_presence(true).await.unwrap();

    a.subscribe("bob@sotto.test").await.unwrap();
    let ev = wait_for(&mut brx, "subscription request", |e| {
        matches!(e, XmppEvent::SubscriptionRequest { .. })
    })
    .await;
    assert_eq!(
        ev,
        XmppEvent::SubscriptionRequest {
            from: "alice@sotto.test".into()
        }
    );
    b.approve_subscription("alice@sotto.test").await.unwrap();
    // Alice's roster now has bob with subscription "to", pushed by the server.
    wait_for(&mut arx, "roster push", |e| {
        matches!(e, XmppEvent::Roster(items) if items.iter().any(|i| i.jid == "bob@sotto.test" && i.subscription == "to"))
    })
    .await;
    // ...and she sees bob's current presence.
    let bob_full = b.bound_jid().to_owned();
    wait_for(&mut arx, "bob available", |e| {
        *e == XmppEvent::Presence {
            from: bob_full.clone(),
            available: true,
        }
    })
    .await;
    // Bob going unavailable is seen by alice.
    b.set_presence(false).await.unwrap();
    wait_for(&mut arx, "bob unavailable", |e| {
        *e == XmppEvent::Presence {
            from: bob_full.clone(),
            available: false,
        }
    })
    .await;
    b.set_presence(true).await.unwrap();
    wait_for(&mut arx, "bob back", |e| {
        *e == XmppEvent::Presence {
            from: bob_full.clone(),
            available: true,
        }
    })
    .await;
    // Bob did not subscribe to alice, so he gets no presence from her (directed by the
    // server only along subscriptions); his login sees the roster with alice as "from".
    b.close().await.unwrap();
    wait_for(&mut arx, "bob gone", |e| {
        *e == XmppEvent::Presence {
            from: bob_full.clone(),
            available: false,
        }
    })
    .await;
    let (_b2, mut b2rx) = login(&p, "bob").await;
    wait_for(&mut b2rx, "bob's roster", |e| {
        matches!(e, XmppEvent::Roster(items) if items.iter().any(|i| i.jid == "alice@sotto.test" && i.subscription == "from"))
    })
    .await;
    a.close().await.unwrap();
}

fn error_condition(iq: &Element) -> Option<String> {
    sotto_xmpp::stanza::error_condition(iq)
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn file_offers_are_refused_and_unknown_iqs_get_service_unavailable() {
    let p = Prosody::start();
    p.register("alice", "pw-alice");
    p.register("bob", "pw-bob");
    let (a, _arx) = login(&p, "alice").await;
    let (b, mut brx) = login(&p, "bob").await;
    let bob = b.bound_jid().to_owned();

    // XEP-0096 SI file transfer offer.
    let si = Element::new("iq", NS_CLIENT)
        .attr("type", "set")
        .attr("to", &bob)
        .child(
            Element::new("si", NS_SI)
                .attr("id", "s1")
                .attr("profile", NS_SI_FILE)
                .child(
                    Element::new("file", NS_SI_FILE)
                        .attr("name", "dossier.pdf")
                        .attr("size", "1022"),
                ),
        );
    let r = a.iq(si).await.unwrap();
    assert_eq!(r.get_attr("type"), Some("error"));
    assert_eq!(error_condition(&r).as_deref(), Some("forbidden"));
    let ev = wait_for(&mut brx, "SI refusal", |e| {
        matches!(e, XmppEvent::FileOfferRefused { .. })
    })
    .await;
    let XmppEvent::FileOfferRefused { from, what } = ev else {
        unreachable!()
    };
    assert_eq!(from, a.bound_jid());
    assert!(
        what.contains("dossier.pdf") && what.contains("XEP-0096"),
        "{what}"
    );

    // XEP-0234 Jingle file transfer.
    let ft = "urn:xmpp:jingle:apps:file-transfer:5";
    let jingle = Element::new("iq", NS_CLIENT)
        .attr("type", "set")
        .attr("to", &bob)
        .child(
            Element::new("jingle", NS_JINGLE)
                .attr("action", "session-initiate")
                .attr("sid", "j1")
                .attr("initiator", a.bound_jid())
                .child(
                    Element::new("content", NS_JINGLE)
                        .attr("creator", "initiator")
                        .attr("name", "f")
                        .child(
                            Element::new("description", ft).child(
                                Element::new("file", ft)
                                    .child(Element::new("name", ft).text("photos.zip")),
                            ),
                        ),
                ),
        );
    let r = a.iq(jingle).await.unwrap();
    assert_eq!(r.get_attr("type"), Some("error"));
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    let ev = wait_for(&mut brx, "Jingle refusal", |e| {
        matches!(e, XmppEvent::FileOfferRefused { .. })
    })
    .await;
    assert!(
        matches!(&ev, XmppEvent::FileOfferRefused { what, .. } if what.contains("photos.zip")),
        "{ev:?}"
    );

    // XEP-0066 OOB IQ.
    let oob = Element::new("iq", NS_CLIENT)
        .attr("type", "set")
        .attr("to", &bob)
        .child(
            Element::new("query", NS_IQ_OOB)
                .child(Element::new("url", NS_IQ_OOB).text("https://x.invalid/a.exe")),
        );
    let r = a.iq(oob).await.unwrap();
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    let ev = wait_for(&mut brx, "OOB refusal", |e| {
        matches!(e, XmppEvent::FileOfferRefused { .. })
    })
    .await;
    assert!(
        matches!(&ev, XmppEvent::FileOfferRefused { what, .. } if what.contains("a.exe")),
        "{ev:?}"
    );

    // Unknown IQ get: service-unavailable (RFC 6120 §8.4); ping: answered.
    let unknown = Element::new("iq", NS_CLIENT)
        .attr("type", "get")
        .attr("to", &bob)
        .child(Element::new("query", "jabber:iq:version"));
    let r = a.iq(unknown).await.unwrap();
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    let ping = Element::new("iq", NS_CLIENT)
        .attr("type", "get")
        .attr("to", &bob)
        .child(Element::new("ping", "urn:xmpp:ping"));
    assert_eq!(a.iq(ping).await.unwrap().get_attr("type"), Some("result"));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs Debian's prosody and openssl"]
async fn non_ascii_password_logs_in_with_scram() {
    let p = Prosody::start();
    // Already in SASLprep normal form (NFKC, no mapped characters), which the `sasl` crate
    // assumes (it does not apply SASLprep itself).
    let pw = "pässwörd-日本-😀";
    p.register("dora", pw);
    let mut c = XmppConfig::new(&p.jid("dora"), pw);
    c.server = Some(("127.0.0.1".into(), p.c2s_port));
    c.trusted_root = Some(p.ca_path());
    let (client, _rx) = connect(c)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log()));
    assert!(client.sasl_mechanism().starts_with("SCRAM-"));
    client.close().await.unwrap();
}
