//! [`Phone`]: one SIP user agent with at most one active call, tying together the SIP dialog,
//! SDP offer/answer, ZRTP, SRTP, RTP and the audio timing of a call. Sans-IO.
//!
//! # Driving it
//!
//! ```text
//! phone.handle_sip(now, from, bytes);       // a datagram on the SIP socket
//! phone.handle_media(now, from, bytes);     // a datagram on the media socket
//! phone.handle_timeout(now);                // when poll_timeout() is due
//! phone.call(now, uri, addr) / answer / reject / hangup / confirm_sas / reject_sas
//! phone.start(now);                        // once: registers if an account is set
//! phone.send_dtmf(now, '5');                // a key press, during a secure call
//! phone.shutdown(now);                      // hang up, unregister; then drain until
//!                                           // shutdown_complete() (or a short deadline)
//! while let Some(out) = phone.poll_output() {
//!     // Output::Transmit { socket, to, data } | Output::Event(CallEvent)
//! }
//! ```
//!
//! # Security policy
//!
//! No RTP is sent and none is played until ZRTP reports SECURE: until then the audio source is
//! not even read, and incoming RTP is counted and dropped. Every RTP packet after that is SRTP,
//! keyed by ZRTP. If ZRTP fails, the call is hung up with the reason. Clear media happens only
//! with [`PhoneConfig::allow_insecure`], and the call then shows `Insecure` throughout; if ZRTP
//! gives up during such a call, [`CallEvent::ZrtpFailed`] says so and the call goes on.
//!
//! Key presses (DTMF, RFC 4733 telephone-events) and RTCP follow the same rule: they go out
//! only once media may flow, and through SRTP/SRTCP.
//!
//! # Registration
//!
//! With [`PhoneConfig::account`] set, [`Phone::start`] sends a REGISTER (RFC 3261 §10) to the
//! registrar, answers its digest challenge (RFC 8760: MD5 or SHA-256), refreshes the binding
//! before it expires and reports [`CallEvent::Registered`] or
//! [`CallEvent::RegistrationFailed`]; [`Phone::shutdown`] removes the binding (Expires: 0).
//! Our INVITEs then carry the address of record as From and answer 401/407 challenges with
//! the same credentials.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sotto_media::{OPUS_FRAME, OpusConfig};
use sotto_proto::crypto::{Random, default_provider};
use sotto_proto::{Ssrc, Zid};
use sotto_rtp::{
    Compound, CsrcList, DtmfNotice, DtmfReceiver, DtmfSender, PayloadType, RtpPacket, RtpRepr,
    digit_to_event, event_to_digit,
};
use sotto_sip::auth::Credentials;
use sotto_sip::register::{RegEvent, RegOutput, Registration, RegistrationConfig};
use sotto_sip::sdp::{
    self, Codec, Direction, LocalAudio, NegotiatedAudio, SessionDescription, ZrtpHash,
};
use sotto_sip::ua::{CallHandle, EndReason, UaConfig, UaEvent, UaOutput};
use sotto_sip::{Message, Method, Uri, UserAgent};
use sotto_srtp::{Profile, SrtpContext};
use sotto_zrtp::{
    AlgoPrefs, AuthTag, CacheStatus, CipherAlgo, RoleSetting, SecureInfo, StreamMode, ZidCache,
    ZrtpSession,
};
use thiserror::Error;
use tracing::{debug, trace, warn};
pub use zeroize::Zeroizing;

use crate::codec_path::CodecPath;
use crate::demux::{Kind, classify};
use crate::rtcp_session::RtcpSession;
use crate::security::{Security, SecurityState, Warning, ZrtpSecure};
use crate::stun;

/// Makes a fresh random source (one per engine that needs one).
pub type RngFactory = Box<dyn FnMut() -> Box<dyn Random> + Send>;
/// Opens the ZID cache for one ZRTP session (`None`: no key continuity).
pub type CacheFactory = Box<dyn FnMut() -> Option<Box<dyn ZidCache>> + Send>;

/// Where the call's audio comes from and goes to: 20 ms frames, 48 kHz, mono.
pub trait AudioIo: Send {
    /// Fills one frame of microphone audio. Only called once the call may send media.
    fn capture(&mut self, frame: &mut [i16]);
    /// Plays one frame. Only called once the call may play media.
    fn play(&mut self, frame: &[i16]);
}

/// Silence in, nothing out.
#[derive(Debug, Default)]
pub struct NullAudio;

impl AudioIo for NullAudio {
    fn capture(&mut self, frame: &mut [i16]) {
        frame.fill(0);
    }
    fn play(&mut self, _frame: &[i16]) {}
}

/// A SIP account at a registrar, for reachability (optional: direct calls need none).
pub struct Account {
    /// Where the registrar (and outbound proxy) listens.
    pub registrar: SocketAddr,
    /// Our address of record, e.g. `sip:alice@example.org`.
    pub aor: Uri,
    /// Digest user name.
    pub username: String,
    /// Digest password (zeroized on drop, never printed).
    pub password: Zeroizing<String>,
    /// Binding lifetime to ask for, in seconds (the registrar may shorten it).
    pub expires: u32,
}

impl core::fmt::Debug for Account {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Account")
            .field("registrar", &self.registrar)
            .field("aor", &self.aor.to_string())
            .field("username", &self.username)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The REGISTER Request-URI: the AOR's domain (RFC 3261 §10.2: user part omitted).
    fn registrar_uri(&self) -> Uri {
        let mut uri = self.aor.clone();
        if let Some(sip) = uri.sip_mut() {
            sip.user = None;
            sip.password = None;
        }
        uri
    }
}

/// How a phone is set up.
pub struct PhoneConfig {
    /// Our SIP address.
    pub sip_addr: SocketAddr,
    /// Our media (RTP/RTCP/ZRTP, rtcp-mux) address.
    pub media_addr: SocketAddr,
    /// SIP user part.
    pub user: String,
    /// Display name (a pseudonym).
    pub display_name: Option<String>,
    /// Our ZID.
    pub zid: Zid,
    /// Allow clear media (shown `Insecure` for the whole call).
    pub allow_insecure: bool,
    /// ZRTP algorithm preferences.
    pub zrtp: AlgoPrefs,
    /// Wall-clock unix seconds at start (ZRTP cache expiry).
    pub unix_time: u64,
    /// Opus settings.
    pub opus: OpusConfig,
    /// Codecs to offer and accept, in order of preference (Opus first; G.711 for peers that
    /// offer nothing better).
    pub codecs: Vec<Codec>,
    /// A SIP account to register with; `None`: direct calls only.
    pub account: Option<Account>,
}

impl PhoneConfig {
    /// Defaults for a phone at these addresses.
    pub fn new(sip_addr: SocketAddr, media_addr: SocketAddr, user: &str, zid: Zid) -> Self {
        Self {
            sip_addr,
            media_addr,
            user: user.to_owned(),
            display_name: None,
            zid,
            allow_insecure: false,
            zrtp: AlgoPrefs::default(),
            unix_time: 0,
            opus: OpusConfig::default(),
            codecs: vec![Codec::Opus, Codec::Pcmu, Codec::Pcma],
            account: None,
        }
    }
}

/// Which socket a datagram goes out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// The SIP socket.
    Sip,
    /// The media socket.
    Media,
}

/// The algorithms of a secure call, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureSummary {
    /// The SAS to compare aloud.
    pub sas: String,
    /// ZRTP hash (`S256`...).
    pub hash: String,
    /// Cipher (`AES1`...).
    pub cipher: String,
    /// SRTP auth tag (`HS80`...).
    pub auth_tag: String,
    /// Key agreement (`X255`...).
    pub key_agreement: String,
    /// SAS type (`B32`...).
    pub sas_type: String,
    /// The SRTP profile in use.
    pub srtp_profile: &'static str,
    /// Verified on an earlier call (and no key change).
    pub verified: bool,
    /// Key continuity: `"match"`, `"first call"`, `"MISMATCH"`.
    pub cache: &'static str,
    /// The peer's ZID.
    pub peer_zid: Zid,
}

/// Something the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// We sent an INVITE.
    Calling,
    /// Someone calls us; [`Phone::answer`] or [`Phone::reject`].
    IncomingCall {
        /// Who (as the peer presents itself; unverified).
        from: String,
    },
    /// The peer's phone rings.
    Ringing,
    /// The call is up at the SIP level and ZRTP runs: red, nothing sent.
    Connecting,
    /// ZRTP is done: orange with the SAS (or green if verified before).
    Secure(SecureSummary),
    /// The user confirmed the SAS: green.
    Verified,
    /// The peer's key differs from the one we remember: loud warning, "verified" cleared.
    CacheMismatch,
    /// The call ended.
    Ended {
        /// Why, for the user.
        reason: String,
    },
    /// The peer pressed a key (RFC 4733 telephone-event): one event per key press.
    Dtmf {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The registrar accepted (or refreshed) our binding.
    Registered {
        /// For this many seconds (refreshed before it runs out).
        expires: u32,
    },
    /// Registration failed; direct calls still work.
    RegistrationFailed {
        /// Why, for the user.
        reason: String,
    },
    /// Our binding was removed at the registrar (on shutdown).
    Unregistered,
    /// ZRTP gave up during a call the user allowed to be insecure: the call goes on, unencrypted
    /// (red). Without `allow_insecure` a ZRTP failure ends the call instead ([`CallEvent::Ended`]).
    ZrtpFailed {
        /// Why, for the user.
        reason: String,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `data` from `socket` to `to`.
    Transmit {
        /// Which socket.
        socket: Socket,
        /// Destination.
        to: SocketAddr,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Show this to the user.
    Event(CallEvent),
}

/// Misuse of the phone API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// A call is already in progress.
    #[error("a call is already in progress")]
    Busy,
    /// There is no call to act on.
    #[error("there is no call")]
    NoCall,
    /// The action does not fit the call's state.
    #[error("not possible now: {0}")]
    WrongState(&'static str),
    /// The engines refused something (SIP, ZRTP, SRTP or codec setup).
    #[error("{0}")]
    Engine(String),
    /// Not a DTMF key (`0`–`9`, `*`, `#`, `A`–`D`).
    #[error("{0:?} is not a phone key (0-9, *, #, A-D)")]
    InvalidDigit(char),
}

/// Counters of one call, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// SRTP packets sent.
    pub srtp_sent: u64,
    /// SRTP bytes sent.
    pub srtp_bytes_sent: u64,
    /// SRTP packets received and authenticated.
    pub srtp_received: u64,
    /// SRTP bytes received and authenticated.
    pub srtp_bytes_received: u64,
    /// Incoming RTP packets that failed SRTP authentication (or were malformed).
    pub srtp_rejected: u64,
    /// Incoming SRTP packets dropped as repeats by the replay check (RFC 3711 §3.3.2): network
    /// duplicates, and the repeated RFC 4733 end packets of peers that send all three with one
    /// sequence number (oRTP/linphone does).
    pub srtp_replayed: u64,
    /// SRTCP packets received and authenticated.
    pub srtcp_received: u64,
    /// Incoming RTCP packets that failed SRTCP authentication or replay checks (counted apart
    /// from RTP: RTCP carries no audio).
    pub srtcp_rejected: u64,
    /// Clear RTP packets sent (non-zero only with `allow_insecure`).
    pub clear_rtp_sent: u64,
    /// RTP packets received before ZRTP was secure (dropped unplayed).
    pub rtp_dropped_before_secure: u64,
    /// ZRTP packets sent.
    pub zrtp_sent: u64,
    /// Frames played that were decoded (not concealed).
    pub frames_decoded: u64,
    /// Frames played that were concealed or FEC-recovered.
    pub frames_concealed: u64,
    /// STUN binding requests answered.
    pub stun_answered: u64,
    /// When ZRTP became secure, measured from the start of the call.
    pub time_to_secure: Option<Duration>,
    /// RTCP compound packets sent (SRTCP once secure).
    pub rtcp_sent: u64,
    /// Sender/receiver reports received from the peer (authenticated).
    pub peer_reports: u64,
    /// Round-trip time from the peer's last report (RFC 3550 §6.4.1: A − LSR − DLSR).
    pub rtt: Option<Duration>,
    /// Share of our packets the peer reported lost in its last report, in 1/256
    /// (see [`MediaStats::peer_loss_percent`]).
    pub peer_fraction_lost: Option<u8>,
    /// Our packets the peer reported lost in total.
    pub peer_cumulative_lost: Option<i32>,
    /// Interarrival jitter the peer measured on our stream.
    pub peer_jitter: Option<Duration>,
    /// Interarrival jitter we measured on the peer's stream (RFC 3550 A.8).
    pub jitter: Option<Duration>,
    /// The peer's packets that never arrived (RFC 3550 A.3).
    pub rtp_lost: Option<i32>,
    /// The peer sent an RTCP BYE.
    pub peer_bye: bool,
    /// Key presses sent (RFC 4733 events, not packets).
    pub dtmf_sent: u64,
    /// Key presses received.
    pub dtmf_received: u64,
}

impl MediaStats {
    /// The peer-reported loss of our stream in its last report, in percent.
    pub fn peer_loss_percent(&self) -> Option<f64> {
        self.peer_fraction_lost
            .map(|f| f64::from(f) * 100.0 / 256.0)
    }
}

enum Phase {
    /// Outgoing: INVITE sent, no answer yet.
    Inviting { offer: SessionDescription },
    /// Incoming: waiting for the user.
    Offered { offer: SessionDescription },
    /// The dialog is up (or, for the callee, answered).
    Up,
}

struct ActiveCall {
    handle: CallHandle,
    phase: Phase,
    started: Instant,
    zrtp: ZrtpSession,
    zrtp_started: bool,
    remote_media: Option<SocketAddr>,
    negotiated: Option<NegotiatedAudio>,
    pending_media: VecDeque<(SocketAddr, Vec<u8>)>,
    security: Security,
    srtp_tx: Option<SrtpContext>,
    srtp_rx: Option<SrtpContext>,
    ssrc: Ssrc,
    seq: u16,
    rtp_ts: u32,
    next_tick: Option<Instant>,
    codec: Option<CodecPath>,
    stats: MediaStats,
    summary: Option<SecureSummary>,
    /// The version of the last SDP we sent (RFC 3264 §8: +1 for every new offer or answer).
    sdp_version: u64,
    /// What we want: `SendOnly` while we hold the peer.
    local_direction: Direction,
    /// Our re-INVITE offer awaiting its answer, and the direction to go back to if it fails.
    reoffer: Option<(SessionDescription, Direction)>,
    /// Randomness for this call (RTCP intervals).
    rng: Box<dyn Random>,
    /// Keys waiting to be sent, as RFC 4733 event codes.
    dtmf_queue: VecDeque<u8>,
    /// The key being sent.
    dtmf: Option<DtmfSender>,
    /// Frames of audio to send between two keys.
    dtmf_gap: u8,
    dtmf_rx: DtmfReceiver,
    /// The RTP timestamp of the last key press reported (a late update must not repeat it).
    dtmf_last_ts: Option<u32>,
    rtcp: RtcpSession,
    /// The peer's SDP offered SDES-SRTP keys (RTP/SAVP with `a=crypto`) and no ZRTP: said in
    /// the reason if ZRTP then fails.
    peer_sdes_only: bool,
}

impl ActiveCall {
    /// Where RTCP goes: the media address with rtcp-mux, else the peer's `a=rtcp` or the next
    /// port (RFC 3605, RFC 3550 §11).
    fn rtcp_dest(&self) -> Option<SocketAddr> {
        let to = self.remote_media?;
        match self.negotiated.as_ref() {
            Some(n) if !n.rtcp_mux && !n.remote_rtcp.ip().is_unspecified() => Some(n.remote_rtcp),
            Some(n) if !n.rtcp_mux => Some(SocketAddr::new(to.ip(), n.remote_rtcp.port())),
            _ => Some(to),
        }
    }

    /// The RTP clock rate of the negotiated codec.
    fn clock_rate(&self) -> u32 {
        self.negotiated
            .as_ref()
            .map_or(48_000, |n| n.codec.clock_rate())
    }
}

/// Sends one RTP packet of our stream (SRTP once secure) and counts it.
#[allow(clippy::too_many_arguments, reason = "one packet's fields")]
fn send_rtp(
    call: &mut ActiveCall,
    out: &mut VecDeque<Output>,
    to: SocketAddr,
    marker: bool,
    pt: u8,
    timestamp: u32,
    payload: &[u8],
) {
    let Some(payload_type) = PayloadType::new(pt) else {
        return;
    };
    let repr = RtpRepr {
        marker,
        payload_type,
        sequence_number: call.seq,
        timestamp,
        ssrc: call.ssrc,
        csrcs: CsrcList::new(),
        extension: None,
        payload,
        padding: 0,
    };
    call.seq = call.seq.wrapping_add(1);
    let mut buf = vec![0u8; repr.buffer_len() + 32];
    let Ok(len) = repr.emit(&mut buf) else {
        return;
    };
    let secure = call.security.state().is_encrypted();
    let sent_len = if secure {
        call.srtp_tx
            .as_mut()
            .and_then(|tx| tx.protect_rtp(&mut buf, len).ok())
    } else {
        Some(len)
    };
    let Some(l) = sent_len else {
        return;
    };
    buf.truncate(l);
    if secure {
        call.stats.srtp_sent += 1;
        call.stats.srtp_bytes_sent += l as u64;
    } else {
        call.stats.clear_rtp_sent += 1;
    }
    call.rtcp.on_rtp_sent(payload.len());
    out.push_back(Output::Transmit {
        socket: Socket::Media,
        to,
        data: buf,
    });
}

impl ActiveCall {
    /// Takes a (re-)negotiated session: direction, payload type and, unless the peer holds
    /// with `c=0.0.0.0` (RFC 3264 §8.4), its media address.
    fn apply_negotiated(&mut self, n: NegotiatedAudio) {
        if !n.remote_addr.ip().is_unspecified() && n.remote_addr.port() != 0 {
            self.remote_media = Some(n.remote_addr);
        }
        self.negotiated = Some(n);
    }
}

/// One phone line: a SIP user agent and at most one call.
pub struct Phone {
    cfg: PhoneConfig,
    ua: UserAgent,
    rngs: RngFactory,
    caches: CacheFactory,
    audio: Box<dyn AudioIo>,
    call: Option<ActiveCall>,
    out: VecDeque<Output>,
    last_stats: Option<MediaStats>,
    session_id: u64,
    reg: Option<Registration>,
    /// The first instant we were given, paired with `cfg.unix_time` (RTCP's NTP clock).
    epoch: Option<Instant>,
    shutting_down: bool,
    started: bool,
}

impl core::fmt::Debug for Phone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Phone")
            .field("sip_addr", &self.cfg.sip_addr)
            .field("in_call", &self.call.is_some())
            .finish_non_exhaustive()
    }
}

const FRAME: Duration = Duration::from_millis(20);
/// How long a key press lasts on the wire (RFC 4733 events; ITU-T Q.24 wants ≥ 40 ms).
const DTMF_FRAMES: u16 = 5;
/// Audio frames between two queued key presses.
const DTMF_GAP_FRAMES: u8 = 3;
const MAX_PENDING_MEDIA: usize = 32;

fn user_reason(reason: &EndReason) -> String {
    match reason {
        EndReason::LocalHangup => "you hung up".into(),
        EndReason::RemoteHangup => "the other side hung up".into(),
        EndReason::Rejected(486) => "the other side is busy".into(),
        // Only our INVITE can be rejected, and sotto always offers RTP/AVP with ZRTP: a phone
        // that wants SDES-SRTP (RTP/SAVP with keys in the SDP) refuses it with 488.
        EndReason::Rejected(488) => {
            "the other phone refused sotto's unencrypted-profile (RTP/AVP) offer (SIP 488); it \
             probably requires SDES-SRTP, whose keys travel through the SIP servers, which sotto \
             does not use"
                .into()
        }
        EndReason::Rejected(code) | EndReason::Declined(code) => {
            format!("the call was not accepted (SIP {code})")
        }
        EndReason::Cancelled => "the call was cancelled".into(),
        EndReason::Timeout => "the other side did not answer".into(),
        #[allow(unreachable_patterns, reason = "EndReason may grow")]
        other => format!("{other:?}"),
    }
}

fn registration_failure_text(status: u16) -> String {
    match status {
        401 | 407 => "the registrar did not accept the user name or password".into(),
        403 => "the registrar refused this account (SIP 403 Forbidden)".into(),
        404 => "the registrar does not know this address (SIP 404)".into(),
        423 => "the registrar wants a longer registration time than sotto can ask for".into(),
        s => format!("registration failed (SIP {s})"),
    }
}

/// The peer's SDP offers SDES-SRTP and no ZRTP: its audio section is RTP/SAVP(F) with an
/// `a=crypto` line (RFC 4568) and there is no `a=zrtp-hash`.
fn offers_only_sdes(sd: &SessionDescription) -> bool {
    sd.audio().is_some_and(|m| {
        m.is_secure_profile()
            && m.attr("crypto").is_some()
            && m.attr("zrtp-hash").is_none()
            && sd.attr("zrtp-hash").is_none()
    })
}

/// Why ZRTP failed, for the user. `peer_sdes_only`: the peer offered SDES-SRTP keys instead.
/// `insecure`: the user allowed clear media, so the call goes on (unencrypted) rather than end.
fn zrtp_failure_text(
    reason: &sotto_zrtp::FailureReason,
    peer_sdes_only: bool,
    insecure: bool,
) -> String {
    use sotto_zrtp::FailureReason as F;
    const GOES_ON: &str = "; the call goes on NOT ENCRYPTED, as you allowed";
    match reason {
        F::Timeout(_) if peer_sdes_only && insecure => {
            format!(
                "the other phone offered only SDES-SRTP keys, which travel through the SIP \
                 servers, and no ZRTP{GOES_ON}"
            )
        }
        F::Timeout(_) if peer_sdes_only => "the other phone offered only SDES-SRTP keys, which \
                                            travel through the SIP servers; sotto requires ZRTP, \
                                            so the call was not connected because it could not \
                                            be verified end to end"
            .into(),
        F::Timeout(_) if insecure => {
            format!("the other phone does not support ZRTP (or did not answer it){GOES_ON}")
        }
        F::Timeout(_) => "the other phone does not support ZRTP (or did not answer it); the call \
                          was not connected because it could not be encrypted"
            .into(),
        F::HelloHashMismatch => format!(
            "the other phone's encryption hello does not match what its signalling announced: \
             someone may be tampering with the call{}",
            if insecure { GOES_ON } else { "" }
        ),
        F::NoCommonAlgorithm(_) => format!(
            "the other phone offers no encryption algorithm sotto accepts{}",
            if insecure { GOES_ON } else { "" }
        ),
        other if insecure => format!("the encryption handshake failed ({other}){GOES_ON}"),
        other => format!("the encryption handshake failed ({other}); the call was not connected"),
    }
}

fn srtp_profile(info: &SecureInfo) -> Option<Profile> {
    Some(match (info.suite.cipher, info.suite.auth_tag) {
        (CipherAlgo::Aes1, AuthTag::Hs80) => Profile::Aes128CmHmacSha1_80,
        (CipherAlgo::Aes1, AuthTag::Hs32) => Profile::Aes128CmHmacSha1_32,
        (CipherAlgo::Aes3, AuthTag::Hs80) => Profile::Aes256CmHmacSha1_80,
        (CipherAlgo::Aes3, AuthTag::Hs32) => Profile::Aes256CmHmacSha1_32,
        _ => return None,
    })
}

impl Phone {
    /// A phone with silent audio; see [`Phone::set_audio`].
    pub fn new(cfg: PhoneConfig, mut rngs: RngFactory, caches: CacheFactory) -> Self {
        let mut ua_cfg = UaConfig::new(cfg.sip_addr, &cfg.user);
        ua_cfg.display_name = cfg.display_name.clone();
        let credentials = cfg
            .account
            .as_ref()
            .map(|a| Credentials::new(&a.username, a.password.as_bytes()));
        ua_cfg.credentials = credentials.clone();
        ua_cfg.aor = cfg.account.as_ref().map(|a| a.aor.clone());
        let ua = UserAgent::new(ua_cfg, rngs());
        let reg = cfg.account.as_ref().map(|a| {
            Registration::new(
                RegistrationConfig {
                    registrar: a.registrar_uri(),
                    aor: a.aor.clone(),
                    contact: ua.contact(),
                    expires: a.expires,
                    server: a.registrar,
                    local_addr: cfg.sip_addr,
                    transport: sotto_sip::transaction::Transport::Udp,
                    timers: sotto_sip::transaction::Timers::default(),
                    credentials,
                },
                rngs(),
            )
        });
        let mut id = [0u8; 8];
        rngs().fill(&mut id);
        Self {
            cfg,
            ua,
            rngs,
            caches,
            audio: Box::new(NullAudio),
            call: None,
            out: VecDeque::new(),
            last_stats: None,
            session_id: u64::from_be_bytes(id) >> 2,
            reg,
            epoch: None,
            shutting_down: false,
            started: false,
        }
    }

    /// Starts the phone: registers with the account's registrar, if one is configured (call
    /// before anything else; the `sotto-net` driver does; later calls do
    /// nothing; without an account it does nothing).
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.epoch.get_or_insert(now);
        if let Some(reg) = self.reg.as_mut()
            && let Err(e) = reg.register(now)
        {
            warn!(%e, "cannot register");
        }
        self.drain_reg(now);
    }

    /// Shuts down: hangs up any call and removes our registration (REGISTER with Expires: 0).
    /// Keep feeding datagrams and timeouts until [`Phone::shutdown_complete`] (or a deadline of
    /// a few seconds: the registrar may not answer).
    pub fn shutdown(&mut self, now: Instant) {
        if self.call.is_some() {
            let _ = self.hangup(now);
        }
        self.shutting_down = true;
        if let Some(reg) = self.reg.as_mut()
            && let Err(e) = reg.unregister(now)
        {
            warn!(%e, "cannot unregister");
        }
        self.drain_reg(now);
    }

    /// After [`Phone::shutdown`]: the registrar answered the removal (or there was none).
    pub fn shutdown_complete(&self) -> bool {
        self.shutting_down && self.reg.as_ref().is_none_or(|r| r.poll_timeout().is_none())
    }

    fn drain_reg(&mut self, _now: Instant) {
        let Some(reg) = self.reg.as_mut() else {
            return;
        };
        while let Some(o) = reg.poll_output() {
            match o {
                RegOutput::Transmit { to, data } => self.out.push_back(Output::Transmit {
                    socket: Socket::Sip,
                    to,
                    data,
                }),
                RegOutput::Event(e) => {
                    let registrar = self.cfg.account.as_ref().map(|a| a.registrar);
                    let event = match e {
                        RegEvent::Registered { expires } => CallEvent::Registered { expires },
                        RegEvent::Unregistered => CallEvent::Unregistered,
                        RegEvent::Failed { status } => CallEvent::RegistrationFailed {
                            reason: registration_failure_text(status),
                        },
                        RegEvent::TimedOut if self.shutting_down => CallEvent::RegistrationFailed {
                            reason: "the registrar did not confirm the removal of the \
                                         registration; it will expire by itself"
                                .into(),
                        },
                        RegEvent::TimedOut => CallEvent::RegistrationFailed {
                            reason: format!(
                                "the registrar{} did not answer; trying again in 30 s",
                                registrar.map(|a| format!(" at {a}")).unwrap_or_default()
                            ),
                        },
                    };
                    self.out.push_back(Output::Event(event));
                }
            }
        }
    }

    /// Where captured audio comes from and played audio goes.
    pub fn set_audio(&mut self, audio: Box<dyn AudioIo>) {
        self.audio = audio;
    }

    /// The current security state, if there is a call.
    pub fn security(&self) -> Option<&SecurityState> {
        self.call.as_ref().map(|c| c.security.state())
    }

    /// Media counters of the current call, or of the last one.
    pub fn stats(&self) -> Option<&MediaStats> {
        self.call
            .as_ref()
            .map(|c| &c.stats)
            .or(self.last_stats.as_ref())
    }

    /// Details of the current call's encryption, once secure.
    pub fn secure_summary(&self) -> Option<&SecureSummary> {
        self.call.as_ref().and_then(|c| c.summary.as_ref())
    }

    /// Our ZRTP Hello hash for the current call (diagnostics).
    pub fn zrtp_hello_hash(&self) -> Option<String> {
        self.call.as_ref().map(|c| c.zrtp.hello_hash())
    }

    fn new_zrtp(
        &mut self,
        now: Instant,
        peer_hash: Option<String>,
    ) -> Result<ZrtpSession, PhoneError> {
        let mut ssrc = [0u8; 4];
        (self.rngs)().fill(&mut ssrc);
        let mut zc = sotto_zrtp::Config::new(
            self.cfg.zid,
            Ssrc(u32::from_be_bytes(ssrc)),
            self.cfg.unix_time,
        );
        zc.role = RoleSetting::Initiator;
        zc.algorithms = self.cfg.zrtp.clone();
        zc.peer_hello_hash = peer_hash;
        zc.mode = StreamMode::Dh;
        let cache = (self.caches)();
        ZrtpSession::new(zc, (self.rngs)(), cache, now)
            .map_err(|e| PhoneError::Engine(e.to_string()))
    }

    /// What we offer or accept, before the ZRTP hash is known.
    fn base_local_audio(&self) -> LocalAudio {
        let mut local = LocalAudio::new(self.cfg.media_addr);
        local.codecs = self.cfg.codecs.clone();
        local
    }

    fn local_audio(&self, zrtp: &ZrtpSession) -> LocalAudio {
        let mut local = self.base_local_audio();
        local.zrtp_hash = ZrtpHash::parse(&zrtp.hello_hash()).ok();
        local
    }

    fn new_call(
        &mut self,
        now: Instant,
        handle: CallHandle,
        phase: Phase,
        zrtp: ZrtpSession,
    ) -> ActiveCall {
        let mut ssrc = [0u8; 4];
        let mut seq = [0u8; 2];
        let mut ts = [0u8; 4];
        let mut r = (self.rngs)();
        r.fill(&mut ssrc);
        r.fill(&mut seq);
        r.fill(&mut ts);
        // RFC 3550 §6.5.1 / RFC 7022: a random CNAME per call, nothing about the user or host.
        let mut cname = [0u8; 12];
        r.fill(&mut cname);
        let cname: String = cname.iter().map(|b| format!("{b:02x}")).collect();
        let epoch = *self.epoch.get_or_insert(now);
        let unix_now = self
            .cfg
            .unix_time
            .saturating_add(now.saturating_duration_since(epoch).as_secs());
        let ssrc = Ssrc(u32::from_be_bytes(ssrc));
        ActiveCall {
            handle,
            phase,
            started: now,
            zrtp,
            zrtp_started: false,
            remote_media: None,
            negotiated: None,
            pending_media: VecDeque::new(),
            security: Security::new(self.cfg.allow_insecure),
            srtp_tx: None,
            srtp_rx: None,
            ssrc,
            seq: u16::from_be_bytes(seq),
            rtp_ts: u32::from_be_bytes(ts),
            next_tick: None,
            codec: None,
            stats: MediaStats::default(),
            summary: None,
            sdp_version: 1,
            local_direction: Direction::SendRecv,
            reoffer: None,
            rng: r,
            dtmf_queue: VecDeque::new(),
            dtmf: None,
            dtmf_gap: 0,
            dtmf_rx: DtmfReceiver::new(),
            dtmf_last_ts: None,
            rtcp: RtcpSession::new(ssrc, cname, now, unix_now),
            peer_sdes_only: false,
        }
    }

    /// Places a call to `target`, sending the INVITE to `peer`.
    pub fn call(&mut self, now: Instant, target: Uri, peer: SocketAddr) -> Result<(), PhoneError> {
        if self.call.is_some() {
            return Err(PhoneError::Busy);
        }
        let zrtp = self.new_zrtp(now, None)?;
        let offer = sdp::create_offer(&self.local_audio(&zrtp), self.session_id, 1);
        let handle = self.ua.invite(now, target, peer, offer.to_bytes());
        let call = self.new_call(now, handle, Phase::Inviting { offer }, zrtp);
        self.call = Some(call);
        self.out.push_back(Output::Event(CallEvent::Calling));
        self.drain_ua(now);
        Ok(())
    }

    /// Answers the incoming call.
    pub fn answer(&mut self, now: Instant) -> Result<(), PhoneError> {
        let local = {
            let call = self.call.as_ref().ok_or(PhoneError::NoCall)?;
            self.local_audio(&call.zrtp)
        };
        let session_id = self.session_id;
        let call = self.call.as_mut().ok_or(PhoneError::NoCall)?;
        let Phase::Offered { offer } = &call.phase else {
            return Err(PhoneError::WrongState("no incoming call to answer"));
        };
        let peer_sdes_only = offers_only_sdes(offer);
        let (answer, negotiated) = match sdp::create_answer(offer, &local, session_id, 1) {
            Ok(a) => a,
            Err(e) => {
                let handle = call.handle;
                let _ = self.ua.reject(now, handle, 488);
                // The 488 must go out now: the call (and its driver) may end right after.
                self.drain_ua(now);
                self.end(now, format!("the caller's audio offer is not usable: {e}"));
                return Err(PhoneError::Engine(e.to_string()));
            }
        };
        let handle = call.handle;
        call.phase = Phase::Up;
        call.peer_sdes_only = peer_sdes_only;
        self.ua
            .answer(now, handle, answer.to_bytes())
            .map_err(|e| PhoneError::Engine(e.to_string()))?;
        self.media_negotiated(now, negotiated);
        self.drain_ua(now);
        Ok(())
    }

    /// Rejects the incoming call (486 Busy Here or 603 Decline).
    pub fn reject(&mut self, now: Instant, decline: bool) -> Result<(), PhoneError> {
        let call = self.call.as_ref().ok_or(PhoneError::NoCall)?;
        if !matches!(call.phase, Phase::Offered { .. }) {
            return Err(PhoneError::WrongState("no incoming call to reject"));
        }
        let handle = call.handle;
        self.ua
            .reject(now, handle, if decline { 603 } else { 486 })
            .map_err(|e| PhoneError::Engine(e.to_string()))?;
        self.drain_ua(now);
        self.end(now, "you declined the call".into());
        Ok(())
    }

    /// Hangs up (or cancels) the call.
    pub fn hangup(&mut self, now: Instant) -> Result<(), PhoneError> {
        let call = self.call.as_ref().ok_or(PhoneError::NoCall)?;
        let handle = call.handle;
        if matches!(call.phase, Phase::Offered { .. }) {
            return self.reject(now, true);
        }
        // The RTCP BYE goes before the SIP BYE, which ends the peer's call at once.
        self.rtcp_bye(now);
        let res = self.ua.hangup(now, handle);
        self.drain_ua(now);
        self.end(now, "you hung up".into());
        res.map_err(|e| PhoneError::Engine(e.to_string()))
    }

    /// Sends a key press to the peer as an RFC 4733 telephone-event: `0`–`9`, `*`, `#`,
    /// `A`–`D`. Only during a call that may carry media (secure, or insecure by the user's
    /// choice), and only if the peer accepted telephone-event in SDP. Keys are queued and
    /// sent one after another on the media clock: each lasts 100 ms (start packet with the
    /// marker bit, updates every 20 ms at the same timestamp, the end packet three times),
    /// replacing the audio meanwhile, with 60 ms of audio between keys. All through SRTP.
    pub fn send_dtmf(&mut self, _now: Instant, digit: char) -> Result<(), PhoneError> {
        if !matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            return Err(PhoneError::InvalidDigit(digit));
        }
        let event = digit_to_event(digit).ok_or(PhoneError::InvalidDigit(digit))?;
        let call = self.call.as_mut().ok_or(PhoneError::NoCall)?;
        if !call.security.state().media_allowed() || call.next_tick.is_none() {
            return Err(PhoneError::WrongState(
                "keys can be sent only once the call is secure",
            ));
        }
        if call
            .negotiated
            .as_ref()
            .and_then(|n| n.telephone_event_pt)
            .is_none()
        {
            return Err(PhoneError::WrongState(
                "the other phone does not accept keys (no telephone-event in its SDP)",
            ));
        }
        if call.dtmf_queue.len() >= 64 {
            return Err(PhoneError::WrongState(
                "too many keys are waiting to be sent",
            ));
        }
        call.dtmf_queue.push_back(event);
        Ok(())
    }

    /// Puts the peer on hold (`on`) or resumes, with a re-INVITE (RFC 3264 §8.4: our offer is
    /// `a=sendonly` to hold, `a=sendrecv` to resume). ZRTP and SRTP keep running unchanged.
    pub fn hold(&mut self, now: Instant, on: bool) -> Result<(), PhoneError> {
        let call = self.call.as_ref().ok_or(PhoneError::NoCall)?;
        if !matches!(call.phase, Phase::Up) || call.reoffer.is_some() {
            return Err(PhoneError::WrongState(
                "hold needs an established call with no re-INVITE pending",
            ));
        }
        let mut local = self.local_audio(&call.zrtp);
        local.direction = if on {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let version = call.sdp_version + 1;
        let offer = sdp::create_offer(&local, self.session_id, version);
        let handle = call.handle;
        self.ua
            .reinvite(now, handle, offer.to_bytes())
            .map_err(|e| PhoneError::Engine(e.to_string()))?;
        if let Some(c) = self.call.as_mut() {
            c.sdp_version = version;
            c.reoffer = Some((offer, c.local_direction));
            c.local_direction = local.direction;
        }
        self.drain_ua(now);
        Ok(())
    }

    /// The user compared the SAS and it matched: remember the peer as verified.
    pub fn confirm_sas(&mut self, now: Instant) -> Result<(), PhoneError> {
        let call = self.call.as_mut().ok_or(PhoneError::NoCall)?;
        if !call.security.confirm_sas() {
            return Err(PhoneError::WrongState(
                "there is no security code to confirm",
            ));
        }
        let _ = call.zrtp.handle_input(now, sotto_zrtp::Input::ConfirmSas);
        if let Some(s) = call.summary.as_mut() {
            s.verified = true;
        }
        self.out.push_back(Output::Event(CallEvent::Verified));
        self.drain_zrtp(now);
        Ok(())
    }

    /// The user says the SAS does not match: record it and hang up.
    pub fn reject_sas(&mut self, now: Instant) -> Result<(), PhoneError> {
        let call = self.call.as_mut().ok_or(PhoneError::NoCall)?;
        if call.security.reject_sas() != Some(Warning::SasMismatch) {
            return Err(PhoneError::WrongState(
                "there is no security code to reject",
            ));
        }
        let _ = call.zrtp.handle_input(now, sotto_zrtp::Input::RejectSas);
        let handle = call.handle;
        let _ = self.ua.hangup(now, handle);
        self.drain_ua(now);
        self.end(
            now,
            "the security codes did not match: someone may be listening; the call was ended".into(),
        );
        Ok(())
    }

    /// A datagram on the SIP socket.
    pub fn handle_sip(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.epoch.get_or_insert(now);
        if let Some(reg) = self.reg.as_mut()
            && let Ok(Message::Response(r)) = Message::parse(data)
            && r.headers.cseq().is_ok_and(|c| c.method == Method::Register)
        {
            reg.handle_response(now, r);
            self.drain_reg(now);
            return;
        }
        self.ua.handle_datagram(now, from, data);
        self.drain_ua(now);
    }

    /// A datagram on the media socket.
    pub fn handle_media(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match classify(data) {
            Kind::Stun => {
                if let Ok(stun::Action::Respond(resp)) =
                    stun::answer_binding(default_provider(), data, from, None)
                {
                    if let Some(c) = self.call.as_mut() {
                        c.stats.stun_answered += 1;
                    }
                    self.out.push_back(Output::Transmit {
                        socket: Socket::Media,
                        to: from,
                        data: resp,
                    });
                }
            }
            Kind::Zrtp | Kind::Rtp | Kind::Rtcp => {
                let Some(call) = self.call.as_mut() else {
                    trace!("media datagram with no call: dropped");
                    return;
                };
                if !call.zrtp_started {
                    // The peer's ZRTP Hello can overtake the SIP answer: keep a few.
                    if call.pending_media.len() < MAX_PENDING_MEDIA {
                        call.pending_media.push_back((from, data.to_vec()));
                    }
                    return;
                }
                self.media_datagram(now, from, data);
            }
            other => trace!(?other, "media datagram of no protocol we speak: dropped"),
        }
    }

    fn media_datagram(&mut self, now: Instant, _from: SocketAddr, data: &[u8]) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        match classify(data) {
            Kind::Zrtp => {
                if let Err(e) = call
                    .zrtp
                    .handle_input(now, sotto_zrtp::Input::Datagram(data))
                {
                    trace!(%e, "ZRTP datagram dropped");
                }
                self.drain_zrtp(now);
            }
            Kind::Rtp => {
                if !call.security.state().media_allowed() {
                    call.stats.rtp_dropped_before_secure += 1;
                    return;
                }
                let mut buf = data.to_vec();
                let len = if call.security.state().is_encrypted() {
                    let Some(rx) = call.srtp_rx.as_mut() else {
                        call.stats.rtp_dropped_before_secure += 1;
                        return;
                    };
                    match rx.unprotect_rtp(&mut buf) {
                        Ok(n) => n,
                        Err(sotto_srtp::Error::Replayed) => {
                            call.stats.srtp_replayed += 1;
                            trace!("SRTP packet replayed: dropped");
                            return;
                        }
                        Err(e) => {
                            call.stats.srtp_rejected += 1;
                            trace!(%e, "SRTP packet rejected");
                            return;
                        }
                    }
                } else {
                    buf.len()
                };
                call.stats.srtp_received += 1;
                call.stats.srtp_bytes_received += data.len() as u64;
                let Some(clear) = buf.get(..len) else { return };
                let Ok(pkt) = RtpPacket::new_checked(clear) else {
                    return;
                };
                let clock_rate = call.clock_rate();
                call.rtcp.on_rtp_received(
                    now,
                    pkt.ssrc(),
                    pkt.sequence_number(),
                    pkt.timestamp(),
                    clock_rate,
                );
                let pt = Some(pkt.payload_type().get());
                if pt.is_some() && pt == call.negotiated.as_ref().and_then(|n| n.telephone_event_pt)
                {
                    // RFC 4733 §2.5.2: one key press per event timestamp, however many of its
                    // packets arrive (or are lost, or repeated).
                    let notices = call
                        .dtmf_rx
                        .on_packet(pkt.timestamp(), pkt.payload())
                        .unwrap_or_default();
                    for n in notices.into_iter().flatten() {
                        if let DtmfNotice::Start { event, timestamp } = n
                            && call.dtmf_last_ts != Some(timestamp)
                            && let Some(digit) = event_to_digit(event)
                        {
                            call.dtmf_last_ts = Some(timestamp);
                            call.stats.dtmf_received += 1;
                            self.out.push_back(Output::Event(CallEvent::Dtmf { digit }));
                        }
                    }
                    return;
                }
                let expected_pt = call.negotiated.as_ref().map(|n| n.pt);
                if pt != expected_pt {
                    return;
                }
                if let Some(c) = call.codec.as_mut() {
                    c.insert(now, pkt.timestamp(), pkt.payload());
                }
            }
            Kind::Rtcp => {
                if let Some(rx) = call.srtp_rx.as_mut() {
                    let mut buf = data.to_vec();
                    match rx.unprotect_rtcp(&mut buf) {
                        Ok(n) => {
                            call.stats.srtcp_received += 1;
                            let clock_rate = call.clock_rate();
                            match buf.get(..n).map(Compound::parse_relaxed) {
                                Some(Ok(c)) => {
                                    call.rtcp.on_compound(now, &c, clock_rate, &mut call.stats);
                                }
                                _ => trace!("SRTCP payload is not RTCP: ignored"),
                            }
                        }
                        Err(e) => {
                            call.stats.srtcp_rejected += 1;
                            trace!(%e, "SRTCP packet rejected");
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Call at (or after) [`Phone::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(reg) = self.reg.as_mut()
            && reg.poll_timeout().is_some_and(|t| t <= now)
        {
            reg.handle_timeout(now);
            self.drain_reg(now);
        }
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
            self.drain_ua(now);
        }
        if let Some(call) = self.call.as_mut()
            && call.zrtp_started
            && call.zrtp.poll_timeout().is_some_and(|t| t <= now)
        {
            let _ = call.zrtp.handle_input(now, sotto_zrtp::Input::Timeout);
            self.drain_zrtp(now);
        }
        self.media_ticks(now);
        if self
            .call
            .as_ref()
            .and_then(|c| c.rtcp.next())
            .is_some_and(|t| t <= now)
        {
            self.send_rtcp(now, false);
        }
    }

    /// Sends our RTCP compound report (with BYE if `bye`): SRTCP once secure, never before
    /// media may flow.
    fn send_rtcp(&mut self, now: Instant, bye: bool) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if !call.security.state().media_allowed() {
            return;
        }
        let Some(to) = call.rtcp_dest() else {
            return;
        };
        let Some(mut bytes) = call.rtcp.build(now, call.rtp_ts, bye, call.rng.as_mut()) else {
            return;
        };
        if call.security.state().is_encrypted() {
            let Some(tx) = call.srtp_tx.as_mut() else {
                return;
            };
            if let Err(e) = tx.protect_rtcp_vec(&mut bytes) {
                warn!(%e, "SRTCP protect failed; report not sent");
                return;
            }
        }
        call.stats.rtcp_sent += 1;
        self.out.push_back(Output::Transmit {
            socket: Socket::Media,
            to,
            data: bytes,
        });
    }

    /// The earliest time [`Phone::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.ua.poll_timeout();
        if let Some(r) = self.reg.as_ref().and_then(Registration::poll_timeout) {
            t = Some(t.map_or(r, |t| t.min(r)));
        }
        if let Some(call) = &self.call {
            let z = if call.zrtp_started {
                call.zrtp.poll_timeout()
            } else {
                None
            };
            for c in [z, call.next_tick, call.rtcp.next()].into_iter().flatten() {
                t = Some(t.map_or(c, |t| t.min(c)));
            }
        }
        t
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn drain_ua(&mut self, now: Instant) {
        while let Some(o) = self.ua.poll_output() {
            match o {
                UaOutput::Transmit { to, data } => self.out.push_back(Output::Transmit {
                    socket: Socket::Sip,
                    to,
                    data,
                }),
                UaOutput::Event(e) => self.on_ua_event(now, e),
            }
        }
    }

    fn on_ua_event(&mut self, now: Instant, e: UaEvent) {
        let ours =
            |call: &Option<ActiveCall>, h: CallHandle| call.as_ref().is_some_and(|c| c.handle == h);
        match e {
            UaEvent::IncomingCall { call, from, offer } => {
                if self.call.is_some() {
                    let _ = self.ua.reject(now, call, 486);
                    return;
                }
                let parsed = SessionDescription::parse(&offer);
                let Ok(offer) = parsed else {
                    let _ = self.ua.reject(now, call, 488);
                    return;
                };
                // An offer we cannot answer (no Opus, e.g. G.711 only) gets 488 Not Acceptable
                // Here at once (RFC 3261 §13.3.1.3, RFC 3264 §6) rather than ringing the user.
                let probe = self.base_local_audio();
                if let Err(e) = sdp::create_answer(&offer, &probe, self.session_id, 1) {
                    let _ = self.ua.reject(now, call, 488);
                    let from = from.display.clone().unwrap_or_else(|| from.uri.to_string());
                    warn!(%e, "incoming call refused with 488: its offer is not usable");
                    self.out.push_back(Output::Event(CallEvent::Ended {
                        reason: format!(
                            "a call from {from} was refused: it offers no audio codec sotto \
                             supports (SIP 488)"
                        ),
                    }));
                    return;
                }
                let peer_hash = offer.zrtp_hash().map(|h| h.to_string());
                let zrtp = match self.new_zrtp(now, peer_hash) {
                    Ok(z) => z,
                    Err(e) => {
                        warn!(%e, "cannot start ZRTP for an incoming call");
                        let _ = self.ua.reject(now, call, 500);
                        return;
                    }
                };
                let active = self.new_call(now, call, Phase::Offered { offer }, zrtp);
                self.call = Some(active);
                let _ = self.ua.ringing(now, call);
                let from = from.display.clone().unwrap_or_else(|| from.uri.to_string());
                self.out
                    .push_back(Output::Event(CallEvent::IncomingCall { from }));
            }
            UaEvent::Ringing { call, .. } if ours(&self.call, call) => {
                self.out.push_back(Output::Event(CallEvent::Ringing));
            }
            UaEvent::Answered { call, answer } if ours(&self.call, call) => {
                let local = match self.call.as_ref() {
                    Some(c) => self.local_audio(&c.zrtp),
                    None => return,
                };
                let Some(active) = self.call.as_mut() else {
                    return;
                };
                let Phase::Inviting { offer } = &active.phase else {
                    return;
                };
                let negotiated = SessionDescription::parse(&answer)
                    .map_err(|e| e.to_string())
                    .and_then(|a| {
                        active.peer_sdes_only = offers_only_sdes(&a);
                        sdp::process_answer(offer, &a, &local).map_err(|e| e.to_string())
                    });
                active.phase = Phase::Up;
                match negotiated {
                    Ok(n) => {
                        if let Some(h) = &n.remote_zrtp_hash {
                            active.zrtp.set_peer_hello_hash(Some(h.to_string()));
                        }
                        self.media_negotiated(now, n);
                    }
                    Err(e) => {
                        let _ = self.ua.hangup(now, call);
                        self.end(
                            now,
                            format!("the answer's audio description is not usable: {e}"),
                        );
                    }
                }
            }
            UaEvent::Ended { call, reason } if ours(&self.call, call) => {
                self.end(now, user_reason(&reason));
            }
            UaEvent::Reinvite { call, offer } if ours(&self.call, call) => {
                // Hold/resume or a media change: answer with a new SDP version (RFC 3264 §8)
                // and follow the new direction and address; ZRTP and SRTP keep running.
                let Some(active) = self.call.as_ref() else {
                    return;
                };
                let mut local = self.local_audio(&active.zrtp);
                local.direction = active.local_direction;
                let version = active.sdp_version + 1;
                let answered = SessionDescription::parse(&offer)
                    .and_then(|o| sdp::create_answer(&o, &local, self.session_id, version));
                match answered {
                    Ok((answer, n)) => {
                        if let Some(c) = self.call.as_mut() {
                            c.sdp_version = version;
                            c.apply_negotiated(n);
                        }
                        let _ = self.ua.answer(now, call, answer.to_bytes());
                    }
                    Err(e) => {
                        // The session stays as it was (RFC 3261 §14.2).
                        debug!(%e, "re-INVITE offer not usable");
                        let _ = self.ua.reject(now, call, 488);
                    }
                }
                self.drain_ua(now);
            }
            UaEvent::ReinviteAnswered { call, answer } if ours(&self.call, call) => {
                let Some(active) = self.call.as_ref() else {
                    return;
                };
                let mut local = self.local_audio(&active.zrtp);
                local.direction = active.local_direction;
                let Some(active) = self.call.as_mut() else {
                    return;
                };
                let Some((offer, previous)) = active.reoffer.take() else {
                    return;
                };
                match SessionDescription::parse(&answer)
                    .and_then(|a| sdp::process_answer(&offer, &a, &local))
                {
                    Ok(n) => active.apply_negotiated(n),
                    Err(e) => {
                        warn!(%e, "the answer to our re-INVITE is not usable; keeping the session");
                        active.local_direction = previous;
                    }
                }
            }
            UaEvent::ReinviteFailed { call, status } if ours(&self.call, call) => {
                debug!(status, "our re-INVITE failed; the session is unchanged");
                if let Some(c) = self.call.as_mut()
                    && let Some((_, previous)) = c.reoffer.take()
                {
                    c.local_direction = previous;
                }
            }
            UaEvent::Dropped { reason } => debug!(reason, "SIP message dropped"),
            other => trace!(?other, "SIP event"),
        }
    }

    fn media_negotiated(&mut self, now: Instant, n: NegotiatedAudio) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        call.remote_media = Some(n.remote_addr);
        call.negotiated = Some(n);
        call.zrtp_started = true;
        self.out.push_back(Output::Event(CallEvent::Connecting));
        self.drain_zrtp(now);
        if self.cfg.allow_insecure {
            self.start_media(now);
        }
        let pending: Vec<_> = self
            .call
            .as_mut()
            .map(|c| c.pending_media.drain(..).collect())
            .unwrap_or_default();
        for (from, d) in pending {
            self.media_datagram(now, from, &d);
        }
    }

    fn start_media(&mut self, now: Instant) {
        let opus = self.cfg.opus;
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if call.codec.is_none() {
            let codec = call.negotiated.as_ref().map_or(Codec::Opus, |n| n.codec);
            match CodecPath::new(codec, opus) {
                Ok(c) => call.codec = Some(c),
                Err(e) => warn!(%e, ?codec, "cannot set up the audio codec; no audio"),
            }
            call.next_tick = Some(now);
            call.rtcp.start(now, call.rng.as_mut());
        }
    }

    fn drain_zrtp(&mut self, now: Instant) {
        loop {
            let Some(call) = self.call.as_mut() else {
                return;
            };
            if !call.zrtp_started {
                return;
            }
            let Some(o) = call.zrtp.poll_output() else {
                return;
            };
            match o {
                sotto_zrtp::Output::Transmit(data) => {
                    if let Some(to) = call.remote_media {
                        call.stats.zrtp_sent += 1;
                        self.out.push_back(Output::Transmit {
                            socket: Socket::Media,
                            to,
                            data,
                        });
                    }
                }
                sotto_zrtp::Output::Timeout(_) => {}
                sotto_zrtp::Output::Event(e) => self.on_zrtp_event(now, e),
            }
        }
    }

    fn on_zrtp_event(&mut self, now: Instant, e: sotto_zrtp::Event) {
        match e {
            sotto_zrtp::Event::Secure(info) => self.on_secure(now, &info),
            sotto_zrtp::Event::Failed(reason) => {
                let Some(call) = self.call.as_mut() else {
                    return;
                };
                let insecure = self.cfg.allow_insecure;
                let text = zrtp_failure_text(&reason, call.peer_sdes_only, insecure);
                call.security.zrtp_failed(text.clone());
                if insecure {
                    warn!(%reason, "ZRTP failed; the call stays insecure as the user allowed");
                    self.out
                        .push_back(Output::Event(CallEvent::ZrtpFailed { reason: text }));
                    return;
                }
                let handle = call.handle;
                let _ = self.ua.hangup(now, handle);
                self.drain_ua(now);
                self.end(now, text);
            }
            _ => {}
        }
    }

    fn on_secure(&mut self, now: Instant, info: &SecureInfo) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let Some(profile) = srtp_profile(info) else {
            call.security
                .zrtp_failed("ZRTP agreed a cipher sotto cannot use for SRTP");
            let handle = call.handle;
            let _ = self.ua.hangup(now, handle);
            self.drain_ua(now);
            self.end(now, "ZRTP agreed a cipher sotto cannot use for SRTP".into());
            return;
        };
        let (tk, ts) = info.srtp.send();
        let (rk, rs) = info.srtp.recv();
        // ZRTP's HS32 applies to SRTCP too in the deployed ZRTP stacks (libbzrtp/linphone send
        // 32-bit SRTCP tags under HS32, seen in captures), unlike SDES's _32 suites (RFC 4568),
        // whose SRTCP tag stays 80 bits.
        let srtp_config = || sotto_srtp::Config {
            srtcp_tag_like_srtp: info.suite.auth_tag == AuthTag::Hs32,
            ..sotto_srtp::Config::default()
        };
        let tx = SrtpContext::new(profile, tk.expose(), ts.expose(), srtp_config());
        let rx = SrtpContext::new(profile, rk.expose(), rs.expose(), srtp_config());
        let (Ok(tx), Ok(rx)) = (tx, rx) else {
            call.security
                .zrtp_failed("the SRTP keys from ZRTP were refused");
            let handle = call.handle;
            let _ = self.ua.hangup(now, handle);
            self.drain_ua(now);
            self.end(now, "the SRTP keys from ZRTP were refused".into());
            return;
        };
        call.srtp_tx = Some(tx);
        call.srtp_rx = Some(rx);
        let mismatch = info.cache == CacheStatus::Mismatch;
        let summary = SecureSummary {
            sas: info.sas.clone(),
            hash: info.suite.hash.code().to_string().trim().to_owned(),
            cipher: info.suite.cipher.code().to_string().trim().to_owned(),
            auth_tag: info.suite.auth_tag.code().to_string().trim().to_owned(),
            key_agreement: info
                .suite
                .key_agreement
                .code()
                .to_string()
                .trim()
                .to_owned(),
            sas_type: info.suite.sas.code().to_string().trim().to_owned(),
            srtp_profile: profile.name(),
            verified: info.verified && !mismatch,
            cache: match info.cache {
                CacheStatus::MatchedRs1 | CacheStatus::MatchedRs2 => "match",
                CacheStatus::Mismatch => "MISMATCH",
                _ => "first call",
            },
            peer_zid: info.peer_zid,
        };
        let warning =
            call.security
                .zrtp_secure(ZrtpSecure::new(info.sas.clone(), info.verified, mismatch));
        call.stats.time_to_secure = Some(now.saturating_duration_since(call.started));
        call.summary = Some(summary.clone());
        self.out
            .push_back(Output::Event(CallEvent::Secure(summary)));
        if warning == Some(Warning::KeyChanged) {
            self.out.push_back(Output::Event(CallEvent::CacheMismatch));
        }
        self.start_media(now);
    }

    fn media_ticks(&mut self, now: Instant) {
        for _ in 0..5 {
            let Some(call) = self.call.as_mut() else {
                return;
            };
            let Some(tick) = call.next_tick else { return };
            if tick > now {
                return;
            }
            call.next_tick = Some(if now.saturating_duration_since(tick) > FRAME * 5 {
                // The driver fell behind: skip ahead instead of bursting.
                now + FRAME
            } else {
                tick + FRAME
            });
            self.media_tick(now);
        }
    }

    fn media_tick(&mut self, now: Instant) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if !call.security.state().media_allowed() {
            return;
        }
        let (Some(to), Some(neg)) = (call.remote_media, call.negotiated.as_ref()) else {
            return;
        };
        let pt = neg.pt;
        let te_pt = neg.telephone_event_pt;
        // RFC 3264 §5.1: no media on a stream we may not send on (held, or holding with
        // `inactive`); the RTP clock runs on so the peer's timing stays right on resume. While
        // we hold the peer (our `sendonly`, RFC 3264 §8.4) we may send but do not: there is no
        // music on hold, and the microphone must not reach someone the user put on hold.
        let holding = call.local_direction == Direction::SendOnly;
        let may_send = neg.direction.can_send() && !holding;
        let step = call
            .codec
            .as_ref()
            .map_or(OPUS_FRAME as u32, CodecPath::timestamp_step);
        // A key press (RFC 4733 §2.5.1) replaces the audio while it lasts; all its packets
        // carry the RTP time of its start.
        if may_send && call.dtmf.is_none() && call.dtmf_gap == 0 {
            let duration = u16::try_from(step * u32::from(DTMF_FRAMES)).unwrap_or(u16::MAX);
            let step16 = u16::try_from(step).unwrap_or(u16::MAX);
            if let Some(event) = call.dtmf_queue.pop_front() {
                call.dtmf = DtmfSender::new(event, 10, call.rtp_ts, duration, step16).ok();
                call.stats.dtmf_sent += 1;
            }
        }
        let mut pcm = [0i16; OPUS_FRAME];
        self.audio.capture(&mut pcm);
        let dtmf_packet = match (call.dtmf.as_mut(), te_pt) {
            (Some(d), Some(te)) if may_send => match d.next_packet() {
                Some(p) => Some((te, p)),
                None => {
                    call.dtmf = None;
                    call.dtmf_gap = DTMF_GAP_FRAMES;
                    None
                }
            },
            _ => None,
        };
        if let Some((te, p)) = dtmf_packet {
            send_rtp(
                call,
                &mut self.out,
                to,
                p.marker,
                te,
                p.timestamp,
                &p.event.to_bytes(),
            );
        } else {
            call.dtmf_gap = call.dtmf_gap.saturating_sub(1);
            // Send one frame of audio.
            let mut payload = [0u8; 1275];
            let encoded = call
                .codec
                .as_mut()
                .and_then(|c| c.encode(&pcm, &mut payload));
            if let Some(p) = encoded.filter(|_| may_send).and_then(|n| payload.get(..n)) {
                let ts = call.rtp_ts;
                send_rtp(call, &mut self.out, to, false, pt, ts, p);
            }
        }
        call.rtp_ts = call.rtp_ts.wrapping_add(step);
        // Play one frame.
        let mut out = [0i16; OPUS_FRAME];
        if let Some(rx) = call.codec.as_mut() {
            match rx.pull(now, &mut out) {
                Ok(sotto_media::PlayedKind::Decoded) => call.stats.frames_decoded += 1,
                Ok(sotto_media::PlayedKind::Idle) => {}
                Ok(_) => call.stats.frames_concealed += 1,
                Err(_) => out.fill(0),
            }
            self.audio.play(&out);
        }
    }

    /// RFC 3550 §6.6: an RTCP BYE when we leave the session (once; only if media ran).
    fn rtcp_bye(&mut self, now: Instant) {
        if self
            .call
            .as_ref()
            .is_some_and(|c| c.rtcp.started() && !c.rtcp.bye_sent())
        {
            self.send_rtcp(now, true);
        }
    }

    fn end(&mut self, now: Instant, reason: String) {
        self.rtcp_bye(now);
        if let Some(mut call) = self.call.take() {
            call.rtcp.fill_stats(&mut call.stats);
            self.last_stats = Some(call.stats);
            self.out
                .push_back(Output::Event(CallEvent::Ended { reason }));
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "a test needs some Instant to start from"
)]
mod tests {
    use super::*;

    /// RFC 3550 §6.5.1 leaves the CNAME's form open; RFC 7022 wants it random and short-lived.
    /// Ours is 24 random hex digits, new for every call, with nothing of the user name or host.
    #[test]
    fn cname_is_random_per_call_and_not_the_user_name() {
        let cfg = PhoneConfig::new(
            "127.0.0.1:5060".parse().unwrap(),
            "127.0.0.1:40000".parse().unwrap(),
            "alice",
            Zid([1; 12]),
        );
        let mut p = Phone::new(
            cfg,
            Box::new(|| Box::new(sotto_proto::crypto::OsRandom) as Box<dyn Random>),
            Box::new(|| None),
        );
        let now = Instant::now();
        let target: Uri = "sip:bob@127.0.0.1:5062".parse().unwrap();
        let peer = "127.0.0.1:5062".parse().unwrap();
        let mut names = Vec::new();
        for _ in 0..2 {
            p.call(now, target.clone(), peer).unwrap();
            let cname = p.call.as_ref().unwrap().rtcp.cname().to_vec();
            p.hangup(now).unwrap();
            let text = String::from_utf8(cname).unwrap();
            assert_eq!(text.len(), 24);
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!text.contains("alice") && !text.contains("127.0.0.1"));
            names.push(text);
        }
        assert_ne!(names[0], names[1]);
    }
}
