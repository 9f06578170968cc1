#![allow(
    clippy::disallowed_methods,
    reason = "the test picks the virtual clock origin with Instant::now"
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
//! Two sotto OTR engines talking in-process.

use sotto_otr::{
    Config, Event, InstanceTag, KnownPeer, LongTermKey, OtrError, OtrState, Session, SmpOutcome,
};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

mod support;
use support::{Rng, rng};

fn keys() -> &'static [Arc<LongTermKey>; 3] {
    static K: OnceLock<[Arc<LongTermKey>; 3]> = OnceLock::new();
    K.get_or_init(|| {
        let mut r = rng(1);
        [
            Arc::new(LongTermKey::generate(&mut r)),
            Arc::new(LongTermKey::generate(&mut r)),
            Arc::new(LongTermKey::generate(&mut r)),
        ]
    })
}

struct Peer {
    s: Session,
    events: Vec<Event>,
    net: Vec<String>,
}

impl Peer {
    fn new(cfg: Config, key: usize, r: &mut Rng) -> Self {
        Self {
            s: Session::new(cfg, keys()[key].clone(), InstanceTag::random(r)),
            events: Vec::new(),
            net: Vec::new(),
        }
    }
    fn drain(&mut self) {
        support::drain(&mut self.s, &mut self.net, &mut self.events);
    }
    fn texts(&mut self) -> Vec<(String, bool)> {
        support::take_messages(&mut self.events)
    }
}

/// Deliver everything until both are quiet; returns all wire messages seen.
fn pump(a: &mut Peer, b: &mut Peer, r: &mut Rng) -> Vec<String> {
    let now = Instant::now();
    let mut seen = Vec::new();
    loop {
        a.drain();
        b.drain();
        if a.net.is_empty() && b.net.is_empty() {
            return seen;
        }
        for m in std::mem::take(&mut a.net) {
            seen.push(m.clone());
            let _ = b.s.handle_incoming(now, &m, r);
            b.drain();
        }
        for m in std::mem::take(&mut b.net) {
            seen.push(m.clone());
            let _ = a.s.handle_incoming(now, &m, r);
            a.drain();
        }
    }
}

fn connected(cfg_a: Config, cfg_b: Config, seed: u64) -> (Peer, Peer, Rng) {
    let mut r = rng(seed);
    let mut a = Peer::new(cfg_a, 0, &mut r);
    let mut b = Peer::new(cfg_b, 1, &mut r);
    a.s.start();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(a.s.state(), OtrState::Unverified);
    assert_eq!(b.s.state(), OtrState::Unverified);
    (a, b, r)
}

#[test]
fn ake_v3_and_messages_both_ways_with_rotation() {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 2);
    assert_eq!(a.s.version(), Some(3));
    assert!(a.s.session_id().is_some());
    assert_eq!(a.s.session_id(), b.s.session_id());
    assert_eq!(a.s.their_fingerprint(), Some(keys()[1].fingerprint()));
    assert_eq!(b.s.their_fingerprint(), Some(keys()[0].fingerprint()));
    let now = Instant::now();
    for i in 0..30 {
        let msg = format!("message {i} from a: ünïcødé ✓");
        a.s.send(now, &msg, &mut r).unwrap();
        a.drain();
        let wire: Vec<String> = a.net.clone();
        assert!(
            wire.iter()
                .all(|w| w.starts_with("?OTR:") && !w.contains("message"))
        );
        pump(&mut a, &mut b, &mut r);
        assert_eq!(b.texts(), vec![(msg, true)]);
        if i % 3 != 0 {
            let reply = format!("reply {i}");
            b.s.send(now, &reply, &mut r).unwrap();
            pump(&mut a, &mut b, &mut r);
            assert_eq!(a.texts(), vec![(reply, true)]);
        }
    }
}

#[test]
fn v2_only_peer() {
    let v2 = Config {
        allow_v3: false,
        ..Config::default()
    };
    let (mut a, mut b, mut r) = connected(Config::default(), v2, 3);
    assert_eq!(a.s.version(), Some(2));
    let now = Instant::now();
    a.s.send(now, "hello v2", &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(b.texts(), vec![("hello v2".to_owned(), true)]);
}

#[test]
fn fragmentation_both_versions() {
    for (v3, seed) in [(true, 4), (false, 5)] {
        let cfg = Config {
            allow_v3: v3,
            max_fragment_size: Some(140),
            ..Config::default()
        };
        let (mut a, mut b, mut r) = connected(cfg.clone(), cfg, seed);
        let long: String = "0123456789 ünïcødé ".repeat(60);
        a.s.send(Instant::now(), &long, &mut r).unwrap();
        a.drain();
        assert!(a.net.len() > 5);
        assert!(a.net.iter().all(|f| f.len() <= 140));
        let prefix = if v3 { "?OTR|" } else { "?OTR," };
        assert!(a.net.iter().all(|f| f.starts_with(prefix)));
        pump(&mut a, &mut b, &mut r);
        assert_eq!(b.texts(), vec![(long, true)]);
    }
}

fn run_smp(question: Option<&str>, sa: &[u8], sb: &[u8], seed: u64) -> (Peer, Peer) {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), seed);
    a.s.start_smp(question, sa, &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    let q = support::smp_question(&b.events);
    assert_eq!(q, Some(question.map(str::to_owned)));
    b.s.respond_smp(sb, &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    (a, b)
}

fn smp_outcome(p: &Peer) -> Option<SmpOutcome> {
    p.events.iter().find_map(|e| match e {
        Event::SmpResult(o) => Some(*o),
        _ => None,
    })
}

#[test]
fn smp_right_and_wrong_secret() {
    let (a, b) = run_smp(None, b"blue", b"blue", 6);
    assert_eq!(smp_outcome(&a), Some(SmpOutcome::Succeeded));
    assert_eq!(smp_outcome(&b), Some(SmpOutcome::Succeeded));
    assert_eq!(a.s.state(), OtrState::Private);
    assert_eq!(b.s.state(), OtrState::Private);

    let (a, b) = run_smp(Some("colour of the door?"), b"blue", b"green", 7);
    assert_eq!(smp_outcome(&a), Some(SmpOutcome::Failed));
    assert_eq!(smp_outcome(&b), Some(SmpOutcome::Failed));
    assert_eq!(a.s.state(), OtrState::Unverified);

    let (a, b) = run_smp(Some("colour?"), b"blue", b"blue", 8);
    assert_eq!(smp_outcome(&a), Some(SmpOutcome::Succeeded));
    assert_eq!(smp_outcome(&b), Some(SmpOutcome::Succeeded));
}

#[test]
fn smp_abort_at_final_step_is_failure() {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 9);
    let now = Instant::now();
    a.s.start_smp(None, b"x", &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    b.s.respond_smp(b"x", &mut r).unwrap();
    b.drain();
    let m2 = b.net.remove(0);
    a.s.handle_incoming(now, &m2, &mut r).unwrap();
    a.drain();
    // Drop SMP3 on the floor; Bob aborts instead of answering.
    a.net.clear();
    b.s.abort_smp(&mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(smp_outcome(&a), Some(SmpOutcome::Failed));
    assert_eq!(a.s.state(), OtrState::Unverified);
}

#[test]
fn tampered_mac_and_replay_rejected() {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 10);
    let now = Instant::now();
    a.s.send(now, "first", &mut r).unwrap();
    a.drain();
    let wire = a.net.remove(0);
    // Flip one bit of the ciphertext inside the base64.
    use base64::Engine as _;
    let b64 = &wire[5..wire.len() - 1];
    let mut bin = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let ct_pos = bin.len() - 20 - 4 - 1; // last ciphertext byte (no revealed keys yet)
    bin[ct_pos] ^= 1;
    let tampered = format!(
        "?OTR:{}.",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    assert_eq!(
        b.s.handle_incoming(now, &tampered, &mut r),
        Err(OtrError::Crypto)
    );
    b.drain();
    assert!(b.texts().is_empty());
    assert!(
        b.events
            .iter()
            .any(|e| matches!(e, Event::UnreadableMessage))
    );
    // The genuine one is accepted once ...
    b.s.handle_incoming(now, &wire, &mut r).unwrap();
    b.drain();
    assert_eq!(b.texts(), vec![("first".to_owned(), true)]);
    // ... and rejected when replayed.
    assert!(b.s.handle_incoming(now, &wire, &mut r).is_err());
    b.drain();
    assert!(b.texts().is_empty());
}

#[test]
fn fingerprint_change_is_loud_and_clears_verified() {
    let mut r = rng(11);
    let mut a = Peer::new(Config::default(), 0, &mut r);
    let mut b = Peer::new(Config::default(), 1, &mut r);
    a.s.set_known_peer(Some(KnownPeer {
        fingerprint: keys()[1].fingerprint(),
        verified: true,
    }));
    a.s.start();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(a.s.state(), OtrState::Private);
    assert!(
        a.events
            .iter()
            .any(|e| matches!(e, Event::FingerprintSeen { known: true, .. }))
    );
    // "Bob" comes back with another key.
    let mut a2 = Peer::new(Config::default(), 0, &mut r);
    a2.s.set_known_peer(Some(KnownPeer {
        fingerprint: keys()[1].fingerprint(),
        verified: true,
    }));
    let mut mallory = Peer::new(Config::default(), 2, &mut r);
    a2.s.start();
    pump(&mut a2, &mut mallory, &mut r);
    assert_eq!(a2.s.state(), OtrState::Unverified);
    let changed = a2.events.iter().find_map(|e| match e {
        Event::FingerprintChanged { old, new } => Some((*old, *new)),
        _ => None,
    });
    assert_eq!(
        changed,
        Some((keys()[1].fingerprint(), keys()[2].fingerprint()))
    );
}

#[test]
fn end_session_finishes_peer() {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 12);
    a.s.end(&mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(a.s.state(), OtrState::NotPrivate);
    assert_eq!(b.s.state(), OtrState::Finished);
    assert!(b.s.send(Instant::now(), "leak?", &mut r).is_err());
    b.s.end(&mut r).unwrap();
    assert_eq!(b.s.state(), OtrState::NotPrivate);
}

#[test]
fn extra_symmetric_key_agrees() {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 13);
    let k = a.s.use_extra_symmetric_key(7, b"file", &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    let got = b.events.iter().find_map(|e| match e {
        Event::ExtraSymmetricKey {
            key,
            use_id,
            use_data,
        } => Some((key.clone_secret(), *use_id, use_data.clone())),
        _ => None,
    });
    let (kb, id, data) = got.unwrap();
    assert_eq!(kb.expose(), k.expose());
    assert_eq!((id, data.as_slice()), (7, &b"file"[..]));
}

#[test]
fn whitespace_tag_starts_ake_and_require_encryption_queues() {
    let mut r = rng(14);
    let cfg_a = Config {
        send_whitespace_tag: true,
        ..Config::default()
    };
    let mut a = Peer::new(cfg_a, 0, &mut r);
    let mut b = Peer::new(
        Config {
            require_encryption: true,
            ..Config::default()
        },
        1,
        &mut r,
    );
    a.s.send(Instant::now(), "hi, tagged", &mut r).unwrap();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(b.texts(), vec![("hi, tagged".to_owned(), false)]);
    assert_eq!(a.s.state(), OtrState::Unverified);
    // B's queued message goes out only encrypted.
    let mut c = Peer::new(Config::default(), 0, &mut r);
    b.s.end(&mut r).unwrap();
    let mut b2 = Peer::new(
        Config {
            require_encryption: true,
            ..Config::default()
        },
        1,
        &mut r,
    );
    b2.s.send(Instant::now(), "secret plans", &mut r).unwrap();
    let seen = pump(&mut b2, &mut c, &mut r);
    assert!(seen.iter().all(|m| !m.contains("secret plans")));
    assert_eq!(c.texts(), vec![("secret plans".to_owned(), true)]);
}

#[test]
fn heartbeat_after_silence() {
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 15);
    let t0 = Instant::now();
    let deliver = |from: &mut Peer, to: &mut Peer, r: &mut Rng, at: Instant| -> usize {
        from.drain();
        let msgs = std::mem::take(&mut from.net);
        for m in &msgs {
            to.s.handle_incoming(at, m, r).unwrap();
        }
        to.drain();
        msgs.len()
    };
    a.s.send(t0, "one", &mut r).unwrap();
    deliver(&mut a, &mut b, &mut r, t0);
    // b has never sent: it answers with one empty heartbeat, which a does not display.
    assert_eq!(deliver(&mut b, &mut a, &mut r, t0), 1);
    assert!(a.texts().is_empty());
    let t1 = t0 + std::time::Duration::from_secs(10);
    a.s.send(t1, "two", &mut r).unwrap();
    deliver(&mut a, &mut b, &mut r, t1);
    assert_eq!(
        deliver(&mut b, &mut a, &mut r, t1),
        0,
        "no heartbeat within the interval"
    );
    let t2 = t0 + sotto_otr::HEARTBEAT_INTERVAL + std::time::Duration::from_secs(1);
    a.s.send(t2, "three", &mut r).unwrap();
    deliver(&mut a, &mut b, &mut r, t2);
    assert_eq!(deliver(&mut b, &mut a, &mut r, t2), 1);
    assert_eq!(
        b.texts(),
        vec![
            ("one".to_owned(), true),
            ("two".to_owned(), true),
            ("three".to_owned(), true)
        ]
    );
}

/// A trust store in memory, driven from the events as a real driver would.
#[derive(Default)]
struct MemStore(std::collections::HashMap<(String, String), KnownPeer>);

impl sotto_otr::TrustStore for MemStore {
    fn known(&self, account: &str, peer: &str) -> Option<KnownPeer> {
        self.0.get(&(account.into(), peer.into())).copied()
    }
    fn fingerprint_seen(&mut self, account: &str, peer: &str, fingerprint: sotto_otr::Fingerprint) {
        let e = self
            .0
            .entry((account.into(), peer.into()))
            .or_insert(KnownPeer {
                fingerprint,
                verified: false,
            });
        if e.fingerprint != fingerprint {
            *e = KnownPeer {
                fingerprint,
                verified: false,
            };
        }
    }
    fn set_verified(
        &mut self,
        account: &str,
        peer: &str,
        fingerprint: sotto_otr::Fingerprint,
        verified: bool,
    ) {
        self.0.insert(
            (account.into(), peer.into()),
            KnownPeer {
                fingerprint,
                verified,
            },
        );
    }
}

fn feed_store(store: &mut MemStore, events: &[Event]) {
    use sotto_otr::TrustStore as _;
    for e in events {
        match e {
            Event::FingerprintSeen { fingerprint, .. } => {
                store.fingerprint_seen("alice", "bob", *fingerprint)
            }
            Event::FingerprintChanged { new, .. } => store.fingerprint_seen("alice", "bob", *new),
            Event::Verified { fingerprint } => {
                store.set_verified("alice", "bob", *fingerprint, true)
            }
            _ => {}
        }
    }
}

#[test]
fn verification_persists_across_restarts_through_a_trust_store() {
    use sotto_otr::TrustStore as _;
    let mut store = MemStore::default();
    // First conversation: unknown, then verified by SMP.
    let (a, _b) = run_smp(None, b"pw", b"pw", 16);
    feed_store(&mut store, &a.events);
    assert_eq!(
        store.known("alice", "bob"),
        Some(KnownPeer {
            fingerprint: keys()[1].fingerprint(),
            verified: true
        })
    );
    // "Restart": new sessions, the store says Bob is verified; private straight away.
    let mut r = rng(17);
    let mut a = Peer::new(Config::default(), 0, &mut r);
    let mut b = Peer::new(Config::default(), 1, &mut r);
    a.s.set_known_peer(store.known("alice", "bob"));
    a.s.start();
    pump(&mut a, &mut b, &mut r);
    assert_eq!(a.s.state(), OtrState::Private);
    assert_eq!(b.s.state(), OtrState::Unverified);
    // Bob shows up with another key: loud warning, store drops "verified".
    let mut a = Peer::new(Config::default(), 0, &mut r);
    let mut m = Peer::new(Config::default(), 2, &mut r);
    a.s.set_known_peer(store.known("alice", "bob"));
    a.s.start();
    pump(&mut a, &mut m, &mut r);
    feed_store(&mut store, &a.events);
    assert_eq!(a.s.state(), OtrState::Unverified);
    assert_eq!(
        store.known("alice", "bob"),
        Some(KnownPeer {
            fingerprint: keys()[2].fingerprint(),
            verified: false
        })
    );
}

fn decode(m: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let b = m.strip_prefix("?OTR:")?.strip_suffix('.')?;
    base64::engine::general_purpose::STANDARD.decode(b).ok()
}

/// Split a v3 data message into (authenticated part, MAC, revealed MAC keys).
fn split_data(bin: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    if bin.len() < 11 || bin[..3] != [0, 3, 3] {
        return None;
    }
    let mut p = 11 + 1 + 4 + 4; // header, flags, key ids
    let dh_len = u32::from_be_bytes(bin[p..p + 4].try_into().ok()?) as usize;
    p += 4 + dh_len + 8;
    let enc_len = u32::from_be_bytes(bin[p..p + 4].try_into().ok()?) as usize;
    p += 4 + enc_len;
    let mac = &bin[p..p + 20];
    let rev_len = u32::from_be_bytes(bin[p + 20..p + 24].try_into().ok()?) as usize;
    Some((&bin[..p], mac, &bin[p + 24..p + 24 + rev_len]))
}

#[test]
fn old_mac_keys_are_revealed_and_forge_old_messages() {
    use hmac::{Hmac, Mac};
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 18);
    let now = Instant::now();
    let mut wire = Vec::new();
    for i in 0..6 {
        a.s.send(now, &format!("a{i}"), &mut r).unwrap();
        wire.extend(pump(&mut a, &mut b, &mut r));
        b.s.send(now, &format!("b{i}"), &mut r).unwrap();
        wire.extend(pump(&mut a, &mut b, &mut r));
    }
    let msgs: Vec<Vec<u8>> = wire.iter().filter_map(|m| decode(m)).collect();
    let data: Vec<_> = msgs.iter().filter_map(|m| split_data(m)).collect();
    let revealed: Vec<&[u8]> = data.iter().flat_map(|(_, _, rev)| rev.chunks(20)).collect();
    assert!(
        revealed.len() >= 6,
        "only {} MAC keys revealed",
        revealed.len()
    );
    assert!(revealed.iter().all(|k| k.len() == 20));
    // Every revealed key authenticates some earlier message: anyone could have forged it.
    for k in &revealed {
        let forged = data.iter().any(|(authed, mac, _)| {
            let mut h = Hmac::<sha1::Sha1>::new_from_slice(k).unwrap();
            h.update(authed);
            h.finalize().into_bytes().as_slice() == *mac
        });
        assert!(forged, "a revealed key matches no message");
    }
}

#[test]
fn messages_for_other_instances_are_ignored() {
    use base64::Engine as _;
    let (mut a, mut b, mut r) = connected(Config::default(), Config::default(), 19);
    let now = Instant::now();
    a.s.send(now, "for b only", &mut r).unwrap();
    a.drain();
    let wire = a.net.remove(0);
    let mut bin = decode(&wire).unwrap();
    // Receiver instance tag is bytes 7..11 of a v3 header.
    bin[10] ^= 0x01;
    let other = format!(
        "?OTR:{}.",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    b.s.handle_incoming(now, &other, &mut r).unwrap();
    b.drain();
    assert!(b.texts().is_empty());
    assert!(
        b.net.is_empty(),
        "no error reply for another instance's message"
    );
    b.s.handle_incoming(now, &wire, &mut r).unwrap();
    b.drain();
    assert_eq!(b.texts(), vec![("for b only".to_owned(), true)]);
}

#[test]
fn error_messages_and_v1_queries() {
    let mut r = rng(20);
    let now = Instant::now();
    let mut b = Peer::new(Config::default(), 1, &mut r);
    // A v1-only query is not answered (v1 is not supported).
    b.s.handle_incoming(now, "?OTR?", &mut r).unwrap();
    b.drain();
    assert!(b.net.is_empty());
    // An OTR error is shown and (ERROR_START_AKE) answered with a query.
    b.s.handle_incoming(now, "?OTR Error: something broke", &mut r)
        .unwrap();
    b.drain();
    assert!(
        b.events
            .iter()
            .any(|e| matches!(e, Event::ErrorReceived(t) if t == "something broke"))
    );
    assert_eq!(b.net.len(), 1);
    assert!(b.net[0].starts_with("?OTRv23?"));
    // A data message while not private: unreadable, and an OTR error goes back.
    let (mut a, mut c, mut r2) = connected(Config::default(), Config::default(), 21);
    a.s.send(now, "lost", &mut r2).unwrap();
    a.drain();
    let wire = a.net.remove(0);
    c.s.end(&mut r2).unwrap();
    c.drain();
    c.net.clear();
    c.s.handle_incoming(now, &wire, &mut r2).unwrap();
    c.drain();
    assert!(
        c.events
            .iter()
            .any(|e| matches!(e, Event::UnreadableMessage))
    );
    assert!(c.net.iter().any(|m| m.starts_with("?OTR Error:")));
}
