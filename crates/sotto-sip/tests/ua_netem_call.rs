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
//! Two sotto user agents calling each other through sotto-netem on a virtual clock:
//! INVITE → 100 → 180 → 200 → ACK → (re-INVITE hold/resume) → BYE, with and without 10 %
//! loss; CANCEL; 486 rejection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sotto_netem::{Endpoint, Link, NetemConfig, Pair};
use sotto_sip::sdp::{self, Direction, LocalAudio, SessionDescription};
use sotto_sip::ua::{CallHandle, EndReason, UaConfig, UaEvent, UaOutput};
use sotto_sip::{Uri, UserAgent};

mod support;
use support::{Seeded, count};

const ALICE: &str = "192.0.2.1:5060";
const BOB: &str = "192.0.2.2:5062";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Calls, holds and resumes after the answer, hangs up.
    Caller { hold: bool },
    /// Calls and hangs up while it rings (CANCEL).
    CancelWhileRinging,
    /// Rings, answers after 1 s, answers re-INVITEs.
    Callee,
    /// Rejects with 486.
    Busy,
    /// Rings and never answers.
    RingForever,
    /// The user hangs up an incoming call without answering (603 Decline).
    Decline,
}

struct Phone {
    ua: UserAgent,
    me: SocketAddr,
    peer: SocketAddr,
    script: Script,
    audio: LocalAudio,
    out: VecDeque<Vec<u8>>,
    events: Vec<UaEvent>,
    /// (when, what) actions scheduled by the script.
    todo: Vec<(Instant, Action)>,
    call: Option<CallHandle>,
    offer: Option<SessionDescription>,
    negotiated: Vec<Direction>,
    version: u64,
    drop_acks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Answer,
    Hold,
    Resume,
    Hangup,
}

impl Phone {
    fn new(me: &str, peer: &str, user: &str, script: Script, seed: u64) -> Self {
        Self::with_transport(me, peer, user, script, seed, false)
    }

    fn with_transport(
        me: &str,
        peer: &str,
        user: &str,
        script: Script,
        seed: u64,
        reliable: bool,
    ) -> Self {
        let me: SocketAddr = me.parse().unwrap();
        let mut cfg = UaConfig::new(me, user);
        cfg.transport = if reliable {
            sotto_sip::transaction::Transport::Tcp
        } else {
            sotto_sip::transaction::Transport::Udp
        };
        let mut audio = LocalAudio::new(SocketAddr::new(me.ip(), me.port() + 1000));
        audio.zrtp_hash = Some(sdp::ZrtpHash {
            version: "1.10".into(),
            hash: [seed as u8; 32],
        });
        Self {
            ua: UserAgent::new(cfg, Box::new(Seeded(ChaCha8Rng::seed_from_u64(seed)))),
            me,
            peer: peer.parse().unwrap(),
            script,
            audio,
            out: VecDeque::new(),
            events: Vec::new(),
            todo: Vec::new(),
            call: None,
            offer: None,
            negotiated: Vec::new(),
            version: 1,
            drop_acks: false,
        }
    }

    fn start(&mut self, now: Instant) {
        if matches!(
            self.script,
            Script::Caller { .. } | Script::CancelWhileRinging
        ) {
            let offer = sdp::create_offer(&self.audio, 42, self.version);
            let target: Uri = format!("sip:bob@{}", self.peer).parse().unwrap();
            self.call = Some(self.ua.invite(now, target, self.peer, offer.to_bytes()));
            self.offer = Some(offer);
            self.pump(now);
        }
    }

    fn ended(&self) -> Option<&EndReason> {
        self.events.iter().find_map(|e| match e {
            UaEvent::Ended { reason, .. } => Some(reason),
            _ => None,
        })
    }

    fn offer_with(&mut self, dir: Direction) -> Vec<u8> {
        self.version += 1;
        let mut a = self.audio.clone();
        a.direction = dir;
        let offer = sdp::create_offer(&a, 42, self.version);
        self.offer = Some(offer.clone());
        offer.to_bytes()
    }

    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.ua.poll_output() {
            match o {
                UaOutput::Transmit { data, .. } if self.drop_acks && data.starts_with(b"ACK ") => {}
                UaOutput::Transmit { to, data } => {
                    assert_eq!(to, self.peer, "{} sends only to its peer", self.me);
                    self.out.push_back(data);
                }
                UaOutput::Event(e) => {
                    self.react(now, &e);
                    self.events.push(e);
                }
            }
        }
    }

    fn react(&mut self, now: Instant, e: &UaEvent) {
        match (self.script, e) {
            (Script::Callee, UaEvent::IncomingCall { call, offer, .. }) => {
                self.call = Some(*call);
                SessionDescription::parse(offer).unwrap();
                self.ua.ringing(now, *call).unwrap();
                self.todo
                    .push((now + Duration::from_secs(1), Action::Answer));
            }
            (Script::Decline, UaEvent::IncomingCall { call, .. }) => {
                self.ua.ringing(now, *call).unwrap();
                self.ua.hangup(now, *call).unwrap();
            }
            (Script::RingForever, UaEvent::IncomingCall { call, .. }) => {
                self.call = Some(*call);
                self.ua.ringing(now, *call).unwrap();
            }
            (Script::Busy, UaEvent::IncomingCall { call, .. }) => {
                self.ua.reject(now, *call, 486).unwrap()
            }
            (Script::Callee, UaEvent::Reinvite { call, offer }) => {
                let offer = SessionDescription::parse(offer).unwrap();
                let (answer, n) = sdp::create_answer(&offer, &self.audio, 7, 2).unwrap();
                self.negotiated.push(n.direction);
                self.ua.answer(now, *call, answer.to_bytes()).unwrap();
            }
            (Script::Caller { hold }, UaEvent::Answered { answer, .. }) => {
                let answer = SessionDescription::parse(answer).unwrap();
                let n = sdp::process_answer(self.offer.as_ref().unwrap(), &answer, &self.audio)
                    .unwrap();
                assert_eq!(
                    n.remote_zrtp_hash.unwrap().hash,
                    [2; 32],
                    "callee's a=zrtp-hash"
                );
                self.negotiated.push(n.direction);
                let next = if hold { Action::Hold } else { Action::Hangup };
                self.todo.push((now + Duration::from_secs(2), next));
            }
            (Script::Caller { .. }, UaEvent::ReinviteAnswered { answer, .. }) => {
                let answer = SessionDescription::parse(answer).unwrap();
                let n = sdp::process_answer(self.offer.as_ref().unwrap(), &answer, &self.audio)
                    .unwrap();
                self.negotiated.push(n.direction);
                let next = if n.direction == Direction::SendOnly {
                    Action::Resume
                } else {
                    Action::Hangup
                };
                self.todo.push((now + Duration::from_secs(1), next));
            }
            (Script::CancelWhileRinging, UaEvent::Ringing { call, .. }) => {
                self.ua.hangup(now, *call).unwrap()
            }
            _ => {}
        }
    }

    fn run_todo(&mut self, now: Instant) {
        let due: Vec<Action> = self
            .todo
            .iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, a)| *a)
            .collect();
        self.todo.retain(|(t, _)| *t > now);
        for a in due {
            let call = self.call.unwrap();
            match a {
                Action::Answer => {
                    let offer = match self.events.iter().find_map(|e| match e {
                        UaEvent::IncomingCall { offer, .. } => Some(offer.clone()),
                        _ => None,
                    }) {
                        Some(o) => SessionDescription::parse(&o).unwrap(),
                        None => continue,
                    };
                    let (answer, n) = sdp::create_answer(&offer, &self.audio, 7, 1).unwrap();
                    self.negotiated.push(n.direction);
                    // Still ringing? (CANCEL may have ended it.)
                    if self.ended().is_none() {
                        self.ua.answer(now, call, answer.to_bytes()).unwrap();
                    }
                }
                Action::Hold => {
                    let o = self.offer_with(Direction::SendOnly);
                    self.ua.reinvite(now, call, o).unwrap();
                }
                Action::Resume => {
                    let o = self.offer_with(Direction::SendRecv);
                    self.ua.reinvite(now, call, o).unwrap();
                }
                Action::Hangup => self.ua.hangup(now, call).unwrap(),
            }
        }
        self.pump(now);
    }
}

impl Endpoint for Phone {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        let peer = self.peer;
        self.ua.handle_datagram(now, peer, data);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
        }
        self.run_todo(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let todo = self.todo.iter().map(|(t, _)| *t).min();
        [self.ua.poll_timeout(), todo].into_iter().flatten().min()
    }
}

fn pair(caller: Script, callee: Script, loss: f64, seed: u64) -> Pair<Phone, Phone> {
    let t0 = Instant::now();
    let mut a = Phone::new(ALICE, BOB, "alice", caller, 1);
    let b = Phone::new(BOB, ALICE, "bob", callee, 2);
    a.start(t0);
    let link = if loss > 0.0 {
        Link::symmetric(
            NetemConfig::new()
                .loss(loss)
                .delay(Duration::from_millis(20)),
            seed,
        )
    } else {
        Link::perfect()
    };
    Pair::new(a, b, link, t0)
}

fn both_ended(p: &mut Pair<Phone, Phone>) -> Duration {
    let d = p
        .drive_until(
            |a, b| a.ended().is_some() && b.ended().is_some(),
            Duration::from_secs(120),
        )
        .unwrap();
    // Let every transaction run out its timers (D, K, J...), then nothing is left.
    p.drive(Duration::from_secs(120)).unwrap();
    assert_eq!(p.a().ua.transaction_count(), 0);
    assert_eq!(p.b().ua.transaction_count(), 0);
    d
}

#[test]
fn call_invite_180_200_ack_bye_no_loss() {
    let real = Instant::now();
    let mut p = pair(Script::Caller { hold: false }, Script::Callee, 0.0, 0);
    let took = both_ended(&mut p);
    let (a, b) = (p.a(), p.b());
    assert_eq!(a.ended(), Some(&EndReason::LocalHangup));
    assert_eq!(b.ended(), Some(&EndReason::RemoteHangup));
    assert_eq!(
        count(&a.events, |e| matches!(e, UaEvent::Ringing { .. })),
        1
    );
    assert_eq!(
        count(&a.events, |e| matches!(e, UaEvent::Answered { .. })),
        1
    );
    assert_eq!(
        count(&b.events, |e| matches!(e, UaEvent::Confirmed { .. })),
        1
    );
    assert_eq!(
        count(&a.events, |e| matches!(e, UaEvent::Dropped { .. })),
        0
    );
    assert_eq!(
        count(&b.events, |e| matches!(e, UaEvent::Dropped { .. })),
        0
    );
    // 1 s ringing + 2 s talk, no retransmission needed.
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_millis(3100),
        "{took:?}"
    );
    println!("virtual {took:?}, real {:?}", real.elapsed());
}

#[test]
fn call_with_10_percent_loss_completes_for_many_seeds() {
    let real = Instant::now();
    let mut lost = 0;
    for seed in 0..40 {
        let mut p = pair(Script::Caller { hold: false }, Script::Callee, 0.10, seed);
        both_ended(&mut p);
        lost += p.link().a_to_b.stats().lost_random + p.link().b_to_a.stats().lost_random;
        let (a, b) = (p.a(), p.b());
        assert_eq!(
            count(&a.events, |e| matches!(e, UaEvent::Answered { .. })),
            1,
            "seed {seed}"
        );
        assert_eq!(
            count(&b.events, |e| matches!(e, UaEvent::IncomingCall { .. })),
            1,
            "seed {seed}"
        );
        assert_eq!(a.ended(), Some(&EndReason::LocalHangup), "seed {seed}");
        assert_eq!(b.ended(), Some(&EndReason::RemoteHangup), "seed {seed}");
    }
    assert!(
        lost > 20,
        "the link really lost packets ({lost}), retransmissions recovered them"
    );
    println!(
        "40 lossy calls, {lost} packets lost, in {:?} real time",
        real.elapsed()
    );
}

#[test]
fn hold_and_resume_by_reinvite_with_loss() {
    for (seed, loss) in [(0, 0.0), (1, 0.1), (2, 0.1), (3, 0.1)] {
        let mut p = pair(Script::Caller { hold: true }, Script::Callee, loss, seed);
        both_ended(&mut p);
        let (a, b) = (p.a(), p.b());
        // Caller: sendrecv, then on hold (we send only), then resumed.
        assert_eq!(
            a.negotiated,
            vec![
                Direction::SendRecv,
                Direction::SendOnly,
                Direction::SendRecv
            ],
            "seed {seed}"
        );
        // Callee: answered sendrecv, then recvonly, then sendrecv (RFC 3264 §8.4).
        assert_eq!(
            b.negotiated,
            vec![
                Direction::SendRecv,
                Direction::RecvOnly,
                Direction::SendRecv
            ],
            "seed {seed}"
        );
        assert_eq!(a.ended(), Some(&EndReason::LocalHangup));
    }
}

#[test]
fn cancel_while_ringing() {
    for (seed, loss) in [(0, 0.0), (5, 0.1), (6, 0.1)] {
        let mut p = pair(Script::CancelWhileRinging, Script::Callee, loss, seed);
        both_ended(&mut p);
        let (a, b) = (p.a(), p.b());
        if count(&a.events, |e| matches!(e, UaEvent::Ringing { .. })) == 0 {
            // The 180 was lost; the callee answered and the caller... never hung up. Not this seed.
            continue;
        }
        assert_eq!(a.ended(), Some(&EndReason::Cancelled), "seed {seed}");
        assert_eq!(b.ended(), Some(&EndReason::Cancelled), "seed {seed}");
    }
}

#[test]
fn busy_here_486() {
    for (seed, loss) in [(0, 0.0), (7, 0.1)] {
        let mut p = pair(Script::Caller { hold: false }, Script::Busy, loss, seed);
        both_ended(&mut p);
        assert_eq!(p.a().ended(), Some(&EndReason::Rejected(486)));
        assert_eq!(p.b().ended(), Some(&EndReason::Declined(486)));
    }
}

#[test]
fn call_over_reliable_transport_has_no_retransmissions_and_no_linger() {
    // §17.1.1.2 / §17.2.1: over TCP, no A/E/G retransmissions and D/I/J/K are zero.
    let t0 = Instant::now();
    let mut a = Phone::with_transport(ALICE, BOB, "alice", Script::Caller { hold: false }, 1, true);
    let b = Phone::with_transport(BOB, ALICE, "bob", Script::Callee, 2, true);
    a.start(t0);
    let mut p = Pair::new(
        a,
        b,
        Link::symmetric(NetemConfig::new().delay(Duration::from_millis(30)), 1),
        t0,
    );
    p.enable_capture();
    p.drive_until(
        |a, b| a.ended().is_some() && b.ended().is_some(),
        Duration::from_secs(60),
    )
    .unwrap();
    let ended_at = p.elapsed();
    let drained = p.drive(Duration::from_secs(60)).unwrap();
    assert_eq!(
        p.a().ua.transaction_count() + p.b().ua.transaction_count(),
        0
    );
    assert!(
        drained < Duration::from_secs(1),
        "nothing lingers over TCP ({drained:?} after {ended_at:?})"
    );
    let firsts: Vec<String> = p
        .captured()
        .iter()
        .map(|c| {
            String::from_utf8_lossy(&c.data)
                .lines()
                .next()
                .unwrap()
                .split(' ')
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        firsts,
        [
            "INVITE sip:bob@192.0.2.2:5062",
            "SIP/2.0 100",
            "SIP/2.0 180",
            "SIP/2.0 200",
            "ACK sip:bob@192.0.2.2:5062;transport=tcp",
            "BYE sip:bob@192.0.2.2:5062;transport=tcp",
            "SIP/2.0 200"
        ],
    );
    let invite = String::from_utf8_lossy(&p.captured()[0].data).into_owned();
    assert!(
        invite.contains("Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK"),
        "{invite}"
    );
    assert!(
        invite.contains(";transport=tcp>"),
        "Contact says TCP: {invite}"
    );
}

#[test]
fn callee_without_ack_retransmits_200_then_hangs_up() {
    // §13.3.1.4: the UAS retransmits its 2xx at T1, 2T1... capped at T2, and after 64*T1
    // without ACK ends the call with BYE. Here every ACK from A is lost.
    let t0 = Instant::now();
    let mut a = Phone::new(ALICE, BOB, "alice", Script::Caller { hold: false }, 1);
    let b = Phone::new(BOB, ALICE, "bob", Script::Callee, 2);
    // A swallows its own ACKs (as if the network dropped every one).
    a.drop_acks = true;
    a.start(t0);
    let mut p = Pair::new(a, b, Link::perfect(), t0);
    p.enable_capture();
    p.drive_until(
        |a, _| {
            a.events
                .iter()
                .any(|e| matches!(e, UaEvent::Answered { .. }))
        },
        Duration::from_secs(10),
    )
    .unwrap();
    p.a_mut().todo.clear(); // A does not hang up by itself
    p.drive_until(|_, b| b.ended().is_some(), Duration::from_secs(60))
        .unwrap();
    assert_eq!(p.b().ended(), Some(&EndReason::Timeout));
    let oks = p
        .captured()
        .iter()
        .filter(|c| {
            c.data.starts_with(b"SIP/2.0 200")
                && String::from_utf8_lossy(&c.data).contains("INVITE\r\n")
        })
        .count();
    assert!(oks >= 7, "the 200 was retransmitted ({oks} copies)");
    assert!(
        p.captured().iter().any(|c| c.data.starts_with(b"BYE ")),
        "the callee hung up with BYE"
    );
    p.drive_until(|a, _| a.ended().is_some(), Duration::from_secs(10))
        .unwrap();
    assert_eq!(p.a().ended(), Some(&EndReason::RemoteHangup));
}

#[test]
fn unanswered_call_is_cancelled_after_the_invite_timeout() {
    // Nobody picks up: after 180 s the caller CANCELs; both ends see the call end.
    let mut p = pair(Script::Caller { hold: false }, Script::RingForever, 0.0, 0);
    let took = p
        .drive_until(
            |a, b| a.ended().is_some() && b.ended().is_some(),
            Duration::from_secs(400),
        )
        .unwrap();
    assert_eq!(p.a().ended(), Some(&EndReason::Timeout));
    assert_eq!(p.b().ended(), Some(&EndReason::Cancelled));
    assert!(
        took >= Duration::from_secs(180) && took < Duration::from_secs(181),
        "{took:?}"
    );
    p.drive(Duration::from_secs(120)).unwrap();
    assert_eq!(
        p.a().ua.transaction_count() + p.b().ua.transaction_count(),
        0
    );
}

#[test]
fn declined_603() {
    for (seed, loss) in [(0, 0.0), (8, 0.1)] {
        let mut p = pair(Script::Caller { hold: false }, Script::Decline, loss, seed);
        both_ended(&mut p);
        assert_eq!(p.a().ended(), Some(&EndReason::Rejected(603)));
        assert_eq!(p.b().ended(), Some(&EndReason::Declined(603)));
    }
}
