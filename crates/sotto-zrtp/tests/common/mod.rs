//! Shared test helpers: a seeded Random, a netem Endpoint adapter around ZrtpSession.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers; each test file uses a subset"
)]

pub mod udp;

use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sotto_netem::{Endpoint, Link, NetemConfig, Pair};
use sotto_proto::crypto::Random;
use sotto_proto::{Ssrc, Zid};
use sotto_zrtp::{
    Config, Event, Input, MemoryCache, Output, SecureInfo, SharedCache, ZidCache, ZrtpSession,
};

/// A deterministic Random for simulations (never for real keys).
pub struct Seeded(pub ChaCha20Rng);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl Random for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// An Endpoint adapter: feeds datagrams in, keeps events.
pub struct Peer {
    pub session: ZrtpSession,
    pub events: Vec<Event>,
    pub timeout: Option<Instant>,
    pub pending: std::collections::VecDeque<Vec<u8>>,
    pub secure_at: Option<Instant>,
}

impl Peer {
    pub fn new(session: ZrtpSession) -> Self {
        let mut p = Self {
            session,
            events: Vec::new(),
            timeout: None,
            pending: Default::default(),
            secure_at: None,
        };
        p.drain(None);
        p
    }

    fn drain(&mut self, now: Option<Instant>) {
        while let Some(o) = self.session.poll_output() {
            match o {
                Output::Transmit(b) => self.pending.push_back(b),
                Output::Event(e) => {
                    if matches!(e, Event::Secure(_)) && self.secure_at.is_none() {
                        self.secure_at = now;
                    }
                    self.events.push(e)
                }
                Output::Timeout(_) => {}
            }
        }
        self.timeout = self.session.poll_timeout();
    }

    pub fn secure(&self) -> Option<&SecureInfo> {
        self.events.iter().find_map(|e| match e {
            Event::Secure(s) => Some(&**s),
            _ => None,
        })
    }

    pub fn failed(&self) -> Option<&sotto_zrtp::FailureReason> {
        self.events.iter().find_map(|e| match e {
            Event::Failed(r) => Some(r),
            _ => None,
        })
    }

    pub fn done(&self) -> bool {
        self.secure().is_some() || self.failed().is_some()
    }

    pub fn input(&mut self, now: Instant, i: Input<'_>) {
        let _ = self.session.handle_input(now, i);
        self.drain(Some(now));
    }
}

impl Endpoint for Peer {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        let _ = self.session.handle_input(now, Input::Datagram(data));
        self.drain(Some(now));
    }
    fn handle_timeout(&mut self, now: Instant) {
        let _ = self.session.handle_input(now, Input::Timeout);
        self.drain(Some(now));
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.pending.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.timeout
    }
}

pub fn zid(n: u8) -> Zid {
    Zid([n; 12])
}

pub fn config(n: u8) -> Config {
    Config::new(zid(n), Ssrc(0x1000 + u32::from(n)), 1_700_000_000)
}

pub fn session(cfg: Config, seed: u64, cache: Option<Box<dyn ZidCache>>, now: Instant) -> Peer {
    Peer::new(ZrtpSession::new(cfg, Box::new(Seeded::new(seed)), cache, now).unwrap())
}

pub fn shared() -> SharedCache<MemoryCache> {
    SharedCache::new(MemoryCache::new())
}

/// Runs two configs to completion over `link`; returns the pair.
pub fn run(a: Config, b: Config, link: Link, seed: u64, budget: Duration) -> Pair<Peer, Peer> {
    run_with_caches(a, b, None, None, link, seed, budget)
}

pub fn run_with_caches(
    a: Config,
    b: Config,
    ca: Option<Box<dyn ZidCache>>,
    cb: Option<Box<dyn ZidCache>>,
    link: Link,
    seed: u64,
    budget: Duration,
) -> Pair<Peer, Peer> {
    let start = t0();
    let pa = session(a, seed.wrapping_mul(2).wrapping_add(1), ca, start);
    let pb = session(b, seed.wrapping_mul(2).wrapping_add(2), cb, start);
    let mut pair = Pair::new(pa, pb, link, start);
    let _ = pair.drive_until(|a, b| a.done() && b.done(), budget);
    pair
}

pub fn lossy(loss: f64, seed: u64) -> Link {
    Link::symmetric(
        NetemConfig::default()
            .loss(loss)
            .delay(Duration::from_millis(20)),
        seed,
    )
}

pub fn perfect() -> Link {
    Link::perfect()
}

/// Asserts both sides are secure with matching keys and SAS, and returns their infos.
pub fn assert_agree(pair: &Pair<Peer, Peer>) -> (&SecureInfo, &SecureInfo) {
    let a = pair
        .a()
        .secure()
        .unwrap_or_else(|| panic!("A not secure: {:?}", pair.a().failed()));
    let b = pair
        .b()
        .secure()
        .unwrap_or_else(|| panic!("B not secure: {:?}", pair.b().failed()));
    assert_eq!(a.sas, b.sas);
    assert_eq!(a.sas_value, b.sas_value);
    assert_eq!(a.suite, b.suite);
    assert_ne!(a.role, b.role);
    assert_eq!(a.srtp.send().0, b.srtp.recv().0);
    assert_eq!(a.srtp.send().1, b.srtp.recv().1);
    assert_eq!(a.srtp.recv().0, b.srtp.send().0);
    assert_ne!(a.srtp.send().0, a.srtp.recv().0);
    assert_eq!(a.exporter.export(b"x"), b.exporter.export(b"x"));
    (a, b)
}

/// The virtual clock's origin: any fixed Instant works; tests never read the real clock after.
#[allow(
    clippy::disallowed_methods,
    reason = "one origin for the virtual clock"
)]
pub fn t0() -> Instant {
    Instant::now()
}

/// The message type block of a ZRTP packet (bytes 12..20), if it is one.
pub fn msg_type(pkt: &[u8]) -> Option<[u8; 8]> {
    sotto_zrtp::packet::Packet::parse(pkt)
        .ok()
        .and_then(|p| p.message.get(4..12).map(|b| b.try_into().unwrap()))
}

/// Rewrites the CRC after a deliberate modification, so only the ZRTP checks can catch it.
pub fn fix_crc(pkt: &mut [u8]) {
    let n = pkt.len() - 4;
    let crc = sotto_zrtp::packet::crc32c(&pkt[..n]);
    pkt[n..].copy_from_slice(&crc.to_le_bytes());
}

/// An endpoint that rewrites some of its own outgoing packets (an on-path attacker's view).
pub struct Tamper<F: FnMut(&mut Vec<u8>)> {
    pub inner: Peer,
    pub f: F,
}

impl<F: FnMut(&mut Vec<u8>)> Endpoint for Tamper<F> {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        self.inner.handle_datagram(now, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut p = self.inner.poll_transmit(now)?;
        (self.f)(&mut p);
        Some(p)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}
