//! Shared by the sotto-otr integration tests: a seeded RNG, a sotto session with its queued
//! outputs, and the interop steps (pump, connect, message exchange) run against any foreign
//! OTR peer (libotr through our C harness, python-potr through our Python harness).
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of this module"
)]

use rand::{RngCore, SeedableRng};
use sotto_otr::{Config, Event, InstanceTag, LongTermKey, OtrState, Output, Session, SmpOutcome};
use sotto_proto::crypto::Random;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// A deterministic [`Random`], so a failing run replays from its seed.
pub struct Rng(pub rand_chacha::ChaCha20Rng);

impl Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// A [`Rng`] seeded with `seed`.
pub fn rng(seed: u64) -> Rng {
    Rng(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

/// Moves a session's queued outputs into `net` (wire messages) and `events`.
pub fn drain(s: &mut Session, net: &mut Vec<String>, events: &mut Vec<Event>) {
    while let Some(o) = s.poll_output() {
        match o {
            Output::SendToNetwork(t) => net.push(t),
            Output::Event(e) => events.push(e),
        }
    }
}

/// Removes the displayed messages from `events`, as (text, encrypted).
pub fn take_messages(events: &mut Vec<Event>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    events.retain(|e| match e {
        Event::DisplayMessage { text, encrypted } => {
            out.push((text.clone(), *encrypted));
            false
        }
        _ => true,
    });
    out
}

/// The last SMP outcome among `events`.
pub fn last_smp(events: &[Event]) -> Option<SmpOutcome> {
    events.iter().rev().find_map(|e| match e {
        Event::SmpResult(o) => Some(*o),
        _ => None,
    })
}

/// The question of the first SMP request among `events`: `Some(None)` for a request without
/// one, `None` if no request came.
pub fn smp_question(events: &[Event]) -> Option<Option<String>> {
    events.iter().find_map(|e| match e {
        Event::SmpRequest { question } => Some(question.clone()),
        _ => None,
    })
}

/// The SMP outcome expected when the secrets matched (`ok`) or not.
pub fn smp_outcome(ok: bool) -> SmpOutcome {
    if ok {
        SmpOutcome::Succeeded
    } else {
        SmpOutcome::Failed
    }
}

/// Our side of an interop conversation: the session, its events, what it sent and has yet
/// to deliver (`net`), everything it ever sent (`wire`), and its own RNG.
pub struct Sotto {
    pub s: Session,
    pub events: Vec<Event>,
    pub net: Vec<String>,
    pub wire: Vec<String>,
    pub rng: Rng,
}

impl Sotto {
    /// A session with `key`, its instance tag and later randomness from `seed`.
    pub fn new(cfg: Config, key: Arc<LongTermKey>, seed: u64) -> Self {
        let mut rng = rng(seed);
        let s = Session::new(cfg, key, InstanceTag::random(&mut rng));
        Self {
            s,
            events: Vec::new(),
            net: Vec::new(),
            wire: Vec::new(),
            rng,
        }
    }

    /// Collects the session's queued outputs.
    pub fn drain(&mut self) {
        drain(&mut self.s, &mut self.net, &mut self.events);
    }

    /// Removes and returns the displayed messages, as (text, encrypted).
    pub fn take_messages(&mut self) -> Vec<(String, bool)> {
        take_messages(&mut self.events)
    }

    /// The last SMP outcome.
    pub fn smp(&self) -> Option<SmpOutcome> {
        last_smp(&self.events)
    }
}

/// A foreign OTR implementation driven by a harness process.
pub trait ForeignPeer: Sized {
    /// Its name in messages.
    const NAME: &'static str;
    /// What ends each test message (kept from the scenarios as first written).
    const PAD: &'static str;
    /// How often a message is repeated to make a long one.
    const LONG_REPEAT: usize;

    /// Starts the peer, fragmenting what it sends to `fragment_size` when given.
    fn spawn(fragment_size: Option<usize>) -> Self;
    /// Asks the peer to start the AKE (an OTR query message).
    fn query(&mut self);
    /// Hands the peer a message from the network.
    fn deliver(&mut self, msg: &str);
    /// Asks the peer to send `text`.
    fn send(&mut self, text: &str);
    /// Takes what the peer sent and has yet to be delivered.
    fn take_net(&mut self) -> Vec<String>;
    /// Records a message the peer sent.
    fn record_wire(&mut self, msg: String);
    /// Removes and returns the messages the peer displayed, as (text, encrypted).
    fn take_messages(&mut self) -> Vec<(String, bool)>;
    /// What the peer reported, for failure messages.
    fn log(&self) -> String;
}

/// Delivers messages both ways until both sides are quiet; sotto must accept all of them.
pub fn pump<P: ForeignPeer>(me: &mut Sotto, peer: &mut P) {
    let now = Instant::now();
    loop {
        me.drain();
        let theirs = peer.take_net();
        if me.net.is_empty() && theirs.is_empty() {
            return;
        }
        for m in std::mem::take(&mut me.net) {
            me.wire.push(m.clone());
            peer.deliver(&m);
        }
        // What the peer sent while answering ours is taken on the next round.
        for m in theirs.into_iter().chain(peer.take_net()) {
            peer.record_wire(m.clone());
            if let Err(e) = me.s.handle_incoming(now, &m, &mut me.rng) {
                panic!("sotto rejected {}'s message {m:?}: {e}", P::NAME);
            }
            me.drain();
        }
    }
}

/// Starts a sotto session (fragmenting to `fragment`) and a peer, lets one of them start the
/// AKE and checks that sotto ended up in an unverified private conversation.
pub fn connect<P: ForeignPeer>(
    sotto_starts: bool,
    fragment: Option<usize>,
    key: Arc<LongTermKey>,
    seed: u64,
) -> (Sotto, P) {
    let cfg = Config {
        max_fragment_size: fragment,
        ..Config::default()
    };
    let mut me = Sotto::new(cfg, key, seed);
    let mut peer = P::spawn(fragment);
    if sotto_starts {
        me.s.start();
    } else {
        peer.query();
    }
    pump(&mut me, &mut peer);
    assert_eq!(
        me.s.state(),
        OtrState::Unverified,
        "sotto events: {:?}",
        me.events
    );
    (me, peer)
}

/// `rounds` messages from sotto, and a reply to three in four; `long` ones are fragmented
/// when the sides fragment. Each must arrive encrypted and intact.
pub fn exchange<P: ForeignPeer>(me: &mut Sotto, peer: &mut P, rounds: usize, long: bool) {
    let now = Instant::now();
    let repeat = if long { P::LONG_REPEAT } else { 1 };
    for i in 0..rounds {
        let msg = format!("sotto → {} #{i}: grüße, 日本語, ✓{}", P::NAME, P::PAD).repeat(repeat);
        me.s.send(now, &msg, &mut me.rng).unwrap();
        pump(me, peer);
        assert_eq!(
            peer.take_messages(),
            vec![(msg, true)],
            "{} said {}",
            P::NAME,
            peer.log()
        );
        if i % 4 != 3 {
            let msg = format!("{} → sotto #{i}: ça va? ünïcødé{}", P::NAME, P::PAD).repeat(repeat);
            peer.send(&msg);
            pump(me, peer);
            assert_eq!(me.take_messages(), vec![(msg, true)]);
        }
    }
}

/// The largest sender key id among the whole (unfragmented) data messages of OTR `version`
/// (2 or 3) in `wire`.
pub fn max_sender_keyid(wire: &[String], version: u8) -> u32 {
    use base64::Engine as _;
    // After protocol version (2 bytes), type and flags (1 each); v3 adds two instance tags.
    let at = if version == 3 { 12 } else { 4 };
    wire.iter()
        .filter_map(|m| {
            m.strip_prefix("?OTR:")?
                .strip_suffix('.')
                .map(str::to_owned)
        })
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .filter(|b| b.len() > at + 4 && b[..3] == [0, version, 3])
        .map(|b| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()))
        .max()
        .unwrap_or(0)
}

/// A peer harness process spoken to line by line over its stdin and stdout (its stderr goes
/// to the test's); on drop it is sent its `quit` line and waited for.
pub struct Harness {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    quit: String,
}

impl Harness {
    /// Spawns `cmd` with piped stdin and stdout; `quit` is the line that makes it exit.
    pub fn spawn(cmd: &mut Command, quit: String) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            quit,
        }
    }

    /// Sends one line.
    pub fn write_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Reads one line (with its line end); `who` exited if there is none.
    pub fn read_line(&mut self, who: &str) -> String {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "{who} exited");
        line
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", self.quit);
        let _ = self.child.wait();
    }
}
