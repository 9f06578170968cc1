//! The sans-IO ZRTP session (RFC 6189 §4): one media stream's key agreement.
//!
//! One type per state, holding only that state's data; the checks that make a state reachable
//! produce proof values ([`HelloMacChecked`], [`CommitmentChecked`], [`ConfirmMacChecked`]) that
//! the next state's constructor requires, so `Secure` cannot be reached without them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sotto_proto::crypto::{CryptoProvider, HashAlg, KeyExchange, Random, default_provider};
use sotto_proto::{SecretArray, SecretBytes, Ssrc, Zid};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::algo::{self, AlgoClass, AlgoPrefs, KeyAgreement, SasType, Suite};
use crate::cache::{Expiry, ZidCache};
use crate::error::{Error, FailureReason};
use crate::kdf::{self, Keys};
use crate::message::{
    self, Commit, CommitKind, Confirm, ConfirmBody, DhPart, Hello, Message, Ping, PingAck,
    SasRelay, SasRelayBody,
};
use crate::packet::Packet;
use crate::sas;

/// Hello retransmission (§6): T1 starts at 50 ms, doubles, capped at 200 ms; 20 retransmissions.
const T1: (Duration, Duration, u32) = (Duration::from_millis(50), Duration::from_millis(200), 20);
/// Other messages (§6): T2 starts at 150 ms, doubles, capped at 1200 ms; 10 retransmissions.
const T2: (Duration, Duration, u32) = (Duration::from_millis(150), Duration::from_millis(1200), 10);

/// Confirm messages failing their checks before the session gives up (see `bad_confirm`).
const MAX_BAD_CONFIRMS: u8 = 3;

/// Our client identifier in Hello (16 bytes, space padded).
pub const CLIENT_ID: [u8; 16] = *b"sotto           ";

/// Whether this endpoint may send Commit (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSetting {
    /// Sends Commit as soon as Hello/HelloACK are exchanged; contention resolves collisions.
    Initiator,
    /// Never sends Commit; waits for the peer's.
    Responder,
}

/// The role this session ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sent the Commit that was used.
    Initiator,
    /// Received it.
    Responder,
}

impl Role {
    /// `"initiator"` or `"responder"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiator => "initiator",
            Self::Responder => "responder",
        }
    }
}

/// What a second stream needs from the first (§4.4.3): ZRTPSess and the first stream's facts.
pub struct MultistreamKey {
    /// ZRTPSess of the first stream.
    pub zrtp_sess: SecretBytes,
    /// The peer we share it with.
    pub peer_zid: Zid,
    /// The first stream's SAS (shown again; Multistream computes no new one).
    pub sas: String,
    /// The first stream's SAS type.
    pub sas_type: SasType,
    /// The first stream's verified status.
    pub verified: bool,
}

impl MultistreamKey {
    /// An explicit copy.
    pub fn clone_key(&self) -> Self {
        Self {
            zrtp_sess: self.zrtp_sess.clone_secret(),
            peer_zid: self.peer_zid,
            sas: self.sas.clone(),
            sas_type: self.sas_type,
            verified: self.verified,
        }
    }
}

impl core::fmt::Debug for MultistreamKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MultistreamKey")
            .field("peer_zid", &self.peer_zid)
            .finish_non_exhaustive()
    }
}

/// DH mode (first stream) or Multistream mode (later streams).
#[derive(Debug)]
pub enum StreamMode {
    /// A full DH exchange with SAS and cache.
    Dh,
    /// Keyed from the first stream's ZRTPSess.
    Multistream(MultistreamKey),
}

/// Session configuration.
#[derive(Debug)]
pub struct Config {
    /// Our ZID (per installation, from the store).
    pub zid: Zid,
    /// Our SSRC for the ZRTP packet header.
    pub ssrc: Ssrc,
    /// Initiator (may commit) or responder (never commits).
    pub role: RoleSetting,
    /// Algorithm preferences.
    pub algorithms: AlgoPrefs,
    /// Client identifier for Hello.
    pub client_id: [u8; 16],
    /// Wall-clock unix time in seconds when the session starts (cache expiry, see [`crate::cache`]).
    pub unix_time: u64,
    /// Our cache expiration interval for Confirm (§4.9; `u32::MAX` = never expire).
    pub cache_expiry: u32,
    /// The peer's `a=zrtp-hash` from signalling, `"1.10 <64 hex>"`, if known (§8.1).
    pub peer_hello_hash: Option<String>,
    /// An auxiliary secret shared out of band (§4.3), if any.
    pub aux_secret: Option<SecretBytes>,
    /// Accept SASrelay from a peer that set the M flag (trusted PBX). Off by default.
    pub trust_pbx: bool,
    /// DH or Multistream.
    pub mode: StreamMode,
}

impl Config {
    /// Defaults: initiator, default algorithms, no SDP hash, no aux secret, DH mode.
    pub fn new(zid: Zid, ssrc: Ssrc, unix_time: u64) -> Self {
        Self {
            zid,
            ssrc,
            role: RoleSetting::Initiator,
            algorithms: AlgoPrefs::default(),
            client_id: CLIENT_ID,
            unix_time,
            cache_expiry: u32::MAX,
            peer_hello_hash: None,
            aux_secret: None,
            trust_pbx: false,
            mode: StreamMode::Dh,
        }
    }
}

/// Inputs to [`ZrtpSession::handle_input`].
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A datagram that [`crate::packet::is_zrtp`] accepted.
    Datagram(&'a [u8]),
    /// The time of the last [`Output::Timeout`] has come.
    Timeout,
    /// The user compared the SAS aloud and it matched.
    ConfirmSas,
    /// The user says the SAS did not match (or withdraws a confirmation).
    RejectSas,
}

/// Outputs from [`ZrtpSession::poll_output`].
#[derive(Debug)]
pub enum Output {
    /// Send this datagram to the peer.
    Transmit(Vec<u8>),
    /// Something happened.
    Event(Event),
    /// Call `handle_input(at, Input::Timeout)` at `at` (replaces any earlier timeout).
    Timeout(Instant),
}

/// Key-continuity status of a DH session (§4.6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Our rs1 matched.
    MatchedRs1,
    /// Our rs2 matched (the previous call's update was incomplete on one side).
    MatchedRs2,
    /// We had no (valid) secret for this peer: first call.
    NoCache,
    /// We had a secret and none matched: possible MiTM. Alarm the user; verified was cleared.
    Mismatch,
    /// Multistream sessions do not use the cache.
    NotApplicable,
}

/// SRTP master keys and salts (§4.5.3).
pub struct SrtpKeys {
    /// Our role (decides which keys we send with).
    pub role: Role,
    /// Initiator's master key.
    pub key_i: SecretBytes,
    /// Initiator's master salt (14 bytes).
    pub salt_i: SecretBytes,
    /// Responder's master key.
    pub key_r: SecretBytes,
    /// Responder's master salt.
    pub salt_r: SecretBytes,
}

impl SrtpKeys {
    /// The key and salt we protect outgoing SRTP with.
    pub fn send(&self) -> (&SecretBytes, &SecretBytes) {
        match self.role {
            Role::Initiator => (&self.key_i, &self.salt_i),
            Role::Responder => (&self.key_r, &self.salt_r),
        }
    }

    /// The key and salt we unprotect incoming SRTP with.
    pub fn recv(&self) -> (&SecretBytes, &SecretBytes) {
        match self.role {
            Role::Initiator => (&self.key_r, &self.salt_r),
            Role::Responder => (&self.key_i, &self.salt_i),
        }
    }
}

impl core::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SrtpKeys(<redacted>)")
    }
}

/// Everything the application learns when the session is secure.
#[derive(Debug)]
pub struct SecureInfo {
    /// Our role.
    pub role: Role,
    /// The algorithms.
    pub suite: Suite,
    /// The rendered SAS.
    pub sas: String,
    /// The SAS value (leftmost 32 bits of sashash).
    pub sas_value: u32,
    /// SRTP keys.
    pub srtp: SrtpKeys,
    /// Key continuity.
    pub cache: CacheStatus,
    /// Both sides had the SAS verified before (our cache flag and the peer's V flag).
    pub verified: bool,
    /// The peer's ZID.
    pub peer_zid: Zid,
    /// The cache update failed (storage error); the call is still secure.
    pub cache_store_failed: bool,
    /// For starting more streams in Multistream mode (DH sessions only).
    pub multistream: Option<MultistreamKey>,
    /// The exporter (§4.5.2).
    pub exporter: Exporter,
}

/// Derives application keys from the session's ExportedKey (§4.5.2).
pub struct Exporter {
    hash: HashAlg,
    exported_key: SecretBytes,
    context: Vec<u8>,
}

impl Exporter {
    /// `KDF(ExportedKey, label, KDF_Context, hash length)`, as libbzrtp's `bzrtp_exportKey`.
    pub fn export(&self, label: &[u8]) -> SecretBytes {
        kdf::kdf(
            default_provider(),
            self.hash,
            self.exported_key.expose(),
            label,
            &self.context,
            self.hash.output_len(),
        )
    }
}

impl core::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Exporter(<redacted>)")
    }
}

/// Events.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// SRTP keys are agreed; show the SAS.
    Secure(Box<SecureInfo>),
    /// The session failed; no keys. It can also follow `Secure` on the initiator, which reports
    /// Secure once Confirm1 is verified: if the responder then rejects our Confirm2 it sends an
    /// Error and this event says so. Treat it as the end of the call's security.
    Failed(FailureReason),
    /// The verified flag changed after `ConfirmSas`/`RejectSas` (stored in the cache).
    SasVerified(bool),
    /// A trusted PBX relayed a new SAS (§5.13).
    SasRelayed(String),
}

/// Proof that the peer's Hello MAC was checked with its revealed H2.
#[derive(Debug)]
pub struct HelloMacChecked(());
/// Proof that DHPart2 matched the Commit's hvi (responder, DH mode).
#[derive(Debug)]
pub struct CommitmentChecked(());
/// Proof that the peer's Confirm MAC, its H0 and the last hash-chain MAC were checked.
#[derive(Debug)]
pub struct ConfirmMacChecked(());

/// Our hash chain (§9): H0 random, Hn+1 = SHA-256(Hn).
struct HashChain {
    h: [[u8; 32]; 4],
}

impl Drop for HashChain {
    fn drop(&mut self) {
        self.h.zeroize();
    }
}

struct Retransmit {
    at: Instant,
    step: Duration,
    cap: Duration,
    left: u32,
    message: Vec<u8>,
    what: &'static str,
}

struct PeerHello {
    hello: Hello,
    raw: Vec<u8>,
}

/// The secrets loaded from the cache for this peer, with their IDs.
struct Retained {
    rs1: Option<SecretArray<32>>,
    rs2: Option<SecretArray<32>>,
    had_entry_secret: bool,
    verified: bool,
}

/// Data common to the states after the Commit was settled.
struct Settled {
    role: Role,
    suite: Suite,
    peer_zid: Zid,
}

struct InitCommitSent {
    suite: Suite,
    commit: Commit,
    commit_raw: Vec<u8>,
    dh: Option<(Box<dyn KeyExchange>, Vec<u8>)>,
}

struct RespDhPart1Sent {
    s: Settled,
    commit: Commit,
    commit_raw: Vec<u8>,
    dhpart1_raw: Vec<u8>,
    kx: Box<dyn KeyExchange>,
    _hello: HelloMacChecked,
}

/// Waiting for the peer's Confirm (initiator: Confirm1; responder: Confirm2).
struct AwaitConfirm {
    s: Settled,
    keys: Keys,
    cache: CacheStatus,
    /// The peer's H0 must hash `depth` times to `target`.
    target: [u8; 32],
    depth: u8,
    /// The message whose MAC is keyed by hash^key_depth(H0).
    pending_mac: Vec<u8>,
    key_depth: u8,
    what: &'static str,
    /// Responder: our Confirm1 (resent on a repeated DHPart2/Commit).
    our_confirm1: Option<Vec<u8>>,
    _commitment: Option<CommitmentChecked>,
}

struct SecureState {
    peer_zid: Zid,
    verified: bool,
    hash: HashAlg,
    keys_mackey_peer: SecretBytes,
    keys_zrtpkey_peer: SecretBytes,
    /// Initiator: Confirm2 is retransmitted (T2) until Conf2ACK arrives.
    awaiting_conf2ack: bool,
    _proof: ConfirmMacChecked,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one session per stream; states are short-lived"
)]
enum State {
    Discovery,
    InitCommitSent(Box<InitCommitSent>),
    RespDhPart1Sent(Box<RespDhPart1Sent>),
    /// Initiator, DH mode: DHPart2 sent, waiting for Confirm1.
    InitDhPart2Sent(Box<AwaitConfirm>),
    /// Initiator, Multistream: Commit sent and accepted; waiting for Confirm1 is the
    /// `InitCommitSent` state. Responder waiting for Confirm2:
    RespConfirm1Sent(Box<AwaitConfirm>),
    Secure(Box<SecureState>),
    Failed,
}

/// One ZRTP stream's key agreement. See the crate docs for the driving loop.
pub struct ZrtpSession {
    cfg: Config,
    p: &'static dyn CryptoProvider,
    rng: Box<dyn Random>,
    cache: Option<Box<dyn ZidCache>>,
    chain: HashChain,
    hello_raw: Vec<u8>,
    peer: Option<PeerHello>,
    retained: Option<Retained>,
    got_hello_ack: bool,
    seq: u16,
    state: State,
    out: VecDeque<Output>,
    timer: Option<Retransmit>,
    reported_timer: Option<Instant>,
    now: Option<Instant>,
    last_conf2ack_needed: bool,
    pending_peer_keys: Option<(SecretBytes, SecretBytes, HashAlg)>,
    bad_confirms: u8,
}

impl core::fmt::Debug for ZrtpSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ZrtpSession")
            .field("zid", &self.cfg.zid)
            .field("state", &self.state_name())
            .finish_non_exhaustive()
    }
}

fn sha256(p: &dyn CryptoProvider, data: &[u8]) -> [u8; 32] {
    let d = p.hash_parts(HashAlg::Sha256, &[data]);
    let mut out = [0u8; 32];
    for (o, s) in out.iter_mut().zip(d.as_slice()) {
        *o = *s;
    }
    out
}

fn hash_n(p: &dyn CryptoProvider, h: &[u8; 32], n: u8) -> [u8; 32] {
    let mut v = *h;
    for _ in 0..n {
        v = sha256(p, &v);
    }
    v
}

fn mac8(p: &dyn CryptoProvider, alg: HashAlg, key: &[u8], data: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    p.hmac_key(alg, key).mac_into(&[data], &mut out);
    out
}

/// Emits `msg` with its trailing MAC keyed by a hash-chain element (§9): Hello by H2, Commit by
/// H1, DHPart1/2 by H0; HMAC-SHA-256 truncated to 64 bits.
fn emit_chain_mac(p: &dyn CryptoProvider, msg: &Message, key: &[u8; 32]) -> Vec<u8> {
    let mut raw = msg.emit();
    let mac = mac8(p, HashAlg::Sha256, key, message::mac_covered(&raw));
    message::set_trailing_mac(&mut raw, &mac);
    raw
}

fn verify_mac8(p: &dyn CryptoProvider, alg: HashAlg, key: &[u8], msg: &[u8]) -> bool {
    let covered = message::mac_covered(msg);
    let tag = msg.get(covered.len()..).unwrap_or_default();
    p.hmac_key(alg, key).verify(&[covered], tag).is_ok()
}

fn eq8(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.ct_eq(b).into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl ZrtpSession {
    /// A new session. Builds our Hello (H0 from `rng`) and queues it; call
    /// [`ZrtpSession::poll_output`] to send it. `cache` is `None` for Multistream sessions or
    /// cache-less runs (then every call is a first call).
    pub fn new(
        cfg: Config,
        mut rng: Box<dyn Random>,
        cache: Option<Box<dyn ZidCache>>,
        now: Instant,
    ) -> Result<Self, Error> {
        if cfg.algorithms.key_agreements.is_empty() {
            return Err(Error::Config("empty key agreement list"));
        }
        let p = default_provider();
        let mut h0 = [0u8; 32];
        rng.fill(&mut h0);
        let h1 = sha256(p, &h0);
        let h2 = sha256(p, &h1);
        let h3 = sha256(p, &h2);
        let chain = HashChain {
            h: [h0, h1, h2, h3],
        };
        h0.zeroize();
        let mut kas: Vec<KeyAgreement> = cfg
            .algorithms
            .key_agreements
            .iter()
            .copied()
            .filter(|k| k.is_dh())
            .take(6)
            .collect();
        kas.push(KeyAgreement::Mult);
        let hello = Hello {
            version: message::VERSION,
            client_id: cfg.client_id,
            h3,
            zid: cfg.zid,
            signature_capable: false,
            mitm: false,
            passive: false,
            hashes: cfg.algorithms.hashes.clone(),
            ciphers: cfg.algorithms.ciphers.clone(),
            auth_tags: cfg.algorithms.auth_tags.clone(),
            key_agreements: kas,
            sas_types: cfg.algorithms.sas_types.clone(),
            mac: [0; 8],
        };
        let hello_raw = emit_chain_mac(p, &Message::Hello(hello), &chain.h[2]);
        let mut s = Self {
            cfg,
            p,
            rng,
            cache,
            chain,
            hello_raw,
            peer: None,
            retained: None,
            got_hello_ack: false,
            seq: 1,
            state: State::Discovery,
            out: VecDeque::new(),
            timer: None,
            reported_timer: None,
            now: Some(now),
            last_conf2ack_needed: false,
            pending_peer_keys: None,
            bad_confirms: 0,
        };
        let hello = s.hello_raw.clone();
        s.send(&hello);
        s.arm(now, T1, hello, "Hello");
        Ok(s)
    }

    /// Our `a=zrtp-hash` attribute value (§8.1): `"1.10 "` and the SHA-256 of our Hello message
    /// (the message only, not the packet header), in lower-case hex.
    pub fn hello_hash(&self) -> String {
        format!("1.10 {}", hex(&sha256(self.p, &self.hello_raw)))
    }

    /// Our Hello message bytes (for tests and diagnostics).
    pub fn hello_message(&self) -> &[u8] {
        &self.hello_raw
    }

    /// A name for the current state (diagnostics).
    pub fn state_name(&self) -> &'static str {
        match &self.state {
            State::Discovery => "Discovery",
            State::InitCommitSent(_) => "CommitSent",
            State::RespDhPart1Sent(_) => "DHPart1Sent",
            State::InitDhPart2Sent(..) => "DHPart2Sent",
            State::RespConfirm1Sent(_) => "Confirm1Sent",
            State::Secure(_) => "Secure",
            State::Failed => "Failed",
        }
    }

    /// True once the session reached `Secure`.
    pub fn is_secure(&self) -> bool {
        matches!(self.state, State::Secure(_))
    }

    /// True once the session failed.
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// The next output, if any. Drain it in a loop after every `handle_input`.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        let t = self.timer.as_ref().map(|t| t.at);
        if t != self.reported_timer {
            self.reported_timer = t;
            if let Some(at) = t {
                return Some(Output::Timeout(at));
            }
        }
        None
    }

    /// When the session next wants `Input::Timeout`, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer.as_ref().map(|t| t.at)
    }

    /// Feeds one input. Bad datagrams are dropped (returned as `Err(Malformed)` for the
    /// driver's logs; the session is unaffected); protocol failures end the session with
    /// [`Event::Failed`].
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Error> {
        self.now = Some(now);
        match input {
            Input::Timeout => {
                self.on_timeout(now);
                Ok(())
            }
            Input::ConfirmSas => self.set_verified(true),
            Input::RejectSas => self.set_verified(false),
            Input::Datagram(d) => {
                let pkt = Packet::parse(d)?;
                let msg = Message::parse(pkt.message).inspect_err(|_| {
                    // CRC was fine, structure was not: §5.9 Error 0x10 is for this, but an
                    // attacker can forge it too, so we only drop the packet.
                })?;
                self.on_message(now, msg, pkt.message);
                Ok(())
            }
        }
    }

    fn set_verified(&mut self, v: bool) -> Result<(), Error> {
        let State::Secure(s) = &mut self.state else {
            return Err(Error::Misuse(
                "SAS can only be confirmed or rejected once Secure",
            ));
        };
        s.verified = v;
        let peer = s.peer_zid;
        if let Some(c) = self.cache.as_mut() {
            // A storage failure is reported to the caller; the flag stays set in memory.
            c.set_verified(&peer, v)
                .map_err(|_| Error::Misuse("cache update failed"))?;
        }
        self.out.push_back(Output::Event(Event::SasVerified(v)));
        Ok(())
    }

    // ---------------------------------------------------------------- sending and timers

    fn send(&mut self, msg: &[u8]) {
        let pkt = Packet::emit(self.seq, self.cfg.ssrc, msg);
        self.seq = self.seq.wrapping_add(1).max(1);
        self.out.push_back(Output::Transmit(pkt));
    }

    fn arm(
        &mut self,
        now: Instant,
        t: (Duration, Duration, u32),
        message: Vec<u8>,
        what: &'static str,
    ) {
        self.timer = Some(Retransmit {
            at: now + t.0,
            step: t.0,
            cap: t.1,
            left: t.2,
            message,
            what,
        });
    }

    fn on_timeout(&mut self, now: Instant) {
        let Some(t) = self.timer.as_mut() else {
            return;
        };
        if now < t.at {
            return;
        }
        if t.left == 0 {
            let what = t.what;
            self.timer = None;
            if !matches!(self.state, State::Secure(_)) {
                self.fail(FailureReason::Timeout(what), false);
            }
            return;
        }
        t.left -= 1;
        t.step = (t.step * 2).min(t.cap);
        t.at = now + t.step;
        let m = t.message.clone();
        self.send(&m);
    }

    fn fail(&mut self, reason: FailureReason, send_error: bool) {
        if matches!(self.state, State::Failed) {
            return;
        }
        if send_error && let Some(code) = reason.error_code() {
            let e = Message::Error { code }.emit();
            self.send(&e);
        }
        self.timer = None;
        self.state = State::Failed;
        self.out.push_back(Output::Event(Event::Failed(reason)));
    }

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill(&mut b);
        b
    }

    // ---------------------------------------------------------------- dispatch

    fn on_message(&mut self, now: Instant, msg: Message, raw: &[u8]) {
        if matches!(self.state, State::Failed) {
            if let Message::Error { .. } = msg {
                let ack = Message::ErrorAck.emit();
                self.send(&ack);
            }
            return;
        }
        match msg {
            Message::Hello(h) => self.on_hello(now, h, raw),
            Message::HelloAck => self.on_hello_ack(now),
            Message::Commit(c) => self.on_commit(now, c, raw),
            Message::DhPart1(d) => self.on_dhpart1(now, d, raw),
            Message::DhPart2(d) => self.on_dhpart2(now, d, raw),
            Message::Confirm1(c) => self.on_confirm1(now, c),
            Message::Confirm2(c) => self.on_confirm2(c),
            Message::Conf2Ack => self.on_conf2ack(),
            Message::Error { code } => {
                let ack = Message::ErrorAck.emit();
                self.send(&ack);
                self.fail(FailureReason::PeerError(code), false);
            }
            Message::GoClear { .. } => {
                // sotto never goes clear (§4.7.2): refuse with Error 0x100, stay secure.
                let e = Message::Error { code: 0x100 }.emit();
                self.send(&e);
            }
            Message::SasRelay(r) => self.on_sas_relay(r),
            Message::Ping(p) => self.on_ping(p),
            Message::ErrorAck | Message::ClearAck | Message::RelayAck | Message::PingAck(_) => {}
        }
    }

    fn on_ping(&mut self, ping: Ping) {
        let eh = sha256(self.p, self.cfg.zid.as_bytes());
        let mut sender_hash = [0u8; 8];
        sender_hash.copy_from_slice(eh.get(..8).unwrap_or(&[0; 8]));
        let ack = Message::PingAck(PingAck {
            version: message::VERSION,
            sender_hash,
            received_hash: ping.endpoint_hash,
            ssrc: self.cfg.ssrc,
        })
        .emit();
        self.send(&ack);
    }

    fn on_sas_relay(&mut self, r: SasRelay) {
        let State::Secure(s) = &self.state else {
            return;
        };
        let Some(peer_mitm) = self.peer.as_ref().map(|p| p.hello.mitm) else {
            return;
        };
        let alg = self.p.hmac_key(s.hash, s.keys_mackey_peer.expose());
        let ok = alg.verify(&[&r.encrypted], &r.mac).is_ok();
        if !ok {
            return;
        }
        let Ok(aes) = self.p.aes_key(s.keys_zrtpkey_peer.expose()) else {
            return;
        };
        let mut body = r.encrypted.clone();
        aes.cfb_decrypt(&r.iv, &mut body);
        let parsed = SasRelayBody::parse(&body);
        body.zeroize();
        let ack = Message::RelayAck.emit();
        self.send(&ack);
        if let Ok(b) = parsed
            && self.cfg.trust_pbx
            && peer_mitm
        {
            let v =
                u32::from_be_bytes([b.sas_hash[0], b.sas_hash[1], b.sas_hash[2], b.sas_hash[3]]);
            let shown = sas::render(b.rendering, v);
            self.out.push_back(Output::Event(Event::SasRelayed(shown)));
        }
    }

    // ---------------------------------------------------------------- discovery

    fn on_hello(&mut self, now: Instant, h: Hello, raw: &[u8]) {
        if let Some(peer) = &self.peer {
            // A retransmission: acknowledge it again (only the identical Hello).
            if peer.raw == raw {
                let ack = Message::HelloAck.emit();
                self.send(&ack);
                // The peer still sends Hello, so neither our HelloACK nor our Commit reached
                // it. Our Commit is also an implicit HelloACK (§4.1): resend its identical copy
                // now (§6) instead of waiting for the next T2 tick.
                if let State::InitCommitSent(st) = &self.state {
                    let commit = st.commit_raw.clone();
                    self.send(&commit);
                }
            }
            return;
        }
        if !matches!(self.state, State::Discovery) {
            return;
        }
        if h.version.get(..3) != Some(b"1.1".as_slice()) {
            self.fail(FailureReason::UnsupportedVersion, true);
            return;
        }
        if h.zid == self.cfg.zid {
            self.fail(FailureReason::EqualZid, true);
            return;
        }
        if let Some(expected) = &self.cfg.peer_hello_hash {
            let got = hex(&sha256(self.p, raw));
            let want = expected.trim();
            let want_hex = want.split_whitespace().last().unwrap_or_default();
            if !want_hex.eq_ignore_ascii_case(&got) {
                self.fail(FailureReason::HelloHashMismatch, false);
                return;
            }
        }
        if let StreamMode::Multistream(k) = &self.cfg.mode {
            if k.peer_zid != h.zid {
                self.fail(FailureReason::DhModeRequired, true);
                return;
            }
            if !h.key_agreements.contains(&KeyAgreement::Mult) {
                self.fail(
                    FailureReason::NoCommonAlgorithm(AlgoClass::KeyAgreement),
                    true,
                );
                return;
            }
        } else {
            self.load_cache(&h.zid);
        }
        self.peer = Some(PeerHello {
            hello: h,
            raw: raw.to_vec(),
        });
        let ack = Message::HelloAck.emit();
        self.send(&ack);
        if !self.got_hello_ack {
            // Our Hello has not been acknowledged: the peer probably was not listening yet when
            // we sent it. Send it again now rather than at the next T1 tick (a retransmission,
            // §6; the T1 schedule itself is unchanged).
            let hello = self.hello_raw.clone();
            self.send(&hello);
        }
        self.maybe_commit(now);
    }

    fn load_cache(&mut self, peer: &Zid) {
        let entry = self
            .cache
            .as_mut()
            .and_then(|c| c.load(peer).ok().flatten())
            .unwrap_or_default();
        let t = self.cfg.unix_time;
        let rs1 = entry
            .rs1
            .as_ref()
            .and_then(|r| r.valid_at(t))
            .map(SecretArray::clone_secret);
        let rs2 = entry
            .rs2
            .as_ref()
            .and_then(|r| r.valid_at(t))
            .map(SecretArray::clone_secret);
        self.retained = Some(Retained {
            had_entry_secret: rs1.is_some() || rs2.is_some(),
            rs1,
            rs2,
            verified: entry.verified,
        });
    }

    fn on_hello_ack(&mut self, now: Instant) {
        if !matches!(self.state, State::Discovery) || self.got_hello_ack {
            return;
        }
        self.got_hello_ack = true;
        if self.timer.as_ref().is_some_and(|t| t.what == "Hello") {
            self.timer = None;
        }
        self.maybe_commit(now);
    }

    fn maybe_commit(&mut self, now: Instant) {
        if self.cfg.role != RoleSetting::Initiator
            || !self.got_hello_ack
            || !matches!(self.state, State::Discovery)
        {
            return;
        }
        let Some(peer) = &self.peer else { return };
        let h = &peer.hello;
        let offer = algo::Offer {
            hashes: &h.hashes,
            ciphers: &h.ciphers,
            auth_tags: &h.auth_tags,
            key_agreements: &h.key_agreements,
            sas_types: &h.sas_types,
        };
        let mut suite = match algo::negotiate(&self.cfg.algorithms, &offer) {
            Ok(s) => s,
            Err(class) => {
                self.fail(FailureReason::NoCommonAlgorithm(class), true);
                return;
            }
        };
        let peer_raw = peer.raw.clone();
        let multistream = matches!(self.cfg.mode, StreamMode::Multistream(_));
        let (kind, dh) = if multistream {
            suite.key_agreement = KeyAgreement::Mult;
            (
                CommitKind::Multistream {
                    nonce: self.random(),
                },
                None,
            )
        } else {
            let Some((kx, dhpart2)) = self.new_dh_part(Role::Initiator, &suite) else {
                return;
            };
            let Some(hash) = suite.hash.hash_alg() else {
                self.fail(FailureReason::NoCommonAlgorithm(AlgoClass::Hash), true);
                return;
            };
            let hv = self.p.hash_parts(hash, &[&dhpart2, &peer_raw]);
            let mut hvi = [0u8; 32];
            for (o, s) in hvi.iter_mut().zip(hv.as_slice()) {
                *o = *s;
            }
            (CommitKind::Dh { hvi }, Some((kx, dhpart2)))
        };
        let commit = Commit {
            h2: self.chain.h[2],
            zid: self.cfg.zid,
            suite,
            kind,
            mac: [0; 8],
        };
        let raw = emit_chain_mac(self.p, &Message::Commit(commit.clone()), &self.chain.h[1]);
        self.send(&raw);
        self.arm(now, T2, raw.clone(), "Commit");
        self.state = State::InitCommitSent(Box::new(InitCommitSent {
            suite,
            commit,
            commit_raw: raw,
            dh,
        }));
    }

    /// A fresh key pair for the suite's DH type and our DHPart1/2 carrying its public value.
    /// Fails the session (Error 0x53 for a non-DH type, 0x20 if key generation fails).
    fn new_dh_part(
        &mut self,
        role: Role,
        suite: &Suite,
    ) -> Option<(Box<dyn KeyExchange>, Vec<u8>)> {
        let Some(alg) = suite.key_agreement.dh_alg() else {
            self.fail(
                FailureReason::NoCommonAlgorithm(AlgoClass::KeyAgreement),
                true,
            );
            return None;
        };
        let Ok(kx) = self.p.key_exchange(alg, self.rng.as_mut()) else {
            self.fail(FailureReason::Crypto, true);
            return None;
        };
        let part = self.build_dhpart(role, suite, kx.public_key());
        Some((kx, part))
    }

    /// Builds our DHPart1/2 with retained-secret IDs (§4.3.1) and the MAC keyed by H0.
    fn build_dhpart(&mut self, role: Role, suite: &Suite, pv: &[u8]) -> Vec<u8> {
        let hash = suite.hash.hash_alg().unwrap_or(HashAlg::Sha256);
        let label: &[u8] = match role {
            Role::Initiator => b"Initiator",
            Role::Responder => b"Responder",
        };
        let (rs1, rs2) = match &self.retained {
            Some(r) => (
                r.rs1
                    .as_ref()
                    .map(|s| mac8(self.p, hash, s.expose(), label)),
                r.rs2
                    .as_ref()
                    .map(|s| mac8(self.p, hash, s.expose(), label)),
            ),
            None => (None, None),
        };
        let rs1_id = rs1.unwrap_or_else(|| self.random());
        let rs2_id = rs2.unwrap_or_else(|| self.random());
        let aux_id = match &self.cfg.aux_secret {
            // auxsecretID = MAC(auxsecret, our H3) (§4.3.1).
            Some(a) => mac8(self.p, hash, a.expose(), &self.chain.h[3]),
            None => self.random(),
        };
        let pbx_id = self.random();
        let d = DhPart {
            h1: self.chain.h[1],
            rs1_id,
            rs2_id,
            aux_id,
            pbx_id,
            pv: pv.to_vec(),
            mac: [0; 8],
        };
        let msg = match role {
            Role::Initiator => Message::DhPart2(d),
            Role::Responder => Message::DhPart1(d),
        };
        emit_chain_mac(self.p, &msg, &self.chain.h[0])
    }

    /// Checks the peer's H2 against its Hello's H3 and the Hello MAC (§9).
    fn check_peer_hello_mac(&self, h2: &[u8; 32]) -> Option<HelloMacChecked> {
        let peer = self.peer.as_ref()?;
        let ok_chain: bool = sha256(self.p, h2).ct_eq(&peer.hello.h3).into();
        (ok_chain && verify_mac8(self.p, HashAlg::Sha256, h2, &peer.raw))
            .then_some(HelloMacChecked(()))
    }

    // ---------------------------------------------------------------- commit and contention

    fn on_commit(&mut self, now: Instant, c: Commit, raw: &[u8]) {
        match &self.state {
            State::Discovery => {}
            State::InitCommitSent(ours) => {
                if !self.we_win_contention(ours, &c) {
                    // We become responder for the peer's Commit (§4.2).
                    self.timer = None;
                    self.state = State::Discovery;
                    self.accept_commit(now, c, raw);
                } else if self.check_peer_hello_mac(&c.h2).is_some() {
                    // We stay initiator (§4.2). The peer still sends its Commit, so it has not
                    // received ours: send the identical copy now (§6: retransmissions are
                    // identical) rather than only at the next T2 tick, which stays as it is.
                    let ours = ours.commit_raw.clone();
                    self.send(&ours);
                }
                return;
            }
            State::RespDhPart1Sent(st) => {
                if st.commit_raw == raw {
                    let d = st.dhpart1_raw.clone();
                    self.send(&d);
                }
                return;
            }
            State::RespConfirm1Sent(st) => {
                // Multistream: a repeated Commit asks for Confirm1 again.
                if let Some(c1) = &st.our_confirm1
                    && st.depth == 2
                    && st.pending_mac == raw
                {
                    let c1 = c1.clone();
                    self.send(&c1);
                }
                return;
            }
            _ => return,
        }
        if self.peer.is_none() {
            return;
        }
        self.accept_commit(now, c, raw);
    }

    /// §4.2: DH beats Multistream/Preshared; same kind: the larger hvi (or nonce) wins.
    fn we_win_contention(&self, ours: &InitCommitSent, theirs: &Commit) -> bool {
        let our_dh = ours.suite.key_agreement.is_dh();
        let their_dh = theirs.suite.key_agreement.is_dh();
        if our_dh != their_dh {
            return our_dh;
        }
        match (&ours.commit.kind, &theirs.kind) {
            (CommitKind::Dh { hvi: a }, CommitKind::Dh { hvi: b }) => a > b,
            (CommitKind::Multistream { nonce: a }, CommitKind::Multistream { nonce: b }) => a > b,
            (CommitKind::Preshared { nonce: a, .. }, CommitKind::Preshared { nonce: b, .. }) => {
                a > b
            }
            // Multistream vs Preshared: Preshared is discarded (both are non-DH; we refuse it).
            (CommitKind::Multistream { .. }, _) => true,
            _ => false,
        }
    }

    fn accept_commit(&mut self, now: Instant, c: Commit, raw: &[u8]) {
        // The hash chain: hash(H2) must be the H3 of the Hello, and the Hello MAC keyed by H2.
        let Some(hello_ok) = self.check_peer_hello_mac(&c.h2) else {
            // Could be forged or from another session: drop it.
            return;
        };
        if self.peer.as_ref().is_some_and(|p| p.hello.zid != c.zid) {
            return;
        }
        if c.suite.key_agreement == KeyAgreement::Prsh {
            // Preshared mode (§4.4.2) is never used by sotto: "DH mode required" (0x56).
            self.fail(FailureReason::DhModeRequired, true);
            return;
        }
        if let Err(class) = algo::accept_commit(&self.cfg.algorithms, &c.suite) {
            self.fail(FailureReason::NoCommonAlgorithm(class), true);
            return;
        }
        self.got_hello_ack = true;
        if self.timer.as_ref().is_some_and(|t| t.what == "Hello") {
            self.timer = None;
        }
        let s = Settled {
            role: Role::Responder,
            suite: c.suite,
            peer_zid: c.zid,
        };
        match (&c.kind, &self.cfg.mode) {
            (CommitKind::Dh { .. }, _) => {
                let Some((kx, d1)) = self.new_dh_part(Role::Responder, &c.suite) else {
                    return;
                };
                self.send(&d1);
                self.state = State::RespDhPart1Sent(Box::new(RespDhPart1Sent {
                    s,
                    commit: c,
                    commit_raw: raw.to_vec(),
                    dhpart1_raw: d1,
                    kx,
                    _hello: hello_ok,
                }));
            }
            (CommitKind::Multistream { .. }, StreamMode::Multistream(k)) => {
                let sess = k.zrtp_sess.clone_secret();
                self.responder_multistream(now, s, &c, raw, &sess);
            }
            _ => self.fail(FailureReason::DhModeRequired, true),
        }
    }

    // ---------------------------------------------------------------- DH exchange

    /// §4.3.1 / §4.6.1: picks s1 from the peer's rs1ID/rs2ID (computed with the peer's role
    /// label) against our rs1/rs2, and says what happened.
    fn match_retained(
        &self,
        hash: HashAlg,
        peer_role_label: &[u8],
        peer: &DhPart,
    ) -> (Option<SecretBytes>, CacheStatus) {
        let Some(r) = &self.retained else {
            return (None, CacheStatus::NoCache);
        };
        let ours = [
            (&r.rs1, CacheStatus::MatchedRs1),
            (&r.rs2, CacheStatus::MatchedRs2),
        ];
        for received in [&peer.rs1_id, &peer.rs2_id] {
            for (secret, status) in &ours {
                if let Some(sec) = secret
                    && eq8(received, &mac8(self.p, hash, sec.expose(), peer_role_label))
                {
                    return (Some(SecretBytes::from_slice(sec.expose())), *status);
                }
            }
        }
        if r.had_entry_secret {
            (None, CacheStatus::Mismatch)
        } else {
            (None, CacheStatus::NoCache)
        }
    }

    fn match_aux(&self, hash: HashAlg, peer_h3: &[u8; 32], peer: &DhPart) -> Option<SecretBytes> {
        let a = self.cfg.aux_secret.as_ref()?;
        eq8(&peer.aux_id, &mac8(self.p, hash, a.expose(), peer_h3)).then(|| a.clone_secret())
    }

    fn on_dhpart1(&mut self, now: Instant, d: DhPart, raw: &[u8]) {
        // A repeated DHPart1 (in DHPart2Sent) is only the responder's answer to a repeated
        // Commit of ours, not a sign that our DHPart2 was lost: our T2 timer resends DHPart2
        // (§6). Answering replies with copies would echo every duplicate through the rest of the
        // handshake.
        let State::InitCommitSent(st) = &self.state else {
            return;
        };
        if st.dh.is_none() {
            return;
        }
        // hash(hash(H1)) = H3 of the responder's Hello; Hello MAC keyed by H2.
        let h2 = sha256(self.p, &d.h1);
        let Some(_hello_ok) = self.check_peer_hello_mac(&h2) else {
            return;
        };
        let State::InitCommitSent(st) = core::mem::replace(&mut self.state, State::Discovery)
        else {
            return;
        };
        let InitCommitSent {
            suite,
            commit_raw,
            dh,
            ..
        } = *st;
        let Some((kx, dhpart2)) = dh else { return };
        let Some((keys, cache, peer_zid)) = self.dh_keys(
            Role::Initiator,
            &suite,
            kx,
            &d,
            [&commit_raw, raw, &dhpart2],
        ) else {
            return;
        };
        self.send(&dhpart2);
        self.arm(now, T2, dhpart2, "DHPart2");
        self.state = State::InitDhPart2Sent(Box::new(AwaitConfirm {
            s: Settled {
                role: Role::Initiator,
                suite,
                peer_zid,
            },
            keys,
            cache,
            target: d.h1,
            depth: 1,
            pending_mac: raw.to_vec(),
            key_depth: 0,
            what: "DHPart1",
            our_confirm1: None,
            _commitment: None,
        }));
    }

    fn on_dhpart2(&mut self, _now: Instant, d: DhPart, raw: &[u8]) {
        let State::RespDhPart1Sent(st) = &self.state else {
            if let State::RespConfirm1Sent(st) = &self.state
                && st.depth == 1
                && st.pending_mac == raw
                && let Some(c1) = st.our_confirm1.clone()
            {
                self.send(&c1);
            }
            return;
        };
        // hash(H1) must be the Commit's H2, and the Commit MAC is keyed by H1.
        let chain_ok: bool = sha256(self.p, &d.h1).ct_eq(&st.commit.h2).into();
        if !chain_ok || !verify_mac8(self.p, HashAlg::Sha256, &d.h1, &st.commit_raw) {
            return;
        }
        let Some(hash) = st.s.suite.hash.hash_alg() else {
            return;
        };
        // The commitment (§4.4.1.1): hvi = hash(DHPart2 ‖ our Hello).
        let CommitKind::Dh { hvi } = st.commit.kind else {
            return;
        };
        let hv = self.p.hash_parts(hash, &[raw, &self.hello_raw]);
        let commit_ok: bool = hv
            .as_slice()
            .get(..32)
            .unwrap_or_default()
            .ct_eq(&hvi)
            .into();
        if !commit_ok {
            self.fail(FailureReason::CommitmentMismatch, true);
            return;
        }
        let commitment = CommitmentChecked(());
        let State::RespDhPart1Sent(st) = core::mem::replace(&mut self.state, State::Discovery)
        else {
            return;
        };
        let RespDhPart1Sent {
            s,
            commit_raw,
            dhpart1_raw,
            kx,
            ..
        } = *st;
        let Some((keys, cache, _)) = self.dh_keys(
            Role::Responder,
            &s.suite,
            kx,
            &d,
            [&commit_raw, &dhpart1_raw, raw],
        ) else {
            return;
        };
        self.send_confirm1(AwaitConfirm {
            s,
            keys,
            cache,
            target: d.h1,
            depth: 1,
            pending_mac: raw.to_vec(),
            key_depth: 0,
            what: "DHPart2",
            our_confirm1: None,
            _commitment: Some(commitment),
        });
    }

    /// The DH part of the key schedule, shared by both roles: the peer's public value is checked
    /// and agreed (a bad one fails the session with Error 0x61, §5.9), then total_hash over the
    /// responder's Hello ‖ Commit ‖ DHPart1 ‖ DHPart2 (`msgs` holds the last three), s0 with the
    /// retained and auxiliary secrets the peer's DHPart names (§4.3.1, §4.4.1.4) and every key
    /// of §4.5. Returns the keys, the cache status and the peer's ZID.
    fn dh_keys(
        &mut self,
        role: Role,
        suite: &Suite,
        kx: Box<dyn KeyExchange>,
        peer_part: &DhPart,
        msgs: [&[u8]; 3],
    ) -> Option<(Keys, CacheStatus, Zid)> {
        let hash = suite.hash.hash_alg()?;
        let expected_len = suite.key_agreement.dh_alg().map(|a| a.public_len());
        let agreed = if Some(peer_part.pv.len()) == expected_len {
            kx.agree(&peer_part.pv).ok()
        } else {
            None
        };
        let Some(dh_result) = agreed else {
            self.fail(FailureReason::BadPublicValue, true);
            return None;
        };
        let peer = self.peer.as_ref()?;
        let (peer_zid, peer_h3) = (peer.hello.zid, peer.hello.h3);
        let [commit, dhpart1, dhpart2] = msgs;
        let (responder_hello, zid_i, zid_r, peer_label): (&[u8], _, _, &[u8]) = match role {
            Role::Initiator => (&peer.raw, self.cfg.zid, peer_zid, b"Responder"),
            Role::Responder => (&self.hello_raw, peer_zid, self.cfg.zid, b"Initiator"),
        };
        let total = self
            .p
            .hash_parts(hash, &[responder_hello, commit, dhpart1, dhpart2]);
        let ctx = kdf::kdf_context(&zid_i, &zid_r, total.as_slice());
        let (s1, cache) = self.match_retained(hash, peer_label, peer_part);
        let s2 = self.match_aux(hash, &peer_h3, peer_part);
        let s0 = kdf::s0_dh(
            self.p,
            hash,
            dh_result.expose(),
            &ctx,
            s1.as_ref().map(SecretBytes::expose),
            s2.as_ref().map(SecretBytes::expose),
            None,
        );
        let keys = Keys::derive(self.p, hash, s0, ctx, suite.cipher.key_len());
        Some((keys, cache, peer_zid))
    }

    fn responder_multistream(
        &mut self,
        _now: Instant,
        s: Settled,
        c: &Commit,
        raw: &[u8],
        zrtp_sess: &SecretBytes,
    ) {
        let Some(hash) = c.suite.hash.hash_alg() else {
            return;
        };
        let total = self.p.hash_parts(hash, &[&self.hello_raw, raw]);
        let ctx = kdf::kdf_context(&s.peer_zid, &self.cfg.zid, total.as_slice());
        let s0 = kdf::s0_multistream(self.p, hash, zrtp_sess.expose(), &ctx);
        let keys = Keys::derive(self.p, hash, s0, ctx, s.suite.cipher.key_len());
        self.send_confirm1(AwaitConfirm {
            s,
            keys,
            cache: CacheStatus::NotApplicable,
            target: c.h2,
            depth: 2,
            pending_mac: raw.to_vec(),
            key_depth: 1,
            what: "Commit",
            our_confirm1: None,
            _commitment: None,
        });
    }

    /// Responder, DH or Multistream: sends Confirm1 under `aw.keys` and waits for Confirm2 in
    /// `aw`, which keeps the Confirm1 to answer a repeated DHPart2 (or Commit) with it (§6).
    fn send_confirm1(&mut self, mut aw: AwaitConfirm) {
        let Some(c1) = self.build_confirm(Role::Responder, &aw.keys) else {
            self.fail(FailureReason::Crypto, true);
            return;
        };
        self.send(&c1);
        aw.our_confirm1 = Some(c1);
        self.state = State::RespConfirm1Sent(Box::new(aw));
    }

    // ---------------------------------------------------------------- confirm

    fn build_confirm(&mut self, role: Role, keys: &Keys) -> Option<Vec<u8>> {
        let verified = self.retained.as_ref().is_some_and(|r| r.verified);
        let mut body = ConfirmBody {
            h0: self.chain.h[0],
            pbx_enrollment: false,
            sas_verified: verified,
            allow_clear: false,
            disclosure: false,
            cache_expiry: self.cfg.cache_expiry,
            signature: Vec::new(),
        }
        .to_bytes();
        let iv: [u8; 16] = self.random();
        let (zk, mk) = match role {
            Role::Initiator => (&keys.zrtpkey_i, &keys.mackey_i),
            Role::Responder => (&keys.zrtpkey_r, &keys.mackey_r),
        };
        let aes = self.p.aes_key(zk.expose()).ok()?;
        aes.cfb_encrypt(&iv, &mut body);
        let confirm_mac = mac8(self.p, keys.hash, mk.expose(), &body);
        let c = Confirm {
            confirm_mac,
            iv,
            encrypted: body,
        };
        Some(
            match role {
                Role::Initiator => Message::Confirm2(c),
                Role::Responder => Message::Confirm1(c),
            }
            .emit(),
        )
    }

    /// Checks a peer Confirm: MAC with the peer's mackey, decryption with its zrtpkey, its H0
    /// against the hash chain, and the last unchecked message MAC keyed by the chain.
    fn check_confirm(
        &self,
        st: &AwaitConfirm,
        c: &Confirm,
    ) -> Result<(ConfirmBody, ConfirmMacChecked), FailureReason> {
        let (zk, mk) = match st.s.role {
            Role::Initiator => (&st.keys.zrtpkey_r, &st.keys.mackey_r),
            Role::Responder => (&st.keys.zrtpkey_i, &st.keys.mackey_i),
        };
        self.p
            .hmac_key(st.keys.hash, mk.expose())
            .verify(&[&c.encrypted], &c.confirm_mac)
            .map_err(|_| FailureReason::ConfirmMac)?;
        let aes = self
            .p
            .aes_key(zk.expose())
            .map_err(|_| FailureReason::Crypto)?;
        let mut plain = c.encrypted.clone();
        aes.cfb_decrypt(&c.iv, &mut plain);
        let body = ConfirmBody::parse(&plain).map_err(|_| FailureReason::Malformed);
        plain.zeroize();
        let body = body?;
        let chain_ok: bool = hash_n(self.p, &body.h0, st.depth).ct_eq(&st.target).into();
        if !chain_ok {
            return Err(FailureReason::HashChain(st.what));
        }
        let key = hash_n(self.p, &body.h0, st.key_depth);
        if !verify_mac8(self.p, HashAlg::Sha256, &key, &st.pending_mac) {
            return Err(FailureReason::HashChain(st.what));
        }
        Ok((body, ConfirmMacChecked(())))
    }

    fn on_confirm1(&mut self, now: Instant, c: Confirm) {
        match &self.state {
            State::InitDhPart2Sent(..) => {}
            State::InitCommitSent(st) if st.suite.key_agreement == KeyAgreement::Mult => {
                // Multistream initiator: derive the keys now that our Commit was accepted.
                let Some(peer) = &self.peer else { return };
                let StreamMode::Multistream(k) = &self.cfg.mode else {
                    return;
                };
                let Some(hash) = st.suite.hash.hash_alg() else {
                    return;
                };
                let total = self.p.hash_parts(hash, &[&peer.raw, &st.commit_raw]);
                let ctx = kdf::kdf_context(&self.cfg.zid, &peer.hello.zid, total.as_slice());
                let s0 = kdf::s0_multistream(self.p, hash, k.zrtp_sess.expose(), &ctx);
                let keys = Keys::derive(self.p, hash, s0, ctx, st.suite.cipher.key_len());
                let aw = AwaitConfirm {
                    s: Settled {
                        role: Role::Initiator,
                        suite: st.suite,
                        peer_zid: peer.hello.zid,
                    },
                    keys,
                    cache: CacheStatus::NotApplicable,
                    target: peer.hello.h3,
                    depth: 3,
                    pending_mac: peer.raw.clone(),
                    key_depth: 2,
                    what: "Hello",
                    our_confirm1: None,
                    _commitment: None,
                };
                self.state = State::InitDhPart2Sent(Box::new(aw));
            }
            // A repeated Confirm1 answers a repeated DHPart2 of ours; our Confirm2 is resent by
            // its T2 timer until Conf2ACK (§6), not in reply to replies.
            _ => return,
        }
        let Some((st, body, proof)) = self.take_checked_confirm(&c) else {
            return;
        };
        let Some(c2) = self.build_confirm(Role::Initiator, &st.keys) else {
            self.fail(FailureReason::Crypto, true);
            return;
        };
        self.send(&c2);
        self.arm(now, T2, c2, "Confirm2");
        let info = self.secure_info(*st, &body);
        // Every check is done (Confirm1 MAC, H0, the DHPart1 MAC): the keys and the SAS are
        // final, so the initiator reports Secure now (§4.6: it may receive SRTP after Confirm1)
        // and keeps retransmitting Confirm2 until Conf2ACK.
        self.enter_secure(info, proof);
        if let State::Secure(st) = &mut self.state {
            st.awaiting_conf2ack = true;
        }
    }

    fn on_confirm2(&mut self, c: Confirm) {
        match &self.state {
            State::RespConfirm1Sent(_) => {}
            State::Secure(_) if self.last_conf2ack_needed => {
                let ack = Message::Conf2Ack.emit();
                self.send(&ack);
                return;
            }
            _ => return,
        }
        let Some((st, body, proof)) = self.take_checked_confirm(&c) else {
            return;
        };
        let ack = Message::Conf2Ack.emit();
        self.send(&ack);
        self.last_conf2ack_needed = true;
        let info = self.secure_info(*st, &body);
        self.enter_secure(info, proof);
    }

    /// In a state awaiting the peer's Confirm (initiator: Confirm1, responder: Confirm2), checks
    /// `c` and on success takes the awaited state out (the caller moves on to `Secure`). A
    /// failed check counts towards [`MAX_BAD_CONFIRMS`] and leaves the state as it was.
    fn take_checked_confirm(
        &mut self,
        c: &Confirm,
    ) -> Option<(Box<AwaitConfirm>, ConfirmBody, ConfirmMacChecked)> {
        let (State::InitDhPart2Sent(st) | State::RespConfirm1Sent(st)) = &self.state else {
            return None;
        };
        let (body, proof) = match self.check_confirm(st, c) {
            Ok(x) => x,
            Err(r) => {
                self.bad_confirm(r);
                return None;
            }
        };
        match core::mem::replace(&mut self.state, State::Discovery) {
            State::InitDhPart2Sent(st) | State::RespConfirm1Sent(st) => Some((st, body, proof)),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// A Confirm that fails its MAC or hash-chain check may be a stale packet replayed from an
    /// earlier session, so the first ones are dropped; the third ends the session with Error
    /// 0x70 (§5.9). No keys are ever released from a failed Confirm.
    fn bad_confirm(&mut self, reason: FailureReason) {
        self.bad_confirms = self.bad_confirms.saturating_add(1);
        if self.bad_confirms >= MAX_BAD_CONFIRMS {
            self.fail(reason, true);
        }
    }

    fn on_conf2ack(&mut self) {
        if let State::Secure(st) = &mut self.state
            && core::mem::take(&mut st.awaiting_conf2ack)
        {
            self.timer = None;
        }
    }

    /// Assembles the Secure event and applies the cache rules (§4.6.1, §4.9).
    fn secure_info(&mut self, st: AwaitConfirm, peer: &ConfirmBody) -> SecureInfo {
        let AwaitConfirm { s, keys, cache, .. } = st;
        let (mk, zk) = match s.role {
            Role::Initiator => (&keys.mackey_r, &keys.zrtpkey_r),
            Role::Responder => (&keys.mackey_i, &keys.zrtpkey_i),
        };
        self.pending_peer_keys = Some((mk.clone_secret(), zk.clone_secret(), keys.hash));
        let (sas_str, sas_value, verified, multistream, cache_store_failed) =
            if let (KeyAgreement::Mult, StreamMode::Multistream(k)) =
                (s.suite.key_agreement, &self.cfg.mode)
            {
                (k.sas.clone(), keys.sas_value(), k.verified, None, false)
            } else {
                let v = keys.sas_value();
                let shown = sas::render(s.suite.sas, v);
                let ours = self.retained.as_ref().is_some_and(|r| r.verified);
                let mut store_failed = false;
                if let Some(c) = self.cache.as_mut() {
                    if cache == CacheStatus::Mismatch {
                        store_failed |= c.record_mismatch(&s.peer_zid).is_err();
                    }
                    let interval = self.cfg.cache_expiry.min(peer.cache_expiry);
                    if interval != 0 {
                        let exp = Expiry::from_interval(self.cfg.unix_time, interval);
                        store_failed |= c
                            .store_secret(&s.peer_zid, &keys.new_rs1, exp, self.cfg.unix_time)
                            .is_err();
                    }
                }
                let verified = ours && peer.sas_verified && cache != CacheStatus::Mismatch;
                let ms = MultistreamKey {
                    zrtp_sess: keys.zrtp_sess.clone_secret(),
                    peer_zid: s.peer_zid,
                    sas: shown.clone(),
                    sas_type: s.suite.sas,
                    verified,
                };
                (shown, v, verified, Some(ms), store_failed)
            };
        let srtp = SrtpKeys {
            role: s.role,
            key_i: keys.srtp_key_i.clone_secret(),
            salt_i: keys.srtp_salt_i.clone_secret(),
            key_r: keys.srtp_key_r.clone_secret(),
            salt_r: keys.srtp_salt_r.clone_secret(),
        };
        SecureInfo {
            role: s.role,
            suite: s.suite,
            sas: sas_str,
            sas_value,
            srtp,
            cache,
            verified,
            peer_zid: s.peer_zid,
            cache_store_failed,
            multistream,
            exporter: Exporter {
                hash: keys.hash,
                exported_key: keys.exported_key.clone_secret(),
                context: keys.context.clone(),
            },
        }
    }

    fn enter_secure(&mut self, info: SecureInfo, proof: ConfirmMacChecked) {
        let (mk, zk, hash) = self.pending_peer_keys.take().unwrap_or((
            SecretBytes::default(),
            SecretBytes::default(),
            HashAlg::Sha256,
        ));
        self.state = State::Secure(Box::new(SecureState {
            peer_zid: info.peer_zid,
            verified: info.verified,
            hash,
            keys_mackey_peer: mk,
            awaiting_conf2ack: false,
            keys_zrtpkey_peer: zk,
            _proof: proof,
        }));
        self.out
            .push_back(Output::Event(Event::Secure(Box::new(info))));
    }
}

impl ZrtpSession {
    /// Sets (or clears) the peer's `a=zrtp-hash` once signalling delivers it (§8.1): the caller
    /// learns it from the SDP answer, after its own Hello (and hash) already exist. Takes effect
    /// for a peer Hello that has not been processed yet; a Hello that already arrived was
    /// accepted without the check, which is why the call engine holds media datagrams until the
    /// answer is processed.
    pub fn set_peer_hello_hash(&mut self, hash: Option<String>) {
        self.cfg.peer_hello_hash = hash;
    }
}
