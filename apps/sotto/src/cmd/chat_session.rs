//! One OTR conversation as the user sees it: the `sotto-otr` engine plus the trust store,
//! turned into the four states Pidgin showed (`not private`, `unverified`, `private`,
//! `finished`) and driven by the lines the user types.
//!
//! Sans network and sans clock: text from the peer comes in through
//! [`ChatSession::handle_network`], lines the user typed through [`ChatSession::handle_line`],
//! and everything to send or show comes out of [`ChatSession::poll_output`]. Time is an
//! argument, randomness a `&mut dyn Random`. The trust store is the real [`Store`] (an in-memory
//! one under `--ephemeral` and in tests); only keys, fingerprints and flags go into it, never a
//! message.
//!
//! # Commands
//!
//! | line | what it does |
//! |---|---|
//! | `/otr start` | ask the peer to start (or refresh) OTR |
//! | `/otr end` | end the private conversation (back to `not private`) |
//! | `/verify question <q> <secret>` | SMP with a question the peer sees: `<q>` in double quotes, or everything up to and including the first `?` |
//! | `/verify secret <s>` | answer the peer's SMP request, or start SMP without a question |
//! | `/verify fingerprint` | mark the peer's current fingerprint verified after comparing it (`/fingerprint`) over another channel |
//! | `/smp abort` | abort a running SMP |
//! | `/fingerprint` | show both fingerprints and how to compare them |
//! | `//text` | send the message `/text` |
//! | anything else | a message |
//!
//! # Verification
//!
//! `private` means the key the peer uses now is verified: by `/verify fingerprint`, by an SMP
//! run that succeeded, or earlier (the trust store remembers it per key, so a second
//! conversation with the same key is `private` at once). A key never seen for this contact is
//! a loud `fingerprint_changed` warning and `unverified`, whatever the old key's flag was. An
//! SMP run that fails (different secrets, a bad proof, or an abort instead of the last message)
//! is reported as failed and verifies nothing; like Pidgin, it does not take back a verification
//! the key already had.
//!
//! # Plaintext policy
//!
//! Default: **never send plaintext**. A message typed while the conversation is `not private` is
//! refused (not sent, not queued: nothing leaves later without the user seeing the state first)
//! and OTR is started, once; the user sends it again when the band says `unverified` or
//! `private`. With `allow_plaintext` (`--allow-plaintext`) such a message goes out in the clear
//! and is shown as such. A message typed while `finished` is refused: the peer has left the
//! private conversation, and only `/otr end` or `/otr start` gets out of that state.

use anyhow::Result;
use sotto_otr::{
    Config, Event, Fingerprint, InstanceTag, LongTermKey, OtrState, Output, Session, SmpOutcome,
};
use sotto_proto::crypto::Random;
use sotto_store::{FingerprintSeen, Store, unix_now};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// How an SMP run looks to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SmpUi {
    /// The peer wants to verify: answer with `/verify secret <s>`.
    Asked {
        /// The peer's question, if any.
        question: Option<String>,
    },
    /// We started SMP and wait for the peer's answer.
    Started,
    /// We answered the peer's request and wait for the result.
    Answered,
    /// Both sides hold the same secret: the peer is verified.
    Succeeded,
    /// The secrets differ (or the peer aborted at the last step).
    Failed,
    /// One side aborted before there was a result.
    Aborted,
    /// The peer's proof did not check.
    Cheated,
}

impl SmpUi {
    /// Short word for JSON.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Asked { .. } => "asked",
            Self::Started => "started",
            Self::Answered => "answered",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::Cheated => "cheated",
        }
    }
}

/// Something for the screen (or the JSON stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UiEvent {
    /// The state changed.
    State {
        /// The new state.
        state: OtrState,
        /// The peer's fingerprint while encrypted.
        fingerprint: Option<Fingerprint>,
    },
    /// A message to show.
    Message {
        /// True if it came from the peer, false for our own (echoed once sent).
        incoming: bool,
        /// The text.
        text: String,
        /// Whether it travelled encrypted.
        encrypted: bool,
    },
    /// SMP progress.
    Smp(SmpUi),
    /// LOUD WARNING: the peer presented a key we never saw for them.
    FingerprintChanged {
        /// The key they used before.
        old: Fingerprint,
        /// The key they use now (unverified).
        new: Fingerprint,
    },
    /// Answer to `/fingerprint`.
    Fingerprint {
        /// Ours.
        ours: Fingerprint,
        /// Theirs, while encrypted.
        theirs: Option<Fingerprint>,
        /// Whether theirs is verified.
        verified: bool,
    },
    /// Information for the user.
    Notice(String),
    /// Something the user must know went wrong (a refused line, a peer's error...).
    Error(String),
}

/// Output of [`ChatSession::poll_output`].
#[derive(Debug)]
pub(crate) enum ChatOutput {
    /// Send this text to the peer (an XMPP message body).
    Network(String),
    /// Show this.
    Ui(UiEvent),
}

/// What [`ChatSession::handle_line`] asks the driver to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineOutcome {
    /// Keep going.
    Continue,
    /// The user asked to quit (`/quit`); the session was ended politely.
    Quit,
}

/// The user's words for a state.
pub(crate) fn state_word(s: OtrState) -> &'static str {
    match s {
        OtrState::NotPrivate => "not private",
        OtrState::Unverified => "unverified",
        OtrState::Private => "private",
        OtrState::Finished => "finished",
    }
}

/// The help text for `/help`.
pub(crate) const HELP: &str = "/otr start · /otr end · /verify question \"<q>\" <secret> · \
/verify secret <s> · /verify fingerprint · /smp abort · /fingerprint · /quit · //text sends \"/text\"";

/// One conversation with one contact.
pub(crate) struct ChatSession {
    otr: Session,
    store: Store,
    account: String,
    contact: String,
    our_fp: Fingerprint,
    allow_plaintext: bool,
    /// The peer asked for SMP and waits for our secret.
    smp_asked: bool,
    /// We sent a query since the conversation last became not private.
    query_sent: bool,
    out: VecDeque<ChatOutput>,
}

/// `account`/`contact` as the store keys them: bare JIDs in lower case.
pub(crate) fn bare_jid(jid: &str) -> String {
    jid.split('/').next().unwrap_or(jid).trim().to_lowercase()
}

impl ChatSession {
    /// A conversation of `account` with `contact` (bare JIDs), with our long-term `key`.
    pub(crate) fn new(
        config: Config,
        key: Arc<LongTermKey>,
        tag: InstanceTag,
        store: Store,
        account: &str,
        contact: &str,
        allow_plaintext: bool,
    ) -> Result<Self> {
        let account = bare_jid(account);
        let contact = bare_jid(contact);
        let our_fp = key.fingerprint();
        let mut otr = Session::new(config, key, tag);
        otr.set_known_peer(store.otr_known_peer(&account, &contact)?);
        Ok(Self {
            otr,
            store,
            account,
            contact,
            our_fp,
            allow_plaintext,
            smp_asked: false,
            query_sent: false,
            out: VecDeque::new(),
        })
    }

    /// The state the user sees.
    pub(crate) fn state(&self) -> OtrState {
        self.otr.state()
    }

    /// The peer's fingerprint while encrypted.
    #[cfg(test)]
    pub(crate) fn their_fingerprint(&self) -> Option<Fingerprint> {
        self.otr.their_fingerprint()
    }

    /// The contact (bare JID).
    pub(crate) fn contact(&self) -> &str {
        &self.contact
    }

    /// The trust store.
    #[cfg(test)]
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The next thing to send or show.
    pub(crate) fn poll_output(&mut self) -> Option<ChatOutput> {
        self.out.pop_front()
    }

    fn ui(&mut self, e: UiEvent) {
        self.out.push_back(ChatOutput::Ui(e));
    }

    fn error(&mut self, msg: impl Into<String>) {
        self.ui(UiEvent::Error(msg.into()));
    }

    fn notice(&mut self, msg: impl Into<String>) {
        self.ui(UiEvent::Notice(msg.into()));
    }

    /// A message body arrived from the contact.
    pub(crate) fn handle_network(&mut self, now: Instant, body: &str, rng: &mut dyn Random) {
        if let Err(e) = self.otr.handle_incoming(now, body, rng) {
            // Dropped (malformed, bad MAC, replay...): the session is unchanged. Never log the
            // body.
            tracing::debug!("OTR message dropped: {e}");
        }
        self.pump(rng);
    }

    /// A line the user typed.
    pub(crate) fn handle_line(
        &mut self,
        now: Instant,
        line: &str,
        rng: &mut dyn Random,
    ) -> LineOutcome {
        let outcome = self.line(now, line, rng);
        self.pump(rng);
        outcome
    }

    fn line(&mut self, now: Instant, line: &str, rng: &mut dyn Random) -> LineOutcome {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return LineOutcome::Continue;
        }
        if let Some(literal) = trimmed.strip_prefix("//") {
            self.send_text(now, &format!("/{literal}"), rng);
            return LineOutcome::Continue;
        }
        let Some(cmd) = trimmed.strip_prefix('/') else {
            self.send_text(now, line, rng);
            return LineOutcome::Continue;
        };
        let (word, rest) = split_word(cmd);
        match word {
            "otr" => match rest.trim() {
                "start" => {
                    self.otr.start();
                    self.query_sent = true;
                    self.notice("asking the peer to start OTR");
                }
                "end" => {
                    if let Err(e) = self.otr.end(rng) {
                        self.error(format!("cannot end: {e}"));
                    }
                }
                _ => self.error("usage: /otr start | /otr end"),
            },
            "verify" => self.verify(rest, rng),
            "smp" if rest.trim() == "abort" => {
                self.smp_asked = false;
                if let Err(e) = self.otr.abort_smp(rng) {
                    self.error(format!("no SMP to abort: {e}"));
                }
            }
            "fingerprint" | "fp" => {
                let theirs = self.otr.their_fingerprint();
                self.ui(UiEvent::Fingerprint {
                    ours: self.our_fp,
                    theirs,
                    verified: self.otr.state() == OtrState::Private,
                });
            }
            "help" => self.notice(HELP),
            "quit" => {
                if matches!(self.otr.state(), OtrState::Unverified | OtrState::Private) {
                    let _ = self.otr.end(rng);
                }
                return LineOutcome::Quit;
            }
            _ => self.error(format!("unknown command /{word}; {HELP}")),
        }
        LineOutcome::Continue
    }

    fn verify(&mut self, args: &str, rng: &mut dyn Random) {
        let (kind, rest) = split_word(args);
        let result = match kind {
            "question" => {
                let Some((q, secret)) = split_question(rest) else {
                    self.error("usage: /verify question \"<question>\" <secret>");
                    return;
                };
                self.smp_asked = false;
                self.otr
                    .start_smp(Some(&q), secret.as_bytes(), rng)
                    .map(|()| SmpUi::Started)
            }
            "secret" => {
                let secret = rest.trim();
                if secret.is_empty() {
                    self.error("usage: /verify secret <secret>");
                    return;
                }
                if self.smp_asked {
                    self.smp_asked = false;
                    self.otr
                        .respond_smp(secret.as_bytes(), rng)
                        .map(|()| SmpUi::Answered)
                } else {
                    self.otr
                        .start_smp(None, secret.as_bytes(), rng)
                        .map(|()| SmpUi::Started)
                }
            }
            "fingerprint" => {
                match self.otr.verify_fingerprint() {
                    Ok(()) => self.notice("fingerprint marked as verified"),
                    Err(_) => self.error("no private conversation: nothing to verify yet"),
                }
                return;
            }
            _ => {
                self.error(
                    "usage: /verify question \"<q>\" <secret> | /verify secret <s> | /verify fingerprint",
                );
                return;
            }
        };
        match result {
            Ok(s) => self.ui(UiEvent::Smp(s)),
            Err(_) => self.error("SMP needs a private conversation: /otr start first"),
        }
    }

    fn send_text(&mut self, now: Instant, text: &str, rng: &mut dyn Random) {
        match self.otr.state() {
            OtrState::Unverified | OtrState::Private => match self.otr.send(now, text, rng) {
                Ok(()) => self.ui(UiEvent::Message {
                    incoming: false,
                    text: text.to_owned(),
                    encrypted: true,
                }),
                Err(e) => self.error(format!("not sent: {e}")),
            },
            OtrState::Finished => self.error(format!(
                "not sent: {} ended the private conversation; /otr end to leave it or /otr start to restart it",
                self.contact
            )),
            OtrState::NotPrivate if self.allow_plaintext => match self.otr.send(now, text, rng) {
                Ok(()) => self.ui(UiEvent::Message {
                    incoming: false,
                    text: text.to_owned(),
                    encrypted: false,
                }),
                Err(e) => self.error(format!("not sent: {e}")),
            },
            OtrState::NotPrivate => {
                let starting = if self.query_sent {
                    "OTR is being started"
                } else {
                    self.otr.start();
                    self.query_sent = true;
                    "starting OTR now"
                };
                self.error(format!(
                    "not sent: the conversation is not private and plaintext is never sent \
                     ({starting}; send it again once the state says unverified or private)"
                ));
            }
        }
    }

    /// Drains the engine: network output goes out, events are checked against the trust
    /// store and turned into what the user sees.
    fn pump(&mut self, rng: &mut dyn Random) {
        while let Some(o) = self.otr.poll_output() {
            match o {
                Output::SendToNetwork(t) => self.out.push_back(ChatOutput::Network(t)),
                Output::Event(e) => self.on_event(e, rng),
            }
        }
    }

    fn on_event(&mut self, e: Event, _rng: &mut dyn Random) {
        match e {
            Event::StateChanged(state) => {
                if state == OtrState::NotPrivate {
                    self.query_sent = false;
                }
                if state != OtrState::Unverified && state != OtrState::Private {
                    self.smp_asked = false;
                }
                self.ui(UiEvent::State {
                    state,
                    fingerprint: self.otr.their_fingerprint(),
                });
                if state == OtrState::Finished {
                    self.notice(format!(
                        "{} ended the private conversation: nothing more is sent until you \
                         /otr end or /otr start",
                        self.contact
                    ));
                }
            }
            Event::FingerprintSeen {
                fingerprint: fp, ..
            }
            | Event::FingerprintChanged { new: fp, .. } => self.on_fingerprint(fp),
            Event::Verified { fingerprint } => {
                if let Err(e) = self.store.otr_set_verified(
                    &self.account,
                    &self.contact,
                    &fingerprint,
                    true,
                    unix_now(),
                ) {
                    self.error(format!("could not remember the verification: {e}"));
                }
            }
            Event::DisplayMessage { text, encrypted } => {
                self.ui(UiEvent::Message {
                    incoming: true,
                    text,
                    encrypted,
                });
            }
            Event::SmpRequest { question } => {
                self.smp_asked = true;
                self.ui(UiEvent::Smp(SmpUi::Asked { question }));
            }
            Event::SmpResult(outcome) => {
                self.smp_asked = false;
                let s = match outcome {
                    SmpOutcome::Succeeded => SmpUi::Succeeded,
                    SmpOutcome::Failed => SmpUi::Failed,
                    SmpOutcome::Cheated => SmpUi::Cheated,
                    _ => SmpUi::Aborted,
                };
                self.ui(UiEvent::Smp(s));
            }
            Event::ErrorReceived(msg) => self.error(format!("the peer's OTR reports: {msg}")),
            Event::UnreadableMessage => self.error(
                "an encrypted message from the peer could not be read (sent under keys we no \
                 longer have); it is lost",
            ),
            Event::UnencryptedWhilePrivate => self.error(
                "WARNING: the next message arrived UNENCRYPTED although the conversation is private",
            ),
            _ => {}
        }
    }

    /// After a key exchange: what does the trust store know about this key?
    fn on_fingerprint(&mut self, fp: Fingerprint) {
        let seen =
            match self
                .store
                .otr_fingerprint_seen(&self.account, &self.contact, &fp, unix_now())
            {
                Ok(s) => s,
                Err(e) => {
                    self.error(format!("could not read the trust store: {e}"));
                    return;
                }
            };
        match seen {
            FingerprintSeen::New => self.notice(format!(
                "first private conversation with {}: their fingerprint is new and not verified; \
                 compare it (/fingerprint) or use /verify",
                self.contact
            )),
            FingerprintSeen::Known { verified: true } => {
                // A key verified before (maybe on another of the peer's devices).
                if self.otr.state() != OtrState::Private {
                    let _ = self.otr.verify_fingerprint();
                }
            }
            FingerprintSeen::Known { verified: false } => {}
            FingerprintSeen::Changed { previous, .. } => {
                self.ui(UiEvent::FingerprintChanged {
                    old: previous,
                    new: fp,
                });
            }
        }
    }
}

/// First word and the rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (s.get(..i).unwrap_or(s), s.get(i..).unwrap_or("")),
        None => (s, ""),
    }
}

/// `"<question>" <secret>` or `<question ending with ?> <secret>`.
fn split_question(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    let (q, rest) = if let Some(inner) = s.strip_prefix('"') {
        let end = inner.find('"')?;
        (inner.get(..end)?, inner.get(end + 1..)?)
    } else {
        let end = s.find('?')?;
        (s.get(..=end)?, s.get(end + 1..)?)
    };
    let (q, secret) = (q.trim(), rest.trim());
    (!q.is_empty() && !secret.is_empty()).then(|| (q.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    struct Seeded(u64);
    impl Random for Seeded {
        fn fill(&mut self, buf: &mut [u8]) {
            for chunk in buf.chunks_mut(8) {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
            }
        }
    }

    fn keys() -> &'static [Arc<LongTermKey>; 3] {
        static K: OnceLock<[Arc<LongTermKey>; 3]> = OnceLock::new();
        K.get_or_init(|| [1, 2, 3].map(|s| Arc::new(LongTermKey::generate(&mut Seeded(s)))))
    }

    const A: &str = "alice@example.org";
    const B: &str = "bob@example.org";

    struct Side {
        s: ChatSession,
        ui: Vec<UiEvent>,
        rng: Seeded,
    }

    fn side(me: &str, peer: &str, key: usize, store: Store, seed: u64) -> Side {
        let mut rng = Seeded(seed);
        let cfg = Config {
            max_fragment_size: Some(300),
            ..Config::default()
        };
        let s = ChatSession::new(
            cfg,
            keys()[key].clone(),
            InstanceTag::random(&mut rng),
            store,
            me,
            peer,
            false,
        )
        .unwrap();
        Side {
            s,
            ui: Vec::new(),
            rng,
        }
    }

    /// Delivers everything `from` has to send to `to`; returns how many messages crossed.
    fn deliver(from: &mut Side, to: &mut Side) -> usize {
        let now = Instant::now();
        let mut n = 0;
        while let Some(o) = from.s.poll_output() {
            match o {
                ChatOutput::Network(t) => {
                    to.s.handle_network(now, &t, &mut to.rng);
                    n += 1;
                }
                ChatOutput::Ui(u) => from.ui.push(u),
            }
        }
        n
    }

    /// Moves messages both ways until both sides are quiet; counts what crossed.
    fn shuttle(a: &mut Side, b: &mut Side) -> usize {
        let mut moved = 0;
        loop {
            let n = deliver(a, b) + deliver(b, a);
            moved += n;
            if n == 0 {
                return moved;
            }
        }
    }

    fn line(x: &mut Side, l: &str) -> LineOutcome {
        x.s.handle_line(Instant::now(), l, &mut x.rng)
    }

    fn states(x: &Side) -> Vec<OtrState> {
        x.ui.iter()
            .filter_map(|u| match u {
                UiEvent::State { state, .. } => Some(*state),
                _ => None,
            })
            .collect()
    }

    fn smps(x: &Side) -> Vec<SmpUi> {
        x.ui.iter()
            .filter_map(|u| match u {
                UiEvent::Smp(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn received(x: &Side) -> Vec<String> {
        x.ui.iter()
            .filter_map(|u| match u {
                UiEvent::Message {
                    incoming: true,
                    text,
                    encrypted: true,
                } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn pair() -> (Side, Side) {
        let a = side(A, B, 0, Store::open_ephemeral().unwrap(), 10);
        let b = side(B, A, 1, Store::open_ephemeral().unwrap(), 20);
        (a, b)
    }

    #[test]
    fn plaintext_is_refused_and_starts_otr_then_messages_flow() {
        let (mut a, mut b) = pair();
        line(&mut a, "hello in the clear?");
        // Refused: the only network output is the query message, never the text.
        let mut net = Vec::new();
        while let Some(o) = a.s.poll_output() {
            match o {
                ChatOutput::Network(t) => net.push(t),
                ChatOutput::Ui(u) => a.ui.push(u),
            }
        }
        assert_eq!(net.len(), 1);
        assert!(net[0].starts_with("?OTRv"), "{}", net[0]);
        assert!(!net[0].contains("hello"));
        assert!(
            a.ui.iter()
                .any(|u| matches!(u, UiEvent::Error(e) if e.contains("not sent"))),
            "{:?}",
            a.ui
        );
        // Deliver the query; the AKE runs.
        let now = Instant::now();
        b.s.handle_network(now, &net[0], &mut b.rng);
        shuttle(&mut a, &mut b);
        assert_eq!(a.s.state(), OtrState::Unverified);
        assert_eq!(b.s.state(), OtrState::Unverified);
        assert_eq!(a.s.their_fingerprint(), Some(keys()[1].fingerprint()));
        line(&mut a, "grüße, ünïcödé ✓");
        let long = "x".repeat(2000);
        line(&mut b, &long);
        let moved = shuttle(&mut a, &mut b);
        assert!(
            moved > 5,
            "the long message must travel in fragments ({moved})"
        );
        assert_eq!(received(&b), vec!["grüße, ünïcödé ✓".to_owned()]);
        assert_eq!(received(&a), vec![long]);
    }

    #[test]
    fn smp_right_secret_verifies_both_and_is_remembered() {
        let (mut a, mut b) = pair();
        line(&mut a, "/otr start");
        shuttle(&mut a, &mut b);
        line(
            &mut a,
            "/verify question \"Where did we meet?\" the old harbour",
        );
        shuttle(&mut a, &mut b);
        assert_eq!(
            smps(&b),
            vec![SmpUi::Asked {
                question: Some("Where did we meet?".into())
            }]
        );
        line(&mut b, "/verify secret the old harbour");
        shuttle(&mut a, &mut b);
        assert_eq!(smps(&a), vec![SmpUi::Started, SmpUi::Succeeded]);
        assert_eq!(smps(&b).last(), Some(&SmpUi::Succeeded));
        assert_eq!(a.s.state(), OtrState::Private);
        assert_eq!(b.s.state(), OtrState::Private);
        // Remembered: a new conversation with the same store starts verified.
        let fp_b = keys()[1].fingerprint();
        let known = a.s.store().otr_known_peer(A, B).unwrap().unwrap();
        assert_eq!((known.fingerprint, known.verified), (fp_b, true));
        let store_a = std::mem::replace(&mut a.s.store, Store::open_ephemeral().unwrap());
        let mut a2 = side(A, B, 0, store_a, 11);
        let mut b2 = side(B, A, 1, Store::open_ephemeral().unwrap(), 21);
        line(&mut b2, "/otr start");
        shuttle(&mut a2, &mut b2);
        assert_eq!(a2.s.state(), OtrState::Private);
        assert_eq!(b2.s.state(), OtrState::Unverified);
    }

    #[test]
    fn smp_wrong_secret_fails_on_both_sides() {
        let (mut a, mut b) = pair();
        line(&mut a, "/otr start");
        shuttle(&mut a, &mut b);
        line(&mut a, "/verify secret apples");
        shuttle(&mut a, &mut b);
        assert_eq!(smps(&b), vec![SmpUi::Asked { question: None }]);
        line(&mut b, "/verify secret oranges");
        shuttle(&mut a, &mut b);
        assert_eq!(smps(&a).last(), Some(&SmpUi::Failed));
        assert_eq!(smps(&b).last(), Some(&SmpUi::Failed));
        assert_eq!(a.s.state(), OtrState::Unverified);
        assert_eq!(b.s.state(), OtrState::Unverified);
        assert!(!a.s.store().otr_known_peer(A, B).unwrap().unwrap().verified);
    }

    #[test]
    fn an_abort_instead_of_the_last_smp_message_is_a_failed_verification() {
        let (mut a, mut b) = pair();
        line(&mut a, "/otr start");
        shuttle(&mut a, &mut b);
        line(&mut a, "/verify secret same");
        shuttle(&mut a, &mut b);
        line(&mut b, "/verify secret same");
        // B's SMP2 reaches A, which answers with SMP3 and waits for SMP4 ...
        assert!(deliver(&mut b, &mut a) > 0);
        let mut smp3 = Vec::new();
        while let Some(o) = a.s.poll_output() {
            match o {
                ChatOutput::Network(t) => smp3.push(t),
                ChatOutput::Ui(u) => a.ui.push(u),
            }
        }
        assert!(!smp3.is_empty());
        // ... but B aborts instead of finishing (SMP3 never arrives).
        line(&mut b, "/smp abort");
        deliver(&mut b, &mut a);
        while let Some(o) = a.s.poll_output() {
            if let ChatOutput::Ui(u) = o {
                a.ui.push(u);
            }
        }
        assert_eq!(smps(&a).last(), Some(&SmpUi::Failed), "{:?}", a.ui);
        assert_eq!(a.s.state(), OtrState::Unverified);
        assert!(!a.s.store().otr_known_peer(A, B).unwrap().unwrap().verified);
    }

    #[test]
    fn a_changed_key_is_a_loud_warning_and_not_verified() {
        let (mut a, mut b) = pair();
        line(&mut a, "/otr start");
        shuttle(&mut a, &mut b);
        line(&mut a, "/verify fingerprint");
        shuttle(&mut a, &mut b);
        assert_eq!(a.s.state(), OtrState::Private);
        // Bob comes back with another key (new device, or someone in the middle).
        let store_a = std::mem::replace(&mut a.s.store, Store::open_ephemeral().unwrap());
        let mut a2 = side(A, B, 0, store_a, 12);
        let mut mallory = side(B, A, 2, Store::open_ephemeral().unwrap(), 30);
        line(&mut mallory, "/otr start");
        shuttle(&mut a2, &mut mallory);
        assert_eq!(a2.s.state(), OtrState::Unverified);
        assert!(
            a2.ui.iter().any(|u| matches!(u,
                UiEvent::FingerprintChanged { old, new }
                    if *old == keys()[1].fingerprint() && *new == keys()[2].fingerprint())),
            "{:?}",
            a2.ui
        );
        assert_eq!(*states(&a2).last().unwrap(), OtrState::Unverified);
    }

    #[test]
    fn ending_makes_the_other_side_finished_and_refuses_text_there() {
        let (mut a, mut b) = pair();
        line(&mut b, "/otr start");
        shuttle(&mut a, &mut b);
        line(&mut a, "/otr end");
        shuttle(&mut a, &mut b);
        assert_eq!(a.s.state(), OtrState::NotPrivate);
        assert_eq!(b.s.state(), OtrState::Finished);
        b.ui.clear();
        line(&mut b, "still there?");
        let mut net = 0;
        while let Some(o) = b.s.poll_output() {
            match o {
                ChatOutput::Network(_) => net += 1,
                ChatOutput::Ui(u) => b.ui.push(u),
            }
        }
        assert_eq!(net, 0, "nothing may leave a finished conversation");
        assert!(matches!(&b.ui[0], UiEvent::Error(e) if e.contains("ended")));
        line(&mut b, "/otr end");
        assert_eq!(b.s.state(), OtrState::NotPrivate);
    }

    #[test]
    fn command_parsing() {
        assert_eq!(
            split_question("\"What city?\"  paris  "),
            Some(("What city?".into(), "paris".into()))
        );
        assert_eq!(
            split_question("Our dog's name? rex the dog"),
            Some(("Our dog's name?".into(), "rex the dog".into()))
        );
        assert_eq!(split_question("no question mark"), None);
        assert_eq!(split_question("\"q\" "), None);
        assert_eq!(split_word("  otr   start"), ("otr", "   start"));
        assert_eq!(bare_jid("Bob@Example.org/phone"), "bob@example.org");
        let (mut a, _b) = pair();
        line(&mut a, "/bogus");
        line(&mut a, "/verify question nothing");
        while let Some(o) = a.s.poll_output() {
            if let ChatOutput::Ui(u) = o {
                a.ui.push(u);
            }
        }
        assert_eq!(
            a.ui.iter()
                .filter(|u| matches!(u, UiEvent::Error(_)))
                .count(),
            2
        );
        assert_eq!(line(&mut a, "/quit"), LineOutcome::Quit);
    }
}
