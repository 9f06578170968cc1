//! The OTR conversation engine: message state (plaintext / encrypted / finished), the AKE
//! state machine (spec "The protocol state machine"), data messages with the key ratchet, SMP
//! state, and the events the user sees.

use crate::OtrError;
use crate::group::{self, DH_EXPONENT_BITS};
use crate::keys::{
    Fingerprint, LongTermKey, PublicKey, aes128_ctr, hmac_sha1, hmac_sha256, sha1, sha256,
};
use crate::smp;
use crate::text::{self, Classified, Reassembly, Versions};
use crate::wire::{
    self, DataMsg, FLAG_IGNORE_UNREADABLE, Header, Message, Tlv, TlvType, put_data, put_mpi,
};
use crypto_bigint::U1536;
use sotto_proto::crypto::Random;
use sotto_proto::{Reader, SecretArray};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Policy of a session (libotr's policy flags, as booleans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Speak protocol version 2.
    pub allow_v2: bool,
    /// Speak protocol version 3.
    pub allow_v3: bool,
    /// Never send a message in the clear: queue it and start OTR instead.
    pub require_encryption: bool,
    /// Append a whitespace tag to our first plaintext message.
    pub send_whitespace_tag: bool,
    /// Start the AKE when a whitespace-tagged message arrives.
    pub whitespace_start_ake: bool,
    /// Answer an OTR error message with a query message.
    pub error_start_ake: bool,
    /// Split outgoing OTR messages longer than this many characters into fragments.
    pub max_fragment_size: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            allow_v2: true,
            allow_v3: true,
            require_encryption: false,
            send_whitespace_tag: false,
            whitespace_start_ake: true,
            error_start_ake: true,
            max_fragment_size: None,
        }
    }
}

/// A v3 instance tag (spec "Instance Tags"): values below 0x100 are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceTag(pub u32);

impl InstanceTag {
    /// A random valid instance tag.
    pub fn random(rng: &mut dyn Random) -> Self {
        loop {
            let mut b = [0u8; 4];
            rng.fill(&mut b);
            let v = u32::from_be_bytes(b);
            if v >= 0x100 {
                return Self(v);
            }
        }
    }
}

/// What the user sees, as Pidgin showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtrState {
    /// Messages travel in the clear.
    NotPrivate,
    /// Encrypted, but the peer's fingerprint is not verified.
    Unverified,
    /// Encrypted and the fingerprint is verified (by the user or by SMP).
    Private,
    /// The peer ended the private conversation; nothing is sent until the user ends or
    /// restarts it.
    Finished,
}

/// How an SMP run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpOutcome {
    /// Both sides hold the same secret.
    Succeeded,
    /// The secrets differ, or the peer aborted at the final step.
    Failed,
    /// One side aborted before the result was known.
    Aborted,
    /// A zero-knowledge proof from the peer did not verify.
    Cheated,
}

/// A peer we met before, as the trust store remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownPeer {
    /// The fingerprint we saw.
    pub fingerprint: Fingerprint,
    /// Whether the user (or SMP) verified it.
    pub verified: bool,
}

/// Where a driver keeps fingerprints and verification between conversations (sotto-store
/// implements it). The engine itself only reports: the driver calls [`TrustStore::known`]
/// before [`Session::set_known_peer`], and forwards [`Event::FingerprintSeen`],
/// [`Event::FingerprintChanged`] and [`Event::Verified`] to the other two methods.
pub trait TrustStore {
    /// What we know about `peer` (a bare JID, say) for our `account`.
    fn known(&self, account: &str, peer: &str) -> Option<KnownPeer>;
    /// Remember `fingerprint` for `peer`; a new or changed fingerprint is stored unverified.
    fn fingerprint_seen(&mut self, account: &str, peer: &str, fingerprint: Fingerprint);
    /// Mark `fingerprint` of `peer` verified or not.
    fn set_verified(&mut self, account: &str, peer: &str, fingerprint: Fingerprint, verified: bool);
}

/// Something for the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A message to show. `encrypted` says whether it arrived under OTR.
    DisplayMessage {
        /// The text.
        text: String,
        /// True if it came inside an OTR data message.
        encrypted: bool,
    },
    /// The state the user sees changed.
    StateChanged(OtrState),
    /// The AKE finished with this fingerprint; `known` says whether it matches the stored one.
    FingerprintSeen {
        /// The peer's fingerprint.
        fingerprint: Fingerprint,
        /// True if it matches the fingerprint stored for this peer.
        known: bool,
    },
    /// LOUD WARNING: the peer's fingerprint differs from the stored one. "Verified" is cleared.
    FingerprintChanged {
        /// What we had.
        old: Fingerprint,
        /// What the peer presented now.
        new: Fingerprint,
    },
    /// The fingerprint is now verified (store it).
    Verified {
        /// The fingerprint.
        fingerprint: Fingerprint,
    },
    /// The peer started SMP; answer with [`Session::respond_smp`].
    SmpRequest {
        /// The peer's question, if any.
        question: Option<String>,
    },
    /// An SMP run ended.
    SmpResult(SmpOutcome),
    /// The peer sent an OTR error message.
    ErrorReceived(String),
    /// An encrypted message arrived that we could not read.
    UnreadableMessage,
    /// A plaintext message arrived while the conversation is private.
    UnencryptedWhilePrivate,
    /// The peer announced use of the extra symmetric key.
    ExtraSymmetricKey {
        /// The 32-byte key.
        key: SecretArray<32>,
        /// The use identifier (first 4 bytes of the TLV).
        use_id: u32,
        /// The rest of the TLV.
        use_data: Vec<u8>,
    },
}

/// Output of [`Session::poll_output`].
#[derive(Debug)]
pub enum Output {
    /// Send this text to the peer over the IM network.
    SendToNetwork(String),
    /// Tell the application.
    Event(Event),
}

/// A Diffie-Hellman key pair in the MODP group; the exponent zeroizes on drop.
struct DhPair {
    x: U1536,
    public: U1536,
}

impl Drop for DhPair {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

impl DhPair {
    fn generate(rng: &mut dyn Random) -> Self {
        let x = group::random_dh_exponent(rng);
        let public = group::pow_g_bounded(&x, DH_EXPONENT_BITS);
        Self { x, public }
    }

    fn shared(&self, their: &U1536) -> U1536 {
        group::pow_bounded(their, &self.x, DH_EXPONENT_BITS)
    }
}

fn mpi_of(v: &U1536) -> Vec<u8> {
    let mut out = Vec::new();
    put_mpi(&mut out, &group::to_be_minimal(v));
    out
}

/// Keys derived from the AKE secret (spec "Exchanging keys": h2).
#[derive(Zeroize, ZeroizeOnDrop)]
struct AkeKeys {
    ssid: [u8; 8],
    c: [u8; 16],
    c_prime: [u8; 16],
    m1: [u8; 32],
    m2: [u8; 32],
    m1_prime: [u8; 32],
    m2_prime: [u8; 32],
}

impl AkeKeys {
    fn derive(s: &U1536) -> Self {
        let mut secbytes = mpi_of(s);
        let h2 = |b: u8| sha256(&[&[b], &secbytes]);
        let mut k = Self {
            ssid: [0; 8],
            c: [0; 16],
            c_prime: [0; 16],
            m1: h2(2),
            m2: h2(3),
            m1_prime: h2(4),
            m2_prime: h2(5),
        };
        let h0 = h2(0);
        k.ssid.copy_from_slice(h0.get(..8).unwrap_or(&[0; 8]));
        let h1 = h2(1);
        k.c.copy_from_slice(h1.get(..16).unwrap_or(&[0; 16]));
        k.c_prime.copy_from_slice(h1.get(16..).unwrap_or(&[0; 16]));
        secbytes.zeroize();
        k
    }
}

/// Keys for one (our key id, their key id) pair (spec "Computing AES keys and MAC keys").
#[derive(Zeroize, ZeroizeOnDrop)]
struct SessKeys {
    our_keyid: u32,
    their_keyid: u32,
    send_aes: [u8; 16],
    send_mac: [u8; 20],
    recv_aes: [u8; 16],
    recv_mac: [u8; 20],
    send_ctr: u64,
    recv_ctr: u64,
    recv_used: bool,
    extra: [u8; 32],
}

impl SessKeys {
    fn derive(our_keyid: u32, their_keyid: u32, ours: &DhPair, theirs: &U1536) -> Self {
        let s = ours.shared(theirs);
        let mut secbytes = mpi_of(&s);
        let (send_byte, recv_byte) = if ours.public > *theirs {
            (1u8, 2u8)
        } else {
            (2u8, 1u8)
        };
        let h1 = |b: u8| sha1(&[&[b], &secbytes]);
        let mut send_aes = [0u8; 16];
        send_aes.copy_from_slice(h1(send_byte).get(..16).unwrap_or(&[0; 16]));
        let mut recv_aes = [0u8; 16];
        recv_aes.copy_from_slice(h1(recv_byte).get(..16).unwrap_or(&[0; 16]));
        let extra = sha256(&[&[0xff], &secbytes]);
        secbytes.zeroize();
        Self {
            our_keyid,
            their_keyid,
            send_mac: sha1(&[&send_aes]),
            recv_mac: sha1(&[&recv_aes]),
            send_aes,
            recv_aes,
            send_ctr: 0,
            recv_ctr: 0,
            recv_used: false,
            extra,
        }
    }
}

/// AKE state (spec "authstate").
#[allow(
    clippy::large_enum_variant,
    reason = "one per session; boxing buys nothing"
)]
enum Auth {
    None,
    AwaitingDhKey {
        x: DhPair,
        r: SecretArray<16>,
        hash_gx: [u8; 32],
        commit_msg: Vec<String>,
    },
    AwaitingRevealSig {
        y: DhPair,
        enc_gx: Vec<u8>,
        hash_gx: Vec<u8>,
        dhkey_msg: Vec<String>,
    },
    AwaitingSig {
        x: DhPair,
        gy: U1536,
        keys: AkeKeys,
        revealsig_msg: Vec<String>,
    },
}

/// SMP state (spec "smpstate").
enum SmpState {
    Expect1,
    WaitingForSecret(Box<smp::Bob1>),
    Expect2(Box<smp::Alice1>),
    Expect3(Box<smp::Bob2>),
    Expect4(Box<smp::Alice3>),
}

/// The encrypted message state.
struct Encrypted {
    version: u16,
    their_tag: u32,
    their_fp: Fingerprint,
    ssid: [u8; 8],
    our_keyid: u32,
    our_cur: DhPair,
    our_old: DhPair,
    their_keyid: u32,
    their_cur: U1536,
    their_old: Option<U1536>,
    sessions: Vec<SessKeys>,
    reveal: Vec<u8>,
    smp: SmpState,
}

impl Encrypted {
    fn keys(&mut self, our_keyid: u32, their_keyid: u32) -> Option<&mut SessKeys> {
        let pos = self
            .sessions
            .iter()
            .position(|s| s.our_keyid == our_keyid && s.their_keyid == their_keyid);
        let idx = match pos {
            Some(i) => i,
            None => {
                let ours = if our_keyid == self.our_keyid {
                    &self.our_cur
                } else if our_keyid == self.our_keyid.wrapping_sub(1) {
                    &self.our_old
                } else {
                    return None;
                };
                let theirs = if their_keyid == self.their_keyid {
                    &self.their_cur
                } else if their_keyid == self.their_keyid.wrapping_sub(1) {
                    self.their_old.as_ref()?
                } else {
                    return None;
                };
                let k = SessKeys::derive(our_keyid, their_keyid, ours, theirs);
                self.sessions.push(k);
                self.sessions.len() - 1
            }
        };
        self.sessions.get_mut(idx)
    }

    /// Forget the key sessions matching `drop`, remembering the receiving MAC keys we used so
    /// they can be revealed (spec "Revealing MAC Keys").
    fn retire(&mut self, drop: impl Fn(&SessKeys) -> bool) {
        let mut keep = Vec::with_capacity(self.sessions.len());
        for s in self.sessions.drain(..) {
            if drop(&s) {
                if s.recv_used {
                    self.reveal.extend_from_slice(&s.recv_mac);
                }
            } else {
                keep.push(s);
            }
        }
        self.sessions = keep;
    }
}

enum MsgState {
    Plaintext,
    Encrypted(Box<Encrypted>),
    Finished,
}

/// One OTR conversation with one peer.
pub struct Session {
    config: Config,
    key: Arc<LongTermKey>,
    our_tag: InstanceTag,
    msg: MsgState,
    auth: Auth,
    ake_version: u16,
    ake_their_tag: u32,
    known: Option<KnownPeer>,
    reassembly: Reassembly,
    queued: Vec<String>,
    tag_sent: bool,
    out: VecDeque<Output>,
    last_state: OtrState,
    last_sent: Option<Instant>,
}

/// After receiving a message, send an empty "heartbeat" data message if we have not sent
/// anything for this long, so the peer's keys rotate (and old MAC keys get revealed) even in a
/// one-sided conversation (libotr's behaviour).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);

/// The AKE key id we use for our D-H key.
const AKE_KEYID: u32 = 1;

const UNREADABLE_ERROR: &str = "?OTR Error: You transmitted an unreadable encrypted message.";

impl Session {
    /// A new conversation. `key` is our long-term key, `our_tag` our v3 instance tag.
    pub fn new(config: Config, key: Arc<LongTermKey>, our_tag: InstanceTag) -> Self {
        Self {
            config,
            key,
            our_tag,
            msg: MsgState::Plaintext,
            auth: Auth::None,
            ake_version: 3,
            ake_their_tag: 0,
            known: None,
            reassembly: Reassembly::default(),
            queued: Vec::new(),
            tag_sent: false,
            out: VecDeque::new(),
            last_state: OtrState::NotPrivate,
            last_sent: None,
        }
    }

    /// Tell the session what the trust store knows about this peer.
    pub fn set_known_peer(&mut self, known: Option<KnownPeer>) {
        self.known = known;
    }

    /// The state the user sees.
    pub fn state(&self) -> OtrState {
        match &self.msg {
            MsgState::Plaintext => OtrState::NotPrivate,
            MsgState::Finished => OtrState::Finished,
            MsgState::Encrypted(e) => {
                let verified = self
                    .known
                    .is_some_and(|k| k.verified && k.fingerprint == e.their_fp);
                if verified {
                    OtrState::Private
                } else {
                    OtrState::Unverified
                }
            }
        }
    }

    /// The peer's fingerprint while encrypted.
    pub fn their_fingerprint(&self) -> Option<Fingerprint> {
        match &self.msg {
            MsgState::Encrypted(e) => Some(e.their_fp),
            _ => None,
        }
    }

    /// The 64-bit secure session id of the current encrypted session (spec: the first 64 bits
    /// of h2(0x00)); both sides show the same value, so users may compare it too.
    pub fn session_id(&self) -> Option<[u8; 8]> {
        match &self.msg {
            MsgState::Encrypted(e) => Some(e.ssid),
            _ => None,
        }
    }

    /// The protocol version of the current encrypted session.
    pub fn version(&self) -> Option<u16> {
        match &self.msg {
            MsgState::Encrypted(e) => Some(e.version),
            _ => None,
        }
    }

    /// Our instance tag.
    pub fn our_instance_tag(&self) -> InstanceTag {
        self.our_tag
    }

    /// The next output to act on.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn check_state_change(&mut self) {
        let s = self.state();
        if s != self.last_state {
            self.last_state = s;
            self.event(Event::StateChanged(s));
        }
    }

    fn versions(&self) -> Versions {
        Versions {
            v2: self.config.allow_v2,
            v3: self.config.allow_v3,
        }
    }

    /// Ask the peer to start OTR (sends a query message).
    pub fn start(&mut self) {
        let q = text::query_message(self.versions());
        self.out.push_back(Output::SendToNetwork(q));
    }

    /// The user marks the peer's current fingerprint as verified (after comparing it).
    pub fn verify_fingerprint(&mut self) -> Result<(), OtrError> {
        let fp = self
            .their_fingerprint()
            .ok_or(OtrError::Misuse("no private conversation"))?;
        self.mark_verified(fp);
        Ok(())
    }

    fn mark_verified(&mut self, fp: Fingerprint) {
        self.known = Some(KnownPeer {
            fingerprint: fp,
            verified: true,
        });
        self.event(Event::Verified { fingerprint: fp });
        self.check_state_change();
    }

    /// Send a user message.
    pub fn send(
        &mut self,
        _now: Instant,
        text: &str,
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        match &self.msg {
            MsgState::Finished => Err(OtrError::Misuse(
                "the peer ended the private conversation; end or restart it",
            )),
            MsgState::Encrypted(_) => self.send_data(text.as_bytes(), &[], 0, rng),
            MsgState::Plaintext => {
                if self.config.require_encryption {
                    self.queued.push(text.to_owned());
                    self.start();
                    return Ok(());
                }
                let mut t = text.to_owned();
                if self.config.send_whitespace_tag && !self.tag_sent {
                    t.push_str(&text::whitespace_tag(self.versions()));
                    self.tag_sent = true;
                }
                self.out.push_back(Output::SendToNetwork(t));
                Ok(())
            }
        }
    }

    /// End the private conversation (sends the "disconnected" TLV) and go back to plaintext.
    pub fn end(&mut self, rng: &mut dyn Random) -> Result<(), OtrError> {
        if matches!(self.msg, MsgState::Encrypted(_)) {
            let tlv = Tlv {
                typ: TlvType::Disconnected,
                value: Vec::new(),
            };
            self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)?;
        }
        self.msg = MsgState::Plaintext;
        self.auth = Auth::None;
        self.check_state_change();
        Ok(())
    }

    /// Send a message in the extra symmetric key TLV (v3) and return the key both sides will
    /// derive for it.
    pub fn use_extra_symmetric_key(
        &mut self,
        use_id: u32,
        use_data: &[u8],
        rng: &mut dyn Random,
    ) -> Result<SecretArray<32>, OtrError> {
        let MsgState::Encrypted(e) = &mut self.msg else {
            return Err(OtrError::Misuse("no private conversation"));
        };
        if e.version != 3 {
            return Err(OtrError::Misuse(
                "the extra symmetric key needs protocol version 3",
            ));
        }
        let (o, t) = (e.our_keyid.wrapping_sub(1), e.their_keyid);
        let key = e
            .keys(o, t)
            .map(|k| SecretArray::new(k.extra))
            .ok_or(OtrError::Misuse("no keys"))?;
        let mut value = use_id.to_be_bytes().to_vec();
        value.extend_from_slice(use_data);
        let tlv = Tlv {
            typ: TlvType::ExtraSymmetricKey,
            value,
        };
        self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)?;
        Ok(key)
    }

    // ---------------------------------------------------------------- SMP, user side

    /// Start SMP with a shared secret, optionally showing the peer a question.
    pub fn start_smp(
        &mut self,
        question: Option<&str>,
        secret: &[u8],
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        let our_fp = self.key.fingerprint();
        let MsgState::Encrypted(e) = &mut self.msg else {
            return Err(OtrError::Misuse("no private conversation"));
        };
        let x = smp::combined_secret(&our_fp, &e.their_fp, &e.ssid, secret);
        let (a1, msg) = smp::alice_step1(x, rng);
        let restart = !matches!(e.smp, SmpState::Expect1);
        e.smp = SmpState::Expect2(Box::new(a1));
        let mut tlvs = Vec::new();
        if restart {
            tlvs.push(Tlv {
                typ: TlvType::SmpAbort,
                value: Vec::new(),
            });
        }
        tlvs.push(match question {
            Some(q) => {
                let mut v = q.as_bytes().to_vec();
                v.push(0);
                v.extend_from_slice(&msg);
                Tlv {
                    typ: TlvType::Smp1Q,
                    value: v,
                }
            }
            None => Tlv {
                typ: TlvType::Smp1,
                value: msg,
            },
        });
        self.send_data(b"", &tlvs, FLAG_IGNORE_UNREADABLE, rng)
    }

    /// Answer the peer's SMP request with our secret.
    pub fn respond_smp(&mut self, secret: &[u8], rng: &mut dyn Random) -> Result<(), OtrError> {
        let our_fp = self.key.fingerprint();
        let MsgState::Encrypted(e) = &mut self.msg else {
            return Err(OtrError::Misuse("no private conversation"));
        };
        let SmpState::WaitingForSecret(b1) = &e.smp else {
            return Err(OtrError::Misuse("no SMP request to answer"));
        };
        let y = smp::combined_secret(&e.their_fp, &our_fp, &e.ssid, secret);
        let (b2, msg) = smp::bob_step2(b1, y, rng);
        e.smp = SmpState::Expect3(Box::new(b2));
        let tlv = Tlv {
            typ: TlvType::Smp2,
            value: msg,
        };
        self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)
    }

    /// Abort a running SMP.
    pub fn abort_smp(&mut self, rng: &mut dyn Random) -> Result<(), OtrError> {
        let MsgState::Encrypted(e) = &mut self.msg else {
            return Err(OtrError::Misuse("no private conversation"));
        };
        e.smp = SmpState::Expect1;
        let tlv = Tlv {
            typ: TlvType::SmpAbort,
            value: Vec::new(),
        };
        self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)?;
        self.event(Event::SmpResult(SmpOutcome::Aborted));
        Ok(())
    }

    // ---------------------------------------------------------------- network output

    fn push_encoded(&mut self, bin: &[u8], version: u16, their_tag: u32) -> Vec<String> {
        let encoded = text::encode_message(bin);
        let pieces = match self.config.max_fragment_size {
            Some(max) if encoded.len() > max => {
                let tags = (version == 3).then_some((self.our_tag.0, their_tag));
                text::fragment(&encoded, max, tags).unwrap_or_else(|_| vec![encoded])
            }
            _ => vec![encoded],
        };
        for p in &pieces {
            self.out.push_back(Output::SendToNetwork(p.clone()));
        }
        pieces
    }

    fn resend(&mut self, pieces: &[String]) {
        for p in pieces {
            self.out.push_back(Output::SendToNetwork(p.clone()));
        }
    }

    fn header(&self, version: u16, msg_type: u8, their_tag: u32) -> Header {
        Header {
            version,
            msg_type,
            sender_tag: if version == 3 { self.our_tag.0 } else { 0 },
            receiver_tag: if version == 3 { their_tag } else { 0 },
        }
    }

    fn send_data(
        &mut self,
        msg: &[u8],
        tlvs: &[Tlv],
        flags: u8,
        _rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        let payload = wire::emit_payload(msg, tlvs)?;
        let MsgState::Encrypted(e) = &mut self.msg else {
            return Err(OtrError::Misuse("no private conversation"));
        };
        let (version, their_tag) = (e.version, e.their_tag);
        let sender_keyid = e.our_keyid.wrapping_sub(1);
        let recipient_keyid = e.their_keyid;
        let next_dh = group::to_be_minimal(&e.our_cur.public);
        let reveal = core::mem::take(&mut e.reveal);
        let k = e
            .keys(sender_keyid, recipient_keyid)
            .ok_or(OtrError::Misuse("no keys"))?;
        k.send_ctr = k.send_ctr.wrapping_add(1);
        let ctr = k.send_ctr.to_be_bytes();
        let mut iv = [0u8; 16];
        iv.get_mut(..8).unwrap_or_default().copy_from_slice(&ctr);
        let mut enc = payload;
        aes128_ctr(&k.send_aes, &iv, &mut enc)?;
        let send_mac = k.send_mac;
        let header = Header {
            version,
            msg_type: wire::TYPE_DATA,
            sender_tag: if version == 3 { self.our_tag.0 } else { 0 },
            receiver_tag: if version == 3 { their_tag } else { 0 },
        };
        let mut bin = Vec::new();
        header.emit(&mut bin);
        bin.push(flags);
        bin.extend_from_slice(&sender_keyid.to_be_bytes());
        bin.extend_from_slice(&recipient_keyid.to_be_bytes());
        put_mpi(&mut bin, &next_dh);
        bin.extend_from_slice(&ctr);
        put_data(&mut bin, &enc);
        let mac = hmac_sha1(&send_mac, &[&bin]);
        bin.extend_from_slice(&mac);
        put_data(&mut bin, &reveal);
        self.push_encoded(&bin, version, their_tag);
        Ok(())
    }

    // ---------------------------------------------------------------- input

    /// Handle a text that arrived from the peer over the IM network.
    ///
    /// An `Err` means this text was dropped (malformed, failed a MAC or signature check, a
    /// replay, ...); the session is unchanged and stays usable, so a driver logs it and goes
    /// on. What the user must see arrives as events through [`Session::poll_output`].
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        text: &str,
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        match text::classify(text)? {
            Classified::Fragment(f) => {
                if let Some(s) = f.sender_tag {
                    if !self.config.allow_v3 || s < 0x100 {
                        return Ok(());
                    }
                    if let Some(r) = f.receiver_tag
                        && r != 0
                        && r != self.our_tag.0
                    {
                        return Ok(());
                    }
                } else if !self.config.allow_v2 {
                    return Ok(());
                }
                match self.reassembly.push(&f) {
                    Some(whole) => match text::classify(&whole)? {
                        Classified::Encoded(bin) => self.handle_binary(now, &bin, rng),
                        _ => Err(OtrError::Malformed("fragments of a non-OTR message")),
                    },
                    None => Ok(()),
                }
            }
            Classified::Encoded(bin) => self.handle_binary(now, &bin, rng),
            Classified::Error(msg) => {
                self.event(Event::ErrorReceived(msg));
                if self.config.error_start_ake && !matches!(self.msg, MsgState::Encrypted(_)) {
                    self.start();
                }
                Ok(())
            }
            Classified::Query(v) => {
                self.on_versions_offered(v, rng);
                Ok(())
            }
            Classified::Plain { text, tag } => {
                if !matches!(self.msg, MsgState::Plaintext) {
                    self.event(Event::UnencryptedWhilePrivate);
                }
                if let Some(v) = tag
                    && self.config.whitespace_start_ake
                    && matches!(self.msg, MsgState::Plaintext)
                {
                    self.on_versions_offered(v, rng);
                }
                if !text.is_empty() {
                    self.event(Event::DisplayMessage {
                        text,
                        encrypted: false,
                    });
                }
                Ok(())
            }
        }
    }

    fn on_versions_offered(&mut self, v: Versions, rng: &mut dyn Random) {
        let version = if v.v3 && self.config.allow_v3 {
            3
        } else if v.v2 && self.config.allow_v2 {
            2
        } else {
            return;
        };
        self.initiate_ake(version, rng);
    }

    fn initiate_ake(&mut self, version: u16, rng: &mut dyn Random) {
        let mut r = [0u8; 16];
        rng.fill(&mut r);
        let x = DhPair::generate(rng);
        let gx = mpi_of(&x.public);
        let mut enc_gx = gx.clone();
        // Encryption with a fresh random key cannot fail for a 16-byte key.
        if aes128_ctr(&r, &[0u8; 16], &mut enc_gx).is_err() {
            return;
        }
        let hash_gx = sha256(&[&gx]);
        let their_tag = match &self.msg {
            MsgState::Encrypted(e) => e.their_tag,
            _ => 0,
        };
        let header = self.header(version, wire::TYPE_DH_COMMIT, their_tag);
        let bin = wire::emit_message(
            &header,
            &Message::DhCommit {
                enc_gx,
                hash_gx: hash_gx.to_vec(),
            },
        );
        let pieces = self.push_encoded(&bin, version, their_tag);
        self.ake_version = version;
        self.auth = Auth::AwaitingDhKey {
            x,
            r: SecretArray::new(r),
            hash_gx,
            commit_msg: pieces,
        };
        r.zeroize();
    }

    fn handle_binary(
        &mut self,
        now: Instant,
        bin: &[u8],
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        let (h, msg) = wire::parse_message(bin)?;
        match h.version {
            3 if !self.config.allow_v3 => return Ok(()),
            2 if !self.config.allow_v2 => return Ok(()),
            _ => {}
        }
        if h.version == 3 {
            if h.sender_tag < 0x100 {
                return Err(OtrError::PeerMisbehaved("invalid sender instance tag"));
            }
            let to_anyone = h.receiver_tag == 0 && matches!(msg, Message::DhCommit { .. });
            if !to_anyone && h.receiver_tag != self.our_tag.0 {
                // Meant for another instance of our account.
                return Ok(());
            }
        }
        match msg {
            Message::DhCommit { enc_gx, hash_gx } => {
                self.on_dh_commit(&h, enc_gx, hash_gx, rng);
                Ok(())
            }
            Message::DhKey { gy } => self.on_dh_key(&h, &gy),
            Message::RevealSig { r, enc_sig, mac } => {
                self.on_reveal_sig(&h, &r, &enc_sig, &mac, rng)
            }
            Message::Signature { enc_sig, mac } => self.on_signature(&h, &enc_sig, &mac, rng),
            Message::Data(d) => self.on_data(now, &h, bin, &d, rng),
        }
    }

    fn ake_peer_matches(&self, h: &Header) -> bool {
        h.version == self.ake_version && (h.version == 2 || h.sender_tag == self.ake_their_tag)
    }

    fn on_dh_commit(
        &mut self,
        h: &Header,
        enc_gx: Vec<u8>,
        hash_gx: Vec<u8>,
        rng: &mut dyn Random,
    ) {
        let auth = core::mem::replace(&mut self.auth, Auth::None);
        match auth {
            Auth::AwaitingDhKey {
                x,
                r,
                hash_gx: ours,
                commit_msg,
            } => {
                // Spec: compare the hashed g^x values as 32-byte unsigned big-endian values;
                // the higher one wins and keeps its commit.
                if h.version == self.ake_version && ours.as_slice() > hash_gx.as_slice() {
                    self.resend(&commit_msg);
                    self.auth = Auth::AwaitingDhKey {
                        x,
                        r,
                        hash_gx: ours,
                        commit_msg,
                    };
                    return;
                }
                self.reply_dh_key(h, enc_gx, hash_gx, rng);
            }
            Auth::AwaitingRevealSig { y, dhkey_msg, .. } if self.ake_peer_matches(h) => {
                self.resend(&dhkey_msg);
                self.auth = Auth::AwaitingRevealSig {
                    y,
                    enc_gx,
                    hash_gx,
                    dhkey_msg,
                };
            }
            _ => self.reply_dh_key(h, enc_gx, hash_gx, rng),
        }
    }

    fn reply_dh_key(
        &mut self,
        h: &Header,
        enc_gx: Vec<u8>,
        hash_gx: Vec<u8>,
        rng: &mut dyn Random,
    ) {
        let y = DhPair::generate(rng);
        let header = self.header(h.version, wire::TYPE_DH_KEY, h.sender_tag);
        let bin = wire::emit_message(
            &header,
            &Message::DhKey {
                gy: group::to_be_minimal(&y.public),
            },
        );
        let pieces = self.push_encoded(&bin, h.version, h.sender_tag);
        self.ake_version = h.version;
        self.ake_their_tag = h.sender_tag;
        self.auth = Auth::AwaitingRevealSig {
            y,
            enc_gx,
            hash_gx,
            dhkey_msg: pieces,
        };
    }

    fn on_dh_key(&mut self, h: &Header, gy: &[u8]) -> Result<(), OtrError> {
        if h.version != self.ake_version {
            return Ok(());
        }
        let gy = group::from_be(gy).ok_or(OtrError::PeerMisbehaved("g^y too large"))?;
        if !group::is_valid_element(&gy) {
            return Err(OtrError::PeerMisbehaved("g^y out of range"));
        }
        let auth = core::mem::replace(&mut self.auth, Auth::None);
        match auth {
            Auth::AwaitingDhKey { x, r, .. } => {
                self.ake_their_tag = h.sender_tag;
                let keys = AkeKeys::derive(&x.shared(&gy));
                let our_pub = self.key.public().encoded().to_vec();
                let m = hmac_sha256(
                    &keys.m1,
                    &[
                        &mpi_of(&x.public),
                        &mpi_of(&gy),
                        &our_pub,
                        &AKE_KEYID.to_be_bytes(),
                    ],
                );
                let sig = self.key.sign(&m)?;
                let mut xb = our_pub;
                xb.extend_from_slice(&AKE_KEYID.to_be_bytes());
                xb.extend_from_slice(&sig);
                aes128_ctr(&keys.c, &[0u8; 16], &mut xb)?;
                let mut data = Vec::new();
                put_data(&mut data, &xb);
                let full = hmac_sha256(&keys.m2, &[&data]);
                let mut mac = [0u8; 20];
                mac.copy_from_slice(full.get(..20).unwrap_or(&[0; 20]));
                let header = self.header(h.version, wire::TYPE_REVEAL_SIG, h.sender_tag);
                let bin = wire::emit_message(
                    &header,
                    &Message::RevealSig {
                        r: r.expose().to_vec(),
                        enc_sig: xb,
                        mac,
                    },
                );
                let pieces = self.push_encoded(&bin, h.version, h.sender_tag);
                self.auth = Auth::AwaitingSig {
                    x,
                    gy,
                    keys,
                    revealsig_msg: pieces,
                };
            }
            Auth::AwaitingSig {
                x,
                gy: prev,
                keys,
                revealsig_msg,
            } => {
                if group::ct_eq(&prev, &gy) && self.ake_peer_matches(h) {
                    self.resend(&revealsig_msg);
                }
                self.auth = Auth::AwaitingSig {
                    x,
                    gy: prev,
                    keys,
                    revealsig_msg,
                };
            }
            other => self.auth = other,
        }
        Ok(())
    }

    /// Decrypt and check X = pub, keyid, sig(M) against the MAC over (their DH, our DH,
    /// pub, keyid).
    fn check_sig_block(
        enc_sig: &[u8],
        mac: &[u8; 20],
        c: &[u8; 16],
        m1: &[u8; 32],
        m2: &[u8; 32],
        their_dh: &U1536,
        our_dh: &U1536,
    ) -> Result<(PublicKey, u32), OtrError> {
        let mut data = Vec::new();
        put_data(&mut data, enc_sig);
        let full = hmac_sha256(m2, &[&data]);
        if !bool::from(full.get(..20).unwrap_or_default().ct_eq(mac)) {
            return Err(OtrError::Crypto);
        }
        let mut x = enc_sig.to_vec();
        aes128_ctr(c, &[0u8; 16], &mut x)?;
        let mut r = Reader::new(&x);
        let pk = PublicKey::read(&mut r)?;
        let keyid = r.u32()?;
        let sig = r.rest();
        if keyid == 0 {
            return Err(OtrError::PeerMisbehaved("key id 0"));
        }
        let m = hmac_sha256(
            m1,
            &[
                &mpi_of(their_dh),
                &mpi_of(our_dh),
                pk.encoded(),
                &keyid.to_be_bytes(),
            ],
        );
        pk.verify(&m, sig)?;
        Ok((pk, keyid))
    }

    fn on_reveal_sig(
        &mut self,
        h: &Header,
        r: &[u8],
        enc_sig: &[u8],
        mac: &[u8; 20],
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        if !matches!(self.auth, Auth::AwaitingRevealSig { .. }) || !self.ake_peer_matches(h) {
            return Ok(());
        }
        let auth = core::mem::replace(&mut self.auth, Auth::None);
        let Auth::AwaitingRevealSig {
            y,
            enc_gx,
            hash_gx,
            dhkey_msg,
        } = auth
        else {
            return Ok(());
        };
        let result = (|| {
            if r.len() != 16 {
                return Err(OtrError::PeerMisbehaved(
                    "revealed key has the wrong length",
                ));
            }
            let mut gx_mpi = enc_gx.clone();
            aes128_ctr(r, &[0u8; 16], &mut gx_mpi)?;
            if !bool::from(sha256(&[&gx_mpi]).as_slice().ct_eq(hash_gx.as_slice())) {
                return Err(OtrError::PeerMisbehaved(
                    "g^x does not match its commitment",
                ));
            }
            let mut rd = Reader::new(&gx_mpi);
            let gx_bytes = wire::read_mpi(&mut rd)?;
            rd.finish()?;
            let gx = group::from_be(gx_bytes).ok_or(OtrError::PeerMisbehaved("g^x too large"))?;
            if !group::is_valid_element(&gx) {
                return Err(OtrError::PeerMisbehaved("g^x out of range"));
            }
            let keys = AkeKeys::derive(&y.shared(&gx));
            let (pk, keyid) =
                Self::check_sig_block(enc_sig, mac, &keys.c, &keys.m1, &keys.m2, &gx, &y.public)?;
            Ok((gx, keys, pk, keyid))
        })();
        let (gx, keys, pk, their_keyid) = match result {
            Ok(v) => v,
            Err(e) => {
                self.auth = Auth::AwaitingRevealSig {
                    y,
                    enc_gx,
                    hash_gx,
                    dhkey_msg,
                };
                return Err(e);
            }
        };
        // Our Signature message.
        let our_pub = self.key.public().encoded().to_vec();
        let m = hmac_sha256(
            &keys.m1_prime,
            &[
                &mpi_of(&y.public),
                &mpi_of(&gx),
                &our_pub,
                &AKE_KEYID.to_be_bytes(),
            ],
        );
        let sig = self.key.sign(&m)?;
        let mut xa = our_pub;
        xa.extend_from_slice(&AKE_KEYID.to_be_bytes());
        xa.extend_from_slice(&sig);
        aes128_ctr(&keys.c_prime, &[0u8; 16], &mut xa)?;
        let mut data = Vec::new();
        put_data(&mut data, &xa);
        let full = hmac_sha256(&keys.m2_prime, &[&data]);
        let mut mac_out = [0u8; 20];
        mac_out.copy_from_slice(full.get(..20).unwrap_or(&[0; 20]));
        let header = self.header(h.version, wire::TYPE_SIGNATURE, h.sender_tag);
        let bin = wire::emit_message(
            &header,
            &Message::Signature {
                enc_sig: xa,
                mac: mac_out,
            },
        );
        self.push_encoded(&bin, h.version, h.sender_tag);
        self.go_encrypted(h, y, gx, their_keyid, &pk, keys.ssid, rng)
    }

    fn on_signature(
        &mut self,
        h: &Header,
        enc_sig: &[u8],
        mac: &[u8; 20],
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        if !matches!(self.auth, Auth::AwaitingSig { .. }) || !self.ake_peer_matches(h) {
            return Ok(());
        }
        let auth = core::mem::replace(&mut self.auth, Auth::None);
        let Auth::AwaitingSig {
            x,
            gy,
            keys,
            revealsig_msg,
        } = auth
        else {
            return Ok(());
        };
        match Self::check_sig_block(
            enc_sig,
            mac,
            &keys.c_prime,
            &keys.m1_prime,
            &keys.m2_prime,
            &gy,
            &x.public,
        ) {
            Ok((pk, their_keyid)) => {
                let ssid = keys.ssid;
                self.go_encrypted(h, x, gy, their_keyid, &pk, ssid, rng)
            }
            Err(e) => {
                self.auth = Auth::AwaitingSig {
                    x,
                    gy,
                    keys,
                    revealsig_msg,
                };
                Err(e)
            }
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the AKE result has this many parts"
    )]
    fn go_encrypted(
        &mut self,
        h: &Header,
        ours: DhPair,
        theirs: U1536,
        their_keyid: u32,
        pk: &PublicKey,
        ssid: [u8; 8],
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        let fp = pk.fingerprint();
        self.msg = MsgState::Encrypted(Box::new(Encrypted {
            version: h.version,
            their_tag: if h.version == 3 { h.sender_tag } else { 0 },
            their_fp: fp,
            ssid,
            our_keyid: AKE_KEYID + 1,
            our_cur: DhPair::generate(rng),
            our_old: ours,
            their_keyid,
            their_cur: theirs,
            their_old: None,
            sessions: Vec::new(),
            reveal: Vec::new(),
            smp: SmpState::Expect1,
        }));
        self.auth = Auth::None;
        self.reassembly.clear();
        match self.known {
            Some(k) if k.fingerprint == fp => {
                self.event(Event::FingerprintSeen {
                    fingerprint: fp,
                    known: true,
                });
            }
            Some(k) => {
                self.event(Event::FingerprintChanged {
                    old: k.fingerprint,
                    new: fp,
                });
                self.known = Some(KnownPeer {
                    fingerprint: fp,
                    verified: false,
                });
            }
            None => {
                self.event(Event::FingerprintSeen {
                    fingerprint: fp,
                    known: false,
                });
                self.known = Some(KnownPeer {
                    fingerprint: fp,
                    verified: false,
                });
            }
        }
        // A changed state must be reported even when it stays "encrypted" (re-key).
        self.last_state = OtrState::NotPrivate;
        self.check_state_change();
        for q in core::mem::take(&mut self.queued) {
            self.send_data(q.as_bytes(), &[], 0, rng)?;
        }
        Ok(())
    }

    fn unreadable(&mut self, flags: u8) {
        if flags & FLAG_IGNORE_UNREADABLE == 0 {
            self.event(Event::UnreadableMessage);
            self.out
                .push_back(Output::SendToNetwork(UNREADABLE_ERROR.to_owned()));
        }
    }

    fn on_data(
        &mut self,
        now: Instant,
        h: &Header,
        bin: &[u8],
        d: &DataMsg,
        rng: &mut dyn Random,
    ) -> Result<(), OtrError> {
        let MsgState::Encrypted(e) = &mut self.msg else {
            self.unreadable(d.flags);
            return Ok(());
        };
        if h.version != e.version || (h.version == 3 && h.sender_tag != e.their_tag) {
            return Ok(());
        }
        let keyids_ok = d.sender_keyid != 0
            && d.recipient_keyid != 0
            && (d.sender_keyid == e.their_keyid
                || (d.sender_keyid == e.their_keyid.wrapping_sub(1) && e.their_old.is_some()))
            && (d.recipient_keyid == e.our_keyid
                || d.recipient_keyid == e.our_keyid.wrapping_sub(1));
        if !keyids_ok {
            self.unreadable(d.flags);
            return Err(OtrError::PeerMisbehaved("unknown key id"));
        }
        let next_dh = group::from_be(&d.next_dh)
            .filter(group::is_valid_element)
            .ok_or(OtrError::PeerMisbehaved("next D-H key out of range"))?;
        let Some(k) = e.keys(d.recipient_keyid, d.sender_keyid) else {
            self.unreadable(d.flags);
            return Err(OtrError::PeerMisbehaved("unknown key id"));
        };
        let authed = bin.get(..d.authed_len).unwrap_or_default();
        let mac = hmac_sha1(&k.recv_mac, &[authed]);
        if !bool::from(mac.ct_eq(&d.mac)) {
            self.unreadable(d.flags);
            return Err(OtrError::Crypto);
        }
        let ctr = u64::from_be_bytes(d.ctr);
        if ctr <= k.recv_ctr {
            self.unreadable(d.flags);
            return Err(OtrError::PeerMisbehaved(
                "counter did not increase (replay)",
            ));
        }
        k.recv_ctr = ctr;
        k.recv_used = true;
        let mut iv = [0u8; 16];
        iv.get_mut(..8).unwrap_or_default().copy_from_slice(&d.ctr);
        let mut plain = d.enc.clone();
        aes128_ctr(&k.recv_aes, &iv, &mut plain)?;
        let extra = k.extra;

        // Rotate keys (spec "When you receive a Data Message").
        if d.recipient_keyid == e.our_keyid {
            let old_id = e.our_keyid.wrapping_sub(1);
            e.retire(|s| s.our_keyid == old_id);
            let fresh = DhPair::generate(rng);
            e.our_old = core::mem::replace(&mut e.our_cur, fresh);
            e.our_keyid = e.our_keyid.wrapping_add(1);
        }
        if d.sender_keyid == e.their_keyid {
            let old_id = e.their_keyid.wrapping_sub(1);
            e.retire(|s| s.their_keyid == old_id);
            e.their_old = Some(core::mem::replace(&mut e.their_cur, next_dh));
            e.their_keyid = e.their_keyid.wrapping_add(1);
        }

        let (msg, tlvs) = match wire::parse_payload(&plain) {
            Ok(v) => v,
            Err(_) => {
                // Keep the message, drop an unparseable TLV tail.
                let nul = plain.iter().position(|b| *b == 0).unwrap_or(plain.len());
                (plain.get(..nul).unwrap_or_default().to_vec(), Vec::new())
            }
        };
        plain.zeroize();
        if !msg.is_empty() {
            self.event(Event::DisplayMessage {
                text: String::from_utf8_lossy(&msg).into_owned(),
                encrypted: true,
            });
            let due = self
                .last_sent
                .is_none_or(|t| now.saturating_duration_since(t) >= HEARTBEAT_INTERVAL);
            if due && matches!(self.msg, MsgState::Encrypted(_)) {
                self.last_sent = Some(now);
                self.send_data(b"", &[], FLAG_IGNORE_UNREADABLE, rng)?;
            }
        }
        for t in tlvs {
            self.on_tlv(t, &extra, rng)?;
        }
        Ok(())
    }

    fn on_tlv(&mut self, t: Tlv, extra: &[u8; 32], rng: &mut dyn Random) -> Result<(), OtrError> {
        match t.typ {
            TlvType::Disconnected => {
                self.msg = MsgState::Finished;
                self.check_state_change();
                Ok(())
            }
            TlvType::ExtraSymmetricKey => {
                let mut r = Reader::new(&t.value);
                let use_id = r.u32()?;
                let use_data = r.rest().to_vec();
                self.event(Event::ExtraSymmetricKey {
                    key: SecretArray::new(*extra),
                    use_id,
                    use_data,
                });
                Ok(())
            }
            TlvType::Smp1
            | TlvType::Smp1Q
            | TlvType::Smp2
            | TlvType::Smp3
            | TlvType::Smp4
            | TlvType::SmpAbort => self.on_smp_tlv(t, rng),
            _ => Ok(()),
        }
    }

    fn smp_fail(&mut self, outcome: SmpOutcome, rng: &mut dyn Random) -> Result<(), OtrError> {
        if let MsgState::Encrypted(e) = &mut self.msg {
            e.smp = SmpState::Expect1;
        }
        let tlv = Tlv {
            typ: TlvType::SmpAbort,
            value: Vec::new(),
        };
        self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)?;
        self.event(Event::SmpResult(outcome));
        Ok(())
    }

    fn smp_done(&mut self, success: bool) {
        let fp = match &mut self.msg {
            MsgState::Encrypted(e) => {
                e.smp = SmpState::Expect1;
                e.their_fp
            }
            _ => return,
        };
        if success {
            self.event(Event::SmpResult(SmpOutcome::Succeeded));
            self.mark_verified(fp);
        } else {
            self.event(Event::SmpResult(SmpOutcome::Failed));
        }
    }

    fn on_smp_tlv(&mut self, t: Tlv, rng: &mut dyn Random) -> Result<(), OtrError> {
        let MsgState::Encrypted(e) = &mut self.msg else {
            return Ok(());
        };
        let state = core::mem::replace(&mut e.smp, SmpState::Expect1);
        match (t.typ, state) {
            (TlvType::SmpAbort, SmpState::Expect4(_)) => {
                // An abort instead of the last message: treat as a failed verification.
                self.event(Event::SmpResult(SmpOutcome::Failed));
                Ok(())
            }
            (TlvType::SmpAbort, SmpState::Expect1) => Ok(()),
            (TlvType::SmpAbort, _) => {
                self.event(Event::SmpResult(SmpOutcome::Aborted));
                Ok(())
            }
            (TlvType::Smp1 | TlvType::Smp1Q, SmpState::Expect1) => {
                let (question, value) = if t.typ == TlvType::Smp1Q {
                    let (q, v) = smp::split_question(&t.value)?;
                    (Some(q), v)
                } else {
                    (None, t.value.as_slice())
                };
                match smp::bob_receive1(value) {
                    Ok(b1) => {
                        e.smp = SmpState::WaitingForSecret(Box::new(b1));
                        self.event(Event::SmpRequest { question });
                        Ok(())
                    }
                    Err(_) => self.smp_fail(SmpOutcome::Cheated, rng),
                }
            }
            (TlvType::Smp2, SmpState::Expect2(a1)) => match smp::alice_step3(&a1, &t.value, rng) {
                Ok((a3, msg)) => {
                    e.smp = SmpState::Expect4(Box::new(a3));
                    let tlv = Tlv {
                        typ: TlvType::Smp3,
                        value: msg,
                    };
                    self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)
                }
                Err(_) => self.smp_fail(SmpOutcome::Cheated, rng),
            },
            (TlvType::Smp3, SmpState::Expect3(b2)) => match smp::bob_step4(&b2, &t.value, rng) {
                Ok((success, msg)) => {
                    let tlv = Tlv {
                        typ: TlvType::Smp4,
                        value: msg,
                    };
                    self.send_data(b"", &[tlv], FLAG_IGNORE_UNREADABLE, rng)?;
                    self.smp_done(success);
                    Ok(())
                }
                Err(_) => self.smp_fail(SmpOutcome::Cheated, rng),
            },
            (TlvType::Smp4, SmpState::Expect4(a3)) => match smp::alice_step5(&a3, &t.value) {
                Ok(success) => {
                    self.smp_done(success);
                    Ok(())
                }
                Err(_) => self.smp_fail(SmpOutcome::Cheated, rng),
            },
            // Any other SMP message out of order: abort (spec).
            _ => self.smp_fail(SmpOutcome::Aborted, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(bytes: core::ops::RangeInclusive<u8>) -> DhPair {
        let b: Vec<u8> = bytes.collect();
        let x = group::from_be(&b).unwrap();
        DhPair {
            public: group::pow_g_bounded(&x, DH_EXPONENT_BITS),
            x,
        }
    }

    /// Cross-implementation vector: the spec's key derivations ("Computing AES keys and MAC
    /// keys" with h1, "Exchanging keys" with h2, and the extra symmetric key SHA256(0xFF ||
    /// secbytes)) for x = 0x0102..28, y = 0x6566..8c, computed independently by python-potr
    /// 1.0.2 (`DHSession.create`, `AuthKeyExchange.createAuthKeys`).
    #[test]
    fn key_derivation_matches_python_potr() {
        let a = pair(1..=40);
        let b = pair(101..=140);
        assert_eq!(
            hex::encode(&group::to_be_minimal(&a.public)[..20]),
            "df99c078dd93f5093fc6e4b17c108c90b655ba8c"
        );
        let k = SessKeys::derive(1, 1, &a, &b.public);
        assert_eq!(hex::encode(k.send_aes), "2e60b914bac98955a7ec84624649089f");
        assert_eq!(
            hex::encode(k.send_mac),
            "fff5d092195a67b71c465395dbecb4ac39a78472"
        );
        assert_eq!(hex::encode(k.recv_aes), "2d811a94437d590b113c50b583af5169");
        assert_eq!(
            hex::encode(k.recv_mac),
            "0f3528c2357f0d5b8282dc4dd584eb410bc274e3"
        );
        assert_eq!(
            hex::encode(k.extra),
            "5c3abddfb4cc64fafdbecf9b255b9afed13a96405fe5cf897df6a45aab69caf2"
        );
        // The other side derives the mirror image.
        let kb = SessKeys::derive(1, 1, &b, &a.public);
        assert_eq!(kb.send_aes, k.recv_aes);
        assert_eq!(kb.recv_mac, k.send_mac);

        let ake = AkeKeys::derive(&a.shared(&b.public));
        assert_eq!(hex::encode(ake.ssid), "105277553bc6b822");
        assert_eq!(hex::encode(ake.c), "22e5a96326afadf1b495d6337fc5a961");
        assert_eq!(hex::encode(ake.c_prime), "0e9e3e895c6c93fe5f38df7529d04c6b");
        assert_eq!(
            hex::encode(ake.m1),
            "be72df23da8eca3fdc841e92372718a7254861f86fe568b5004247411b619de4"
        );
        assert_eq!(
            hex::encode(ake.m2),
            "1c0c55ed60f6175cfea4c081338fd775c1aee2a4f09ffaedd052f7b2ad2b91cb"
        );
        assert_eq!(
            hex::encode(ake.m1_prime),
            "ec245d7574347127b548fc9fc6f6670bab1d4948a50bcac43c72bd4aa5f393e9"
        );
        assert_eq!(
            hex::encode(ake.m2_prime),
            "22c990976f1855eb324bff9c0421e1fafc28aa12ef02738bba74c608b1ad6356"
        );
    }
}
