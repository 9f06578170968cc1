//! A whole call between two sotto phones on a virtual clock through sotto-netem:
//! INVITE → 180 → 200 → ACK → ZRTP → SRTP audio both ways → BYE, with and without loss.
//! Audio is a tone on each side, measured on the other side.
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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto_call::demux::{Kind, classify};
use sotto_call::phone::{AudioIo, CallEvent, Output, Phone, PhoneConfig, Socket};
use sotto_call::security::SecurityState;
use sotto_netem::{Endpoint, Link, NetemConfig, Pair};
use sotto_proto::Zid;
use sotto_proto::crypto::Random;
use sotto_sip::sdp::Codec;
use sotto_zrtp::{MemoryCache, SharedCache};

mod support;
use support::Seeded;

/// A tone generator on capture, a recorder on play.
struct Tone {
    freq: f64,
    phase: f64,
    heard: Arc<Mutex<Vec<i16>>>,
}

impl AudioIo for Tone {
    fn capture(&mut self, frame: &mut [i16]) {
        for s in frame.iter_mut() {
            *s = (8000.0 * (self.phase * std::f64::consts::TAU).sin()) as i16;
            self.phase = (self.phase + self.freq / 48_000.0).fract();
        }
    }
    fn play(&mut self, frame: &[i16]) {
        self.heard.lock().unwrap().extend_from_slice(frame);
    }
}

/// Energy of `freq` in `x` (at 48 kHz) relative to total energy (Goertzel).
fn tone_share(x: &[i16], freq: f64) -> f64 {
    sotto_media::signal::tone_share(x, freq, 48_000)
}

struct PhoneEnd {
    phone: Phone,
    sip: SocketAddr,
    media: SocketAddr,
    peer_sip: SocketAddr,
    peer_media: SocketAddr,
    auto_answer: bool,
    events: Vec<(Instant, CallEvent)>,
    queue: VecDeque<Vec<u8>>,
}

impl PhoneEnd {
    /// The end of `phone` at `sip`/`media`, talking to `peer_sip`/`peer_media`.
    fn new(
        phone: Phone,
        (sip, media): (SocketAddr, SocketAddr),
        (peer_sip, peer_media): (SocketAddr, SocketAddr),
        auto_answer: bool,
    ) -> Self {
        Self {
            phone,
            sip,
            media,
            peer_sip,
            peer_media,
            auto_answer,
            events: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.phone.poll_output() {
            match o {
                Output::Transmit { socket, to, data } => {
                    let (tag, expected) = match socket {
                        Socket::Sip => (0u8, self.peer_sip),
                        Socket::Media => (1u8, self.peer_media),
                    };
                    assert_eq!(to, expected, "{socket:?} datagram to an unexpected address");
                    let mut d = vec![tag];
                    d.extend_from_slice(&data);
                    self.queue.push_back(d);
                }
                Output::Event(e) => {
                    if matches!(e, CallEvent::IncomingCall { .. }) && self.auto_answer {
                        self.phone.answer(now).unwrap();
                    }
                    self.events.push((now, e));
                }
            }
        }
    }

    fn secure_at(&self) -> Option<Instant> {
        self.events
            .iter()
            .find(|(_, e)| matches!(e, CallEvent::Secure(_)))
            .map(|(t, _)| *t)
    }

    fn sas(&self) -> Option<String> {
        self.events.iter().find_map(|(_, e)| match e {
            CallEvent::Secure(s) => Some(s.sas.clone()),
            _ => None,
        })
    }

    fn ended(&self) -> Option<String> {
        self.events.iter().find_map(|(_, e)| match e {
            CallEvent::Ended { reason } => Some(reason.clone()),
            _ => None,
        })
    }
}

impl Endpoint for PhoneEnd {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        match data.split_first() {
            Some((0, d)) => self.phone.handle_sip(now, self.peer_sip, d),
            Some((1, d)) => self.phone.handle_media(now, self.peer_media, d),
            _ => panic!("untagged datagram"),
        }
        self.pump(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.phone.handle_timeout(now);
        self.pump(now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.pump(now);
        self.queue.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.phone.poll_timeout()
    }
}

type Cache = SharedCache<MemoryCache>;

/// What a phone's speaker played.
type Heard = Arc<Mutex<Vec<i16>>>;

fn phone(
    seed: u64,
    zid: u8,
    sip: SocketAddr,
    media: SocketAddr,
    cache: Cache,
    freq: f64,
    codecs: Option<Vec<Codec>>,
) -> (Phone, Heard) {
    let mut cfg = PhoneConfig::new(sip, media, &format!("user{zid}"), Zid([zid; 12]));
    if let Some(c) = codecs {
        cfg.codecs = c;
    }
    cfg.unix_time = 1_800_000_000;
    let mut n = 0u64;
    let rngs = Box::new(move || {
        n += 1;
        Box::new(Seeded(ChaCha20Rng::seed_from_u64(seed * 1000 + n))) as Box<dyn Random>
    });
    let caches = Box::new(move || Some(Box::new(cache.clone()) as Box<dyn sotto_zrtp::ZidCache>));
    let mut p = Phone::new(cfg, rngs, caches);
    let heard = Arc::new(Mutex::new(Vec::new()));
    p.set_audio(Box::new(Tone {
        freq,
        phase: 0.0,
        heard: heard.clone(),
    }));
    (p, heard)
}

struct Outcome {
    sas_a: String,
    sas_b: String,
    cache_a: String,
    verified_b: bool,
    wall: Duration,
}

/// Two phones (A at 127.0.0.1:5060/40000 with a 440 Hz tone and `caller_codecs`, B at
/// 127.0.0.1:5062/40002 with a 1000 Hz tone, answering by itself) through netem with `loss`
/// and 15 ms each way, capturing; A has just called B. Returns what A and B hear.
fn start_pair(
    seed: u64,
    loss: f64,
    caches: (Cache, Cache),
    caller_codecs: Option<Vec<Codec>>,
) -> (Pair<PhoneEnd, PhoneEnd>, Heard, Heard) {
    let a_sip: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let a_media: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let b_sip: SocketAddr = "127.0.0.1:5062".parse().unwrap();
    let b_media: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let (pa, heard_a) = phone(seed, 0xa1, a_sip, a_media, caches.0, 440.0, caller_codecs);
    let (pb, heard_b) = phone(seed + 7, 0xb2, b_sip, b_media, caches.1, 1000.0, None);
    let a = PhoneEnd::new(pa, (a_sip, a_media), (b_sip, b_media), false);
    let b = PhoneEnd::new(pb, (b_sip, b_media), (a_sip, a_media), true);
    assert_ne!(a.sip, b.sip);
    assert_ne!(a.media, b.media);
    let cfg = NetemConfig::default()
        .loss(loss)
        .delay(Duration::from_millis(15));
    let mut pair = Pair::new(a, b, Link::symmetric(cfg, seed), Instant::now());
    pair.enable_capture();
    let now = pair.now();
    pair.a_mut()
        .phone
        .call(now, "sip:userb2@127.0.0.1:5062".parse().unwrap(), b_sip)
        .unwrap();
    (pair, heard_a, heard_b)
}

/// Drives `pair` until both sides are secure, within `limit` of virtual time.
fn drive_to_secure(pair: &mut Pair<PhoneEnd, PhoneEnd>, limit: Duration) {
    pair.drive_until(
        |a, b| a.secure_at().is_some() && b.secure_at().is_some(),
        limit,
    )
    .unwrap_or_else(|e| {
        panic!(
            "not secure: {e:?}\nA: {:?}\nB: {:?}",
            pair.a().events,
            pair.b().events
        )
    });
}

fn run_call(seed: u64, loss: f64, caches: (Cache, Cache), confirm: bool) -> Outcome {
    run_call_with(seed, loss, caches, confirm, None)
}

fn run_call_with(
    seed: u64,
    loss: f64,
    caches: (Cache, Cache),
    confirm: bool,
    caller_codecs: Option<Vec<Codec>>,
) -> Outcome {
    let wall = Instant::now();
    let (mut pair, heard_a, heard_b) = start_pair(seed, loss, caches, caller_codecs);

    // Both sides secure within 5 s of virtual time.
    drive_to_secure(&mut pair, Duration::from_secs(5));
    let sas_a = pair.a().sas().unwrap();
    let sas_b = pair.b().sas().unwrap();
    assert!(matches!(
        pair.a().phone.security(),
        Some(SecurityState::Secure { .. } | SecurityState::Verified { .. })
    ));
    if confirm {
        let now = pair.now();
        pair.a_mut().phone.confirm_sas(now).unwrap();
        pair.b_mut().phone.confirm_sas(now).unwrap();
        assert!(matches!(
            pair.a().phone.security(),
            Some(SecurityState::Verified { .. })
        ));
    }

    // Two seconds of audio both ways.
    pair.run_for(Duration::from_secs(2)).unwrap();
    let stats_a = pair.a().phone.stats().unwrap().clone();
    let stats_b = pair.b().phone.stats().unwrap().clone();
    let cache_a = pair.a().phone.secure_summary().unwrap().cache.to_owned();
    let verified_b = pair.b().phone.secure_summary().unwrap().verified;

    // Hang up; B sees the BYE.
    let now = pair.now();
    pair.a_mut().phone.hangup(now).unwrap();
    pair.drive_until(|_, b| b.ended().is_some(), Duration::from_secs(40))
        .unwrap();
    assert_eq!(pair.b().ended().unwrap(), "the other side hung up");

    // No media before SECURE, and every media packet after it is SRTP (never clear RTP):
    // RTP-looking datagrams are only sent after that side reached Secure, and none is a clear
    // RTP packet whose payload would decode (authentication tags are checked by the peer, whose
    // rejected count stays at zero without loss).
    for (at, secure, _) in rtp_captured(&pair) {
        assert!(
            secure.is_some_and(|s| at >= s),
            "RTP sent before SECURE at {at:?}"
        );
    }
    for s in [&stats_a, &stats_b] {
        assert_eq!(s.clear_rtp_sent, 0);
        // Under loss the peer can be secure (and sending SRTP) while a lost Confirm2 keeps this
        // side in Connecting: those packets are dropped unplayed, which is the policy.
        if loss == 0.0 {
            assert_eq!(s.rtp_dropped_before_secure, 0);
        } else {
            assert!(s.rtp_dropped_before_secure < 60, "{s:?}");
        }
        assert!(s.srtp_sent >= 90, "{s:?}");
        assert_eq!(s.srtp_rejected, 0, "{s:?}");
    }
    let min_received = if loss > 0.0 { 70 } else { 95 };
    assert!(stats_a.srtp_received >= min_received, "{stats_a:?}");
    assert!(stats_b.srtp_received >= min_received, "{stats_b:?}");

    // Each side hears the other's tone, not its own (skip the first 0.5 s of buffering).
    let heard_a = heard_a.lock().unwrap().clone();
    let heard_b = heard_b.lock().unwrap().clone();
    assert!(
        heard_a.len() >= 48_000,
        "A played {} samples",
        heard_a.len()
    );
    let tail_a = &heard_a[24_000..];
    let tail_b = &heard_b[24_000..];
    let (a_hears_1000, a_hears_440) = (tone_share(tail_a, 1000.0), tone_share(tail_a, 440.0));
    let (b_hears_440, b_hears_1000) = (tone_share(tail_b, 440.0), tone_share(tail_b, 1000.0));
    eprintln!(
        "A hears 1000 Hz {a_hears_1000:.2} (440 Hz {a_hears_440:.2}); B hears 440 Hz {b_hears_440:.2} (1000 Hz {b_hears_1000:.2})"
    );
    let needed = if loss > 0.0 { 0.5 } else { 0.8 };
    assert!(a_hears_1000 > needed && a_hears_440 < 0.05);
    assert!(b_hears_440 > needed && b_hears_1000 < 0.05);

    Outcome {
        sas_a,
        sas_b,
        cache_a,
        verified_b,
        wall: wall.elapsed(),
    }
}

fn fresh_caches() -> (Cache, Cache) {
    (
        SharedCache::new(MemoryCache::new()),
        SharedCache::new(MemoryCache::new()),
    )
}

#[test]
fn whole_call_on_a_clean_network() {
    let o = run_call(1, 0.0, fresh_caches(), false);
    assert_eq!(o.sas_a, o.sas_b);
    assert_eq!(o.sas_a.len(), 4);
    assert_eq!(o.cache_a, "first call");
    eprintln!("clean call: {:?} of real time", o.wall);
}

#[test]
fn whole_call_with_ten_percent_loss() {
    for seed in [2, 3, 4] {
        let o = run_call(seed, 0.10, fresh_caches(), false);
        assert_eq!(o.sas_a, o.sas_b);
    }
}

#[test]
fn second_call_remembers_the_verified_peer() {
    let caches = fresh_caches();
    let first = run_call(5, 0.0, (caches.0.clone(), caches.1.clone()), true);
    assert_eq!(first.sas_a, first.sas_b);
    let second = run_call(6, 0.0, caches, false);
    assert_eq!(second.cache_a, "match");
    assert!(
        second.verified_b,
        "the SAS confirmed on the first call is remembered"
    );
}

/// The `o=` version of every SDP body in `side`'s SIP datagrams, with the body.
fn sdp_versions(pair: &Pair<PhoneEnd, PhoneEnd>, side: sotto_netem::Side) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for c in pair.captured() {
        if c.from != side {
            continue;
        }
        let Some((0, d)) = c.data.split_first() else {
            continue;
        };
        let text = String::from_utf8_lossy(d);
        let Some((_, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        if let Some(o) = body.lines().find(|l| l.starts_with("o=")) {
            let v: u64 = o.split(' ').nth(2).unwrap().parse().unwrap();
            out.push((v, body.to_owned()));
        }
    }
    out
}

/// Hold and resume through re-INVITEs (as Linphone does with `pause`/`resume`): the held side
/// answers `a=recvonly` and stops sending (RFC 3264 §5.1, §8.4), resumes on `a=sendrecv`, each
/// new SDP of a side carries a higher `o=` version (RFC 3264 §8), and ZRTP/SRTP carry on.
#[test]
fn hold_and_resume_by_reinvite() {
    // Seeds 21 (A, and the link) and 28 (B); no loss.
    let (mut pair, heard_a, _heard_b) = start_pair(21, 0.0, fresh_caches(), None);
    drive_to_secure(&mut pair, Duration::from_secs(5));
    pair.run_for(Duration::from_secs(1)).unwrap();
    let b_before_hold = pair.b().phone.stats().unwrap().srtp_sent;
    assert!(b_before_hold >= 45);

    // A holds B: B answers recvonly and goes quiet.
    let now = pair.now();
    pair.a_mut().phone.hold(now, true).unwrap();
    pair.run_for(Duration::from_millis(200)).unwrap();
    let b_held = pair.b().phone.stats().unwrap().srtp_sent;
    assert!(b_held <= b_before_hold + 12, "{b_held} vs {b_before_hold}");
    let a_held_sent = pair.a().phone.stats().unwrap().srtp_sent;
    pair.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(
        pair.b().phone.stats().unwrap().srtp_sent,
        b_held,
        "B sent media while held"
    );
    // A holds: its microphone does not reach B either (no music on hold).
    assert_eq!(
        pair.a().phone.stats().unwrap().srtp_sent,
        a_held_sent,
        "A sent its microphone to the held peer"
    );
    let a_held = heard_a.lock().unwrap().len();

    // A resumes: B sends again and A hears B's tone.
    let now = pair.now();
    pair.a_mut().phone.hold(now, false).unwrap();
    pair.run_for(Duration::from_millis(1500)).unwrap();
    let b_after = pair.b().phone.stats().unwrap().srtp_sent;
    assert!(b_after >= b_held + 60, "{b_after} vs {b_held}");
    let heard = heard_a.lock().unwrap().clone();
    let resumed = &heard[a_held + 24_000..];
    assert!(
        tone_share(resumed, 1000.0) > 0.8,
        "A does not hear B after resume"
    );
    assert!(matches!(
        pair.b().phone.security(),
        Some(SecurityState::Secure { .. })
    ));
    for side in [sotto_netem::Side::A, sotto_netem::Side::B] {
        let v = sdp_versions(&pair, side);
        // Offer/answer, hold, resume: three different SDPs with three versions (retransmitted
        // 200s repeat theirs byte for byte).
        let mut distinct: Vec<(u64, String)> = Vec::new();
        for (ver, body) in v {
            if let Some((_, b)) = distinct.iter().find(|(x, _)| *x == ver) {
                assert_eq!(
                    *b, body,
                    "{side:?} sent two different SDPs as version {ver}"
                );
            } else {
                distinct.push((ver, body));
            }
        }
        let versions: Vec<u64> = distinct.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, vec![1, 2, 3], "{side:?}");
    }
    let b_sdps = sdp_versions(&pair, sotto_netem::Side::B);
    assert!(b_sdps.iter().any(|(_, b)| b.contains("a=recvonly")));
    assert_eq!(pair.a().phone.stats().unwrap().srtp_rejected, 0);
    assert_eq!(pair.b().phone.stats().unwrap().srtp_rejected, 0);
}

#[test]
fn whole_call_in_g711_when_the_caller_offers_nothing_else() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let o = run_call_with(8, 0.0, fresh_caches(), false, Some(vec![codec]));
        assert_eq!(o.sas_a, o.sas_b);
    }
}

/// Two phones (A calls B, B answers) through netem with `loss` and 15 ms each way, driven
/// until both are secure.
fn secure_pair(seed: u64, loss: f64) -> Pair<PhoneEnd, PhoneEnd> {
    secure_pair_with(seed, loss, None)
}

fn secure_pair_with(seed: u64, loss: f64, codecs: Option<Vec<Codec>>) -> Pair<PhoneEnd, PhoneEnd> {
    let (mut pair, _, _) = start_pair(seed, loss, fresh_caches(), codecs);
    drive_to_secure(&mut pair, Duration::from_secs(10));
    pair
}

/// The end of `pair` on `side`.
fn end_of(pair: &Pair<PhoneEnd, PhoneEnd>, side: sotto_netem::Side) -> &PhoneEnd {
    match side {
        sotto_netem::Side::A => pair.a(),
        sotto_netem::Side::B => pair.b(),
    }
}

/// Every captured media datagram that looks like RTP: when it was sent, when its sender had
/// become secure (if it had), and its bytes.
fn rtp_captured(pair: &Pair<PhoneEnd, PhoneEnd>) -> Vec<(Instant, Option<Instant>, Vec<u8>)> {
    pair.captured()
        .iter()
        .filter_map(|c| match c.data.split_first() {
            Some((1, d)) if classify(d) == Kind::Rtp => {
                Some((c.at, end_of(pair, c.from).secure_at(), d.to_vec()))
            }
            _ => None,
        })
        .collect()
}

fn dtmf_heard(end: &PhoneEnd) -> String {
    end.events
        .iter()
        .filter_map(|(_, e)| match e {
            CallEvent::Dtmf { digit } => Some(*digit),
            _ => None,
        })
        .collect()
}

/// RFC 4733 key presses both ways through 10 % loss: each press is reported exactly once on
/// the other side, in order, though its start packet, updates or some of its three end
/// packets are lost; they travel as SRTP (the peer authenticates every one, and nothing
/// RTP-like leaves before SECURE); keys before SECURE and non-keys are refused.
#[test]
fn dtmf_both_ways_one_event_per_press_through_loss() {
    let mut before = secure_pair(40, 0.0);
    // A fresh call that is not secure yet refuses keys.
    let b_sip = before.b().sip;
    let now = before.now();
    let _ = before.a_mut().phone.hangup(now);
    let now = before.now();
    before
        .a_mut()
        .phone
        .call(now, "sip:userb2@127.0.0.1:5062".parse().unwrap(), b_sip)
        .unwrap();
    assert!(matches!(
        before.a_mut().phone.send_dtmf(now, '1'),
        Err(sotto_call::phone::PhoneError::WrongState(_))
    ));
    drop(before);

    for seed in [41, 42, 43] {
        let mut pair = secure_pair(seed, 0.10);
        let now = pair.now();
        for bad in ['E', 'x', ' ', 'a', '\u{e9}'] {
            assert!(matches!(
                pair.a_mut().phone.send_dtmf(now, bad),
                Err(sotto_call::phone::PhoneError::InvalidDigit(_))
            ));
        }
        for d in "0123456789*#ABCD".chars() {
            pair.a_mut().phone.send_dtmf(now, d).unwrap();
        }
        for d in "#95*".chars() {
            pair.b_mut().phone.send_dtmf(now, d).unwrap();
        }
        // 16 keys × (7 + 3) frames of 20 ms = 3.2 s.
        pair.run_for(Duration::from_secs(5)).unwrap();
        assert_eq!(dtmf_heard(pair.b()), "0123456789*#ABCD", "seed {seed}");
        assert_eq!(dtmf_heard(pair.a()), "#95*", "seed {seed}");
        let (sa, sb) = (
            pair.a().phone.stats().unwrap().clone(),
            pair.b().phone.stats().unwrap().clone(),
        );
        assert_eq!((sa.dtmf_sent, sa.dtmf_received), (16, 4), "{sa:?}");
        assert_eq!((sb.dtmf_sent, sb.dtmf_received), (4, 16), "{sb:?}");
        assert_eq!(sa.srtp_rejected + sb.srtp_rejected, 0);
        assert_eq!(sa.clear_rtp_sent + sb.clear_rtp_sent, 0);
        // Audio resumed after the keys.
        let sent = pair.a().phone.stats().unwrap().srtp_sent;
        pair.run_for(Duration::from_millis(500)).unwrap();
        assert!(pair.a().phone.stats().unwrap().srtp_sent >= sent + 24);
        for (at, secure, d) in rtp_captured(&pair) {
            assert!(secure.is_some_and(|s| at >= s));
            // A clear telephone-event packet would be 12 + 4 bytes; SRTP adds the tag.
            assert!(d.len() > 16);
        }
    }
}

/// In a G.711 call the keys travel as telephone-event/8000 (RFC 4733 §2.1: the codec's clock
/// rate), 100 ms = 800 timestamp units, through 10 % loss.
#[test]
fn dtmf_in_a_g711_call_uses_the_8000_hz_clock() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut pair = secure_pair_with(44, 0.10, Some(vec![codec]));
        let now = pair.now();
        for d in "159#".chars() {
            pair.a_mut().phone.send_dtmf(now, d).unwrap();
        }
        pair.b_mut().phone.send_dtmf(now, 'D').unwrap();
        pair.run_for(Duration::from_secs(2)).unwrap();
        assert_eq!(dtmf_heard(pair.b()), "159#", "{codec:?}");
        assert_eq!(dtmf_heard(pair.a()), "D", "{codec:?}");
        // The offer carried both rates; the answer kept the 8 kHz one for G.711.
        let sdp: Vec<String> = pair
            .captured()
            .iter()
            .filter(|c| c.from == sotto_netem::Side::B)
            .filter_map(|c| match c.data.split_first() {
                Some((0, d)) => Some(String::from_utf8_lossy(d).into_owned()),
                _ => None,
            })
            .filter(|t| t.starts_with("SIP/2.0 200") && t.contains("m=audio"))
            .collect();
        assert!(!sdp.is_empty());
        assert!(
            sdp[0].contains("a=rtpmap:100 telephone-event/8000"),
            "{}",
            sdp[0]
        );
        assert!(!sdp[0].contains("telephone-event/48000"), "{}", sdp[0]);
    }
}

/// RTCP (RFC 3550 §6): compound SR + SDES reports leave at the §6.3 interval (first after
/// 2.5 s × [0.5, 1.5) / (e − 3/2), then 5 s × the same), only after SECURE and only as SRTCP
/// (E bit set, indexes counting up, the body not parseable as clear RTCP, a tampered copy
/// rejected by the peer); the peer's reports give the round-trip time of the 2 × 15 ms netem
/// delay and its loss figures; hang-up sends an RTCP BYE.
#[test]
fn rtcp_interval_srtcp_rtt_and_bye() {
    let mut pair = secure_pair(50, 0.0);
    pair.run_for(Duration::from_secs(40)).unwrap();
    let comp = std::f64::consts::E - 1.5;
    for side in [sotto_netem::Side::A, sotto_netem::Side::B] {
        let end = end_of(&pair, side);
        let secure = end.secure_at().unwrap();
        let tag_len = match end.phone.secure_summary().unwrap().auth_tag.as_str() {
            "HS32" => 4,
            _ => 10,
        };
        let rtcp: Vec<_> = pair
            .captured()
            .iter()
            .filter(|c| c.from == side)
            .filter_map(|c| match c.data.split_first() {
                Some((1, d)) if classify(d) == Kind::Rtcp => Some((c.at, d.to_vec())),
                _ => None,
            })
            .collect();
        assert!(rtcp.len() >= 6, "{side:?}: {} RTCP packets", rtcp.len());
        let first = rtcp[0].0.duration_since(secure).as_secs_f64();
        assert!(
            (2.5 * 0.5 / comp..=2.5 * 1.5 / comp + 0.03).contains(&first),
            "first report {first} s after secure"
        );
        let gaps: Vec<f64> = rtcp
            .windows(2)
            .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64())
            .collect();
        for g in &gaps {
            assert!(
                (5.0 * 0.5 / comp - 0.001..=5.0 * 1.5 / comp + 0.001).contains(g),
                "{side:?}: interval {g} s ({gaps:?})"
            );
        }
        // Randomized, not a fixed period.
        assert!(gaps.iter().any(|g| (g - gaps[0]).abs() > 0.05), "{gaps:?}");
        for (i, (_, d)) in rtcp.iter().enumerate() {
            let idx_at = d.len() - tag_len - 4;
            let e_index = u32::from_be_bytes(d[idx_at..idx_at + 4].try_into().unwrap());
            assert!(e_index & 0x8000_0000 != 0, "SRTCP E bit not set");
            assert_eq!(e_index & 0x7fff_ffff, i as u32, "SRTCP index");
            assert_eq!(d[1], 200, "first packet is an SR (we send audio)");
            assert!(
                sotto_rtp::Compound::parse(&d[..idx_at]).is_err(),
                "an SRTCP body parses as clear RTCP"
            );
        }
    }
    let sa = pair.a().phone.stats().unwrap().clone();
    let sb = pair.b().phone.stats().unwrap().clone();
    eprintln!("A: {sa:?}\nB: {sb:?}");
    for s in [&sa, &sb] {
        let rtt = s.rtt.expect("an RTT from the peer's reports");
        assert!(
            rtt >= Duration::from_micros(29_500) && rtt <= Duration::from_micros(31_000),
            "RTT {rtt:?} for 2 × 15 ms"
        );
        assert!(s.peer_reports >= 6 && s.rtcp_sent >= 6, "{s:?}");
        assert_eq!(s.peer_fraction_lost, Some(0));
        assert_eq!(s.peer_cumulative_lost, Some(0));
        assert_eq!(s.srtcp_rejected, 0);
        assert!(s.peer_jitter.is_some());
    }

    // A tampered SRTCP packet is refused (authenticated).
    let (_, good) = pair
        .captured()
        .iter()
        .filter(|c| c.from == sotto_netem::Side::A)
        .filter_map(|c| match c.data.split_first() {
            Some((1, d)) if classify(d) == Kind::Rtcp => Some((c.at, d.to_vec())),
            _ => None,
        })
        .next_back()
        .unwrap();
    // A later index (so the replay check passes) under the old tag: only authentication can
    // catch it (the index is covered by the tag, RFC 3711 §3.4).
    let tag_len = match pair.a().phone.secure_summary().unwrap().auth_tag.as_str() {
        "HS32" => 4,
        _ => 10,
    };
    let mut bad = good.clone();
    let idx_at = bad.len() - tag_len - 4;
    let e_index = u32::from_be_bytes(bad[idx_at..idx_at + 4].try_into().unwrap()) + 5;
    bad[idx_at..idx_at + 4].copy_from_slice(&e_index.to_be_bytes());
    let mut tagged = vec![1u8];
    tagged.extend_from_slice(&bad);
    pair.inject(sotto_netem::Side::B, &tagged);
    pair.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(pair.b().phone.stats().unwrap().srtcp_rejected, 1);

    // Hang-up: A sends an RTCP BYE that B authenticates.
    let now = pair.now();
    pair.a_mut().phone.hangup(now).unwrap();
    pair.drive_until(|_, b| b.ended().is_some(), Duration::from_secs(5))
        .unwrap();
    assert!(pair.b().phone.stats().unwrap().peer_bye);
}

/// With 10 % loss, the peer-reported fraction lost reflects it (and RTT stays the netem's).
#[test]
fn rtcp_reports_loss() {
    let mut pair = secure_pair(60, 0.10);
    pair.run_for(Duration::from_secs(30)).unwrap();
    for s in [
        pair.a().phone.stats().unwrap(),
        pair.b().phone.stats().unwrap(),
    ] {
        let loss = s.peer_loss_percent().expect("a peer report");
        assert!((3.0..=20.0).contains(&loss), "peer-reported loss {loss} %");
        let lost = s.peer_cumulative_lost.unwrap();
        assert!(lost > 50, "{s:?}");
        assert!(s.rtp_lost.unwrap() > 0, "{s:?}");
        let rtt = s.rtt.unwrap();
        assert!(rtt >= Duration::from_micros(29_500) && rtt <= Duration::from_micros(31_000));
    }
}
