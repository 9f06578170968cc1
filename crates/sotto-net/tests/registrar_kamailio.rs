//! Registration and a call routed through a real registrar/proxy: Debian's `kamailio`
//! (registrar + usrloc in memory, digest auth with `pv_www_authenticate` /
//! `pv_proxy_authenticate`, qop=auth), started by the test on 127.0.0.1 with a config written
//! here. Two sotto phones, driven by [`sotto_net::run_phone`] over real UDP sockets:
//!
//! * each registers (401 challenge → REGISTER with Authorization → 200) and reports
//!   `Registered`; alice's 3 s binding is refreshed before it expires;
//! * alice calls `sip:bob@sotto.test` through kamailio: 407 → INVITE with Proxy-Authorization
//!   → kamailio looks bob up and relays the INVITE to bob's registered contact; bob answers,
//!   ZRTP runs end to end (both show the same SAS), keys pressed by alice reach bob as DTMF;
//! * on `Stop` each phone unregisters (Expires: 0 → 200, `Unregistered`), and kamailio then
//!   answers an INVITE to bob with 404;
//! * a wrong password ends in `RegistrationFailed` with a readable reason;
//! * with kamailio set to SHA-256 digests (RFC 8760) registration works the same.
//!
//! Ignored by default: `cargo test -p sotto-net --test registrar_kamailio -- --ignored`
//! (needs `apt-get install -y kamailio`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    missing_docs,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sotto_call::phone::{Account, CallEvent, Phone, PhoneConfig, Zeroizing};
use sotto_net::{Command as PhoneCommand, TimedEvent, run_phone};
use sotto_proto::Zid;
use sotto_proto::crypto::{OsRandom, Random};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

#[path = "support/kamailio.rs"]
mod kamailio;
use kamailio::Kamailio;

struct Running {
    cmd: mpsc::UnboundedSender<PhoneCommand>,
    events: mpsc::UnboundedReceiver<TimedEvent>,
    seen: Vec<CallEvent>,
    driver: tokio::task::JoinHandle<std::io::Result<Phone>>,
}

impl Running {
    /// Waits for an event matching `f`, keeping every event seen.
    async fn wait(&mut self, what: &str, f: impl Fn(&CallEvent) -> bool) -> CallEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(e) = self.seen.iter().find(|e| f(e)) {
                let e = e.clone();
                let i = self.seen.iter().position(|x| *x == e).unwrap();
                self.seen.remove(i);
                return e;
            }
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    eprintln!("event: {:?}", e.event);
                    self.seen.push(e.event);
                }
                _ => panic!("no {what} event; seen {:?}", self.seen),
            }
        }
    }

    async fn stop(self) -> (Phone, Vec<CallEvent>) {
        let Self {
            cmd,
            mut events,
            mut seen,
            driver,
        } = self;
        cmd.send(PhoneCommand::Stop).unwrap();
        let phone = driver.await.unwrap().unwrap();
        while let Ok(e) = events.try_recv() {
            seen.push(e.event);
        }
        (phone, seen)
    }
}

async fn start_phone(user: &str, password: &str, expires: u32, registrar: SocketAddr) -> Running {
    let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut zid = [0u8; 12];
    OsRandom.fill(&mut zid);
    let mut cfg = PhoneConfig::new(
        sip.local_addr().unwrap(),
        media.local_addr().unwrap(),
        user,
        Zid(zid),
    );
    cfg.account = Some(Account {
        registrar,
        aor: format!("sip:{user}@sotto.test").parse().unwrap(),
        username: user.to_owned(),
        password: Zeroizing::new(password.to_owned()),
        expires,
    });
    let phone = Phone::new(
        cfg,
        Box::new(|| Box::new(OsRandom) as Box<dyn Random>),
        Box::new(|| None),
    );
    let (cmd, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, events) = mpsc::unbounded_channel();
    let driver = tokio::spawn(run_phone(phone, sip, media, cmd_rx, ev_tx));
    Running {
        cmd,
        events,
        seen: Vec::new(),
        driver,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio (Debian kamailio)"]
async fn register_refresh_call_via_kamailio_and_unregister() {
    let k = Kamailio::start("MD5", None);
    let t_bob = Instant::now();
    let mut bob = start_phone("bob", "pw-of-bob", 300, k.addr).await;
    let e = bob
        .wait("bob registered", |e| {
            matches!(e, CallEvent::Registered { .. })
        })
        .await;
    assert_eq!(e, CallEvent::Registered { expires: 300 });
    // REGISTER → 401 → REGISTER with Authorization → 200.
    eprintln!(
        "figure: registered (with the 401 round) in {:?}",
        t_bob.elapsed()
    );

    // A 3 s binding: refreshed at 90 %, i.e. a second Registered within ~2.7 s.
    let mut alice = start_phone("alice", "pw-of-alice", 3, k.addr).await;
    let t0 = Instant::now();
    alice
        .wait("alice registered", |e| {
            matches!(e, CallEvent::Registered { expires: 3 })
        })
        .await;
    alice
        .wait("alice refreshed", |e| {
            matches!(e, CallEvent::Registered { expires: 3 })
        })
        .await;
    let refresh = t0.elapsed();
    assert!(
        refresh >= Duration::from_millis(2500) && refresh < Duration::from_secs(4),
        "refresh after {refresh:?}"
    );

    // alice calls bob by his address of record, through kamailio.
    let t_call = Instant::now();
    alice
        .cmd
        .send(PhoneCommand::Call {
            target: "sip:bob@sotto.test".parse().unwrap(),
            peer: k.addr,
        })
        .unwrap();
    bob.wait("incoming call", |e| {
        matches!(e, CallEvent::IncomingCall { .. })
    })
    .await;
    bob.cmd.send(PhoneCommand::Answer).unwrap();
    let sas_of = |e: CallEvent| match e {
        CallEvent::Secure(s) => s.sas,
        other => panic!("{other:?}"),
    };
    let sas_a = sas_of(
        alice
            .wait("alice secure", |e| matches!(e, CallEvent::Secure(_)))
            .await,
    );
    let sas_b = sas_of(
        bob.wait("bob secure", |e| matches!(e, CallEvent::Secure(_)))
            .await,
    );
    assert_eq!(sas_a, sas_b, "different SAS through the proxy");
    eprintln!(
        "figure: INVITE (407 round, relayed by kamailio, answered at once) to both SAS in {:?}",
        t_call.elapsed()
    );
    for d in ['4', '2'] {
        alice.cmd.send(PhoneCommand::Dtmf { digit: d }).unwrap();
    }
    for d in ['4', '2'] {
        let e = bob
            .wait("DTMF", |e| matches!(e, CallEvent::Dtmf { .. }))
            .await;
        assert_eq!(e, CallEvent::Dtmf { digit: d });
    }
    alice.cmd.send(PhoneCommand::Hangup).unwrap();
    bob.wait("bob ended", |e| matches!(e, CallEvent::Ended { .. }))
        .await;

    let log = k.log_text();
    let invites: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sotto-test: INVITE sip:bob@sotto.test"))
        .collect();
    assert_eq!(
        invites.len(),
        2,
        "INVITE, then INVITE with credentials:\n{log}"
    );
    assert!(invites[1].contains("Digest username=\"alice\""), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("sotto-test: REGISTER") && l.contains("username=\"bob\"")),
        "{log}"
    );

    let (_, seen_a) = alice.stop().await;
    let (_, seen_b) = bob.stop().await;
    assert!(seen_a.contains(&CallEvent::Unregistered), "{seen_a:?}");
    assert!(seen_b.contains(&CallEvent::Unregistered), "{seen_b:?}");

    // bob is gone from the location table: a new call to him gets 404 from kamailio.
    let mut carol = start_phone("carol", "pw-of-carol", 60, k.addr).await;
    carol
        .wait("carol registered", |e| {
            matches!(e, CallEvent::Registered { .. })
        })
        .await;
    carol
        .cmd
        .send(PhoneCommand::Call {
            target: "sip:bob@sotto.test".parse().unwrap(),
            peer: k.addr,
        })
        .unwrap();
    let e = carol
        .wait("call refused", |e| matches!(e, CallEvent::Ended { .. }))
        .await;
    assert_eq!(
        e,
        CallEvent::Ended {
            reason: "the call was not accepted (SIP 404)".into()
        }
    );
    carol.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio (Debian kamailio)"]
async fn wrong_password_is_reported() {
    let k = Kamailio::start("MD5", None);
    let mut eve = start_phone("eve", "not-the-password", 60, k.addr).await;
    let e = eve
        .wait("registration failed", |e| {
            matches!(e, CallEvent::RegistrationFailed { .. })
        })
        .await;
    assert_eq!(
        e,
        CallEvent::RegistrationFailed {
            reason: "the registrar did not accept the user name or password".into()
        }
    );
    let (_, seen) = eve.stop().await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, CallEvent::Registered { .. })),
        "{seen:?}"
    );
}

/// RFC 8760: the same registration with SHA-256 digests (kamailio's `algorithm` SHA-256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio (Debian kamailio)"]
async fn register_with_sha256_digest() {
    let k = Kamailio::start("SHA-256", None);
    let mut dave = start_phone("dave", "pw-of-dave", 60, k.addr).await;
    let e = dave
        .wait("registered", |e| {
            matches!(
                e,
                CallEvent::Registered { .. } | CallEvent::RegistrationFailed { .. }
            )
        })
        .await;
    assert_eq!(e, CallEvent::Registered { expires: 60 });
    let log = k.log_text();
    assert!(
        log.lines().any(|l| l.contains("sotto-test: REGISTER")
            && l.contains("username=\"dave\"")
            && l.contains("algorithm=SHA-256")),
        "{log}"
    );
    let (_, seen) = dave.stop().await;
    assert!(seen.contains(&CallEvent::Unregistered), "{seen:?}");
}
