#![allow(
    clippy::disallowed_methods,
    reason = "one real Instant as the origin of the virtual clock"
)]
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
//! Digest authentication (RFC 8760 / RFC 7616) for REGISTER and INVITE, through sotto-netem:
//! 401/407 challenge → retried request with CSeq + 1, refresh with the next nc.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sotto_netem::{Endpoint, Link, NetemConfig, Pair};
use sotto_sip::auth::{Algorithm, Authorization, Challenge, Credentials};
use sotto_sip::register::{RegEvent, RegOutput, Registration, RegistrationConfig};
use sotto_sip::ua::{EndReason, UaConfig, UaEvent, UaOutput};
use sotto_sip::{Message, Method, NameAddr, Request, Uri, UserAgent};

mod support;
use support::Seeded;

const PASSWORD: &[u8] = b"correct horse";

/// A registrar written from RFC 3261 §10.3 for the test: challenges with SHA-256 and MD5,
/// verifies credentials with the password, grants 120 s.
#[derive(Default)]
struct Registrar {
    out: VecDeque<Vec<u8>>,
    nonce_counter: u32,
    last_nc: u32,
    seen: Vec<Request>,
    answered: Vec<(String, Vec<u8>)>,
    challenges: u32,
    registered: u32,
}

impl Registrar {
    fn challenge(&mut self, req: &Request) -> Vec<u8> {
        self.nonce_counter += 1;
        self.challenges += 1;
        let mut r = req.reply(401, "Unauthorized", Some("reg"));
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let ch = Challenge {
                realm: "sotto.test".into(),
                nonce: format!("nonce{}", self.nonce_counter),
                opaque: Some("op".into()),
                algorithm: alg,
                qop: vec!["auth".into()],
                stale: false,
            };
            r.headers.push("WWW-Authenticate", ch.to_header());
        }
        r.to_bytes()
    }
}

impl Endpoint for Registrar {
    fn handle_datagram(&mut self, _now: Instant, data: &[u8]) {
        let Ok(Message::Request(req)) = Message::parse(data) else {
            return;
        };
        assert_eq!(req.method, Method::Register);
        // A retransmission gets the same answer (what a server transaction does, §17.2.2).
        let branch = req.branch().unwrap();
        if let Some((_, reply)) = self.answered.iter().find(|(b, _)| *b == branch) {
            self.out.push_back(reply.clone());
            return;
        }
        self.seen.push(req.clone());
        let reply = match req.headers.get("Authorization").map(Authorization::parse) {
            Some(Ok(a))
                if a.verify(&Method::Register, PASSWORD)
                    && a.nonce == format!("nonce{}", self.nonce_counter) =>
            {
                assert_eq!(
                    a.algorithm,
                    Algorithm::Sha256,
                    "the client picks the stronger algorithm (RFC 8760 §2.4)"
                );
                let (nc, _) = a.qop_auth.clone().unwrap();
                if nc <= self.last_nc {
                    // A replayed nc is refused with a fresh challenge.
                    self.challenge(&req)
                } else {
                    self.last_nc = nc;
                    self.registered += 1;
                    let mut r = req.reply(200, "OK", Some("reg"));
                    r.headers.push(
                        "Contact",
                        format!("{};expires=120", req.headers.get("Contact").unwrap()),
                    );
                    r.to_bytes()
                }
            }
            _ => self.challenge(&req),
        };
        self.answered.push((branch, reply.clone()));
        self.out.push_back(reply);
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

struct Client {
    reg: Registration,
    out: VecDeque<Vec<u8>>,
    events: Vec<RegEvent>,
}

impl Client {
    fn pump(&mut self) {
        while let Some(o) = self.reg.poll_output() {
            match o {
                RegOutput::Transmit { data, .. } => self.out.push_back(data),
                RegOutput::Event(e) => self.events.push(e),
            }
        }
    }
}

impl Endpoint for Client {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        self.reg.handle_datagram(now, data);
        self.pump();
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.reg.handle_timeout(now);
        self.pump();
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.reg.poll_timeout()
    }
}

/// A client that has sent its first REGISTER at `t0`.
fn registering(password: &[u8], t0: Instant) -> Client {
    let mut c = Client {
        reg: registration(password),
        out: VecDeque::new(),
        events: Vec::new(),
    };
    c.reg.register(t0).unwrap();
    c.pump();
    c
}

fn registration(password: &[u8]) -> Registration {
    let cfg = RegistrationConfig {
        registrar: "sip:sotto.test".parse().unwrap(),
        aor: "sip:alice@sotto.test".parse().unwrap(),
        contact: NameAddr::parse("<sip:alice@192.0.2.1:5060>").unwrap(),
        expires: 300,
        server: "192.0.2.9:5060".parse().unwrap(),
        local_addr: "192.0.2.1:5060".parse().unwrap(),
        transport: Default::default(),
        timers: Default::default(),
        credentials: Some(Credentials::new("alice", password)),
    };
    Registration::new(cfg, Box::new(Seeded(ChaCha8Rng::seed_from_u64(3))))
}

#[test]
fn register_challenge_retry_and_refresh() {
    for (seed, loss) in [(0u64, 0.0), (11, 0.1), (12, 0.1)] {
        let t0 = Instant::now();
        let c = registering(PASSWORD, t0);
        let r = Registrar::default();
        let link = if loss > 0.0 {
            Link::symmetric(NetemConfig::new().loss(loss), seed)
        } else {
            Link::perfect()
        };
        let mut p = Pair::new(c, r, link, t0);
        let res = p.drive_until(
            |c, _| {
                c.events
                    .iter()
                    .filter(|e| matches!(e, RegEvent::Registered { .. }))
                    .count()
                    >= 3
            },
            Duration::from_secs(400),
        );
        if res.is_err() {
            for q in &p.b().seen {
                println!("{}", String::from_utf8_lossy(&q.to_bytes()));
            }
            panic!("seed {seed}: {res:?} {:?}", p.a().events);
        }
        let (c, r) = (p.a(), p.b());
        assert_eq!(
            c.events[0],
            RegEvent::Registered { expires: 120 },
            "seed {seed}"
        );
        // Refreshes at 90 % of 120 s = 108 s, with the cached challenge: no new 401.
        assert!(
            p.elapsed() >= Duration::from_secs(216) && p.elapsed() < Duration::from_secs(230),
            "{:?}",
            p.elapsed()
        );
        assert_eq!(
            r.challenges, 1,
            "seed {seed}: one challenge for three registrations"
        );
        // The retried REGISTER: same Call-ID, CSeq + 1, new branch.
        let first = &r.seen[0];
        let retry = r
            .seen
            .iter()
            .find(|q| q.headers.get("Authorization").is_some())
            .unwrap();
        assert_eq!(
            first.headers.call_id().unwrap(),
            retry.headers.call_id().unwrap()
        );
        assert_eq!(
            retry.headers.cseq().unwrap().seq,
            first.headers.cseq().unwrap().seq + 1
        );
        assert_ne!(
            first.headers.top_via().unwrap().branch(),
            retry.headers.top_via().unwrap().branch()
        );
        let last = r.seen.last().unwrap();
        assert!(
            last.headers
                .get("Authorization")
                .unwrap()
                .contains("nc=00000003"),
            "{}",
            last.headers.get("Authorization").unwrap()
        );
        if loss == 0.0 {
            assert_eq!(r.seen.len(), 4);
        }
    }
}

#[test]
fn register_wrong_password_fails_after_one_retry() {
    let t0 = Instant::now();
    let c = registering(b"wrong", t0);
    let r = Registrar::default();
    let mut p = Pair::new(c, r, Link::perfect(), t0);
    p.drive_until(|c, _| !c.events.is_empty(), Duration::from_secs(60))
        .unwrap();
    // A wrong password draws a fresh challenge (new nonce) each time; the client gives up.
    assert!(matches!(p.a().events[0], RegEvent::Failed { status: 401 }));
    assert!(p.b().seen.len() <= 4);
    assert_eq!(p.b().registered, 0);
}

/// An authenticating proxy in front of the callee: every INVITE without valid
/// Proxy-Authorization gets 407; the ACK for the 407 is absorbed; authorized ones go through.
#[derive(Default)]
struct ProxyGuard {
    challenged: u32,
    invites: Vec<Request>,
}

impl ProxyGuard {
    /// Answers `data` itself (queueing a 407 on `out`, or absorbing the ACK of one) and
    /// returns true, or returns false to let it through to the user agent.
    fn intercept(&mut self, data: &[u8], out: &mut VecDeque<Vec<u8>>) -> bool {
        if let Ok(Message::Request(req)) = Message::parse(data) {
            if req.method == Method::Invite {
                self.invites.push(req.clone());
                let ok = req
                    .headers
                    .get("Proxy-Authorization")
                    .and_then(|v| Authorization::parse(v).ok())
                    .is_some_and(|a| a.verify(&Method::Invite, PASSWORD));
                if !ok {
                    self.challenged += 1;
                    let mut r = req.reply(407, "Proxy Authentication Required", Some("px"));
                    let ch = Challenge {
                        realm: "sotto.test".into(),
                        nonce: "n407".into(),
                        opaque: None,
                        algorithm: Algorithm::Md5,
                        qop: vec!["auth".into()],
                        stale: false,
                    };
                    r.headers.push("Proxy-Authenticate", ch.to_header());
                    out.push_back(r.to_bytes());
                    return true;
                }
            }
            if req.method == Method::Ack && req.headers.to().unwrap().tag() == Some("px") {
                return true; // the ACK of our 407
            }
        }
        false
    }
}

/// A user agent on the simulated network that reacts to each of its events with `react`,
/// optionally behind a [`ProxyGuard`].
struct Phone {
    ua: UserAgent,
    peer: SocketAddr,
    out: VecDeque<Vec<u8>>,
    events: Vec<UaEvent>,
    react: fn(&mut UserAgent, Instant, &UaEvent),
    guard: Option<ProxyGuard>,
}

impl Endpoint for Phone {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if let Some(g) = self.guard.as_mut()
            && g.intercept(data, &mut self.out)
        {
            return;
        }
        self.ua.handle_datagram(now, self.peer, data);
        self.pump(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        self.pump(now);
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.ua.poll_timeout()
    }
}

impl Phone {
    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.ua.poll_output() {
            match o {
                UaOutput::Transmit { data, .. } => self.out.push_back(data),
                UaOutput::Event(e) => {
                    (self.react)(&mut self.ua, now, &e);
                    self.events.push(e);
                }
            }
        }
    }
}

/// The callee answers every call.
fn answer(ua: &mut UserAgent, now: Instant, e: &UaEvent) {
    if let UaEvent::IncomingCall { call, .. } = e {
        ua.answer(now, *call, Vec::new()).unwrap();
    }
}

/// The caller hangs up once answered.
fn hang_up(ua: &mut UserAgent, now: Instant, e: &UaEvent) {
    if let UaEvent::Answered { call, .. } = e {
        ua.hangup(now, *call).unwrap();
    }
}

#[test]
fn invite_407_challenge_is_answered_with_cseq_plus_one() {
    let t0 = Instant::now();
    let mut cfg = UaConfig::new("192.0.2.1:5060".parse().unwrap(), "alice");
    cfg.credentials = Some(Credentials::new("alice", PASSWORD));
    let mut a = Phone {
        ua: UserAgent::new(cfg, Box::new(Seeded(ChaCha8Rng::seed_from_u64(1)))),
        peer: "192.0.2.2:5060".parse().unwrap(),
        out: VecDeque::new(),
        events: Vec::new(),
        react: hang_up,
        guard: None,
    };
    let target: Uri = "sip:bob@192.0.2.2:5060".parse().unwrap();
    a.ua.invite(t0, target, "192.0.2.2:5060".parse().unwrap(), Vec::new());
    a.pump(t0);
    let b = Phone {
        ua: UserAgent::new(
            UaConfig::new("192.0.2.2:5060".parse().unwrap(), "bob"),
            Box::new(Seeded(ChaCha8Rng::seed_from_u64(2))),
        ),
        peer: "192.0.2.1:5060".parse().unwrap(),
        out: VecDeque::new(),
        events: Vec::new(),
        react: answer,
        guard: Some(ProxyGuard::default()),
    };
    let mut p = Pair::new(a, b, Link::perfect(), t0);
    p.drive_until(
        |a, b| {
            a.events.iter().any(|e| matches!(e, UaEvent::Ended { .. }))
                && b.events.iter().any(|e| matches!(e, UaEvent::Ended { .. }))
        },
        Duration::from_secs(60),
    )
    .unwrap();
    let (a, b) = (p.a(), p.b());
    let guard = b.guard.as_ref().unwrap();
    assert_eq!(guard.challenged, 1);
    assert_eq!(guard.invites.len(), 2);
    assert_eq!(
        guard.invites[1].headers.cseq().unwrap().seq,
        guard.invites[0].headers.cseq().unwrap().seq + 1
    );
    assert_eq!(
        guard.invites[1].headers.call_id().unwrap(),
        guard.invites[0].headers.call_id().unwrap()
    );
    assert!(
        a.events
            .iter()
            .any(|e| matches!(e, UaEvent::Answered { .. }))
    );
    assert!(a.events.iter().any(|e| matches!(
        e,
        UaEvent::Ended {
            reason: EndReason::LocalHangup,
            ..
        }
    )));
}
