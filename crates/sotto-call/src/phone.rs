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
//! with [`PhoneConfig::allow_insecure`], and the call then shows `Insecure` throughout.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sotto_media::{OPUS_FRAME, OpusConfig};
use sotto_proto::crypto::{Random, default_provider};
use sotto_proto::{Ssrc, Zid};
use sotto_rtp::{CsrcList, PayloadType, RtpPacket, RtpRepr};
use sotto_sip::sdp::{
    self, Codec, Direction, LocalAudio, NegotiatedAudio, SessionDescription, ZrtpHash,
};
use sotto_sip::ua::{CallHandle, EndReason, UaConfig, UaEvent, UaOutput};
use sotto_sip::{Uri, UserAgent};
use sotto_srtp::{Profile, SrtpContext};
use sotto_zrtp::{
    AlgoPrefs, AuthTag, CacheStatus, CipherAlgo, RoleSetting, SecureInfo, StreamMode, ZidCache,
    ZrtpSession,
};
use thiserror::Error;
use tracing::{debug, trace, warn};

use crate::codec_path::CodecPath;
use crate::demux::{Kind, classify};
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
    /// Incoming RTP packets that failed SRTP authentication or replay checks.
    pub srtp_rejected: u64,
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
const MAX_PENDING_MEDIA: usize = 32;

fn user_reason(reason: &EndReason) -> String {
    match reason {
        EndReason::LocalHangup => "you hung up".into(),
        EndReason::RemoteHangup => "the other side hung up".into(),
        EndReason::Rejected(486) => "the other side is busy".into(),
        EndReason::Rejected(code) | EndReason::Declined(code) => {
            format!("the call was not accepted (SIP {code})")
        }
        EndReason::Cancelled => "the call was cancelled".into(),
        EndReason::Timeout => "the other side did not answer".into(),
        #[allow(unreachable_patterns, reason = "EndReason may grow")]
        other => format!("{other:?}"),
    }
}

fn zrtp_failure_text(reason: &sotto_zrtp::FailureReason) -> String {
    use sotto_zrtp::FailureReason as F;
    match reason {
        F::Timeout(_) => "the other phone does not support ZRTP (or did not answer it); the call \
                          was not connected because it could not be encrypted"
            .into(),
        F::HelloHashMismatch => "the other phone's encryption hello does not match what its \
                                 signalling announced: someone may be tampering with the call"
            .into(),
        F::NoCommonAlgorithm(_) => {
            "the other phone offers no encryption algorithm sotto accepts".into()
        }
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
        let ua = UserAgent::new(ua_cfg, rngs());
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
        local.telephone_event = false;
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
            ssrc: Ssrc(u32::from_be_bytes(ssrc)),
            seq: u16::from_be_bytes(seq),
            rtp_ts: u32::from_be_bytes(ts),
            next_tick: None,
            codec: None,
            stats: MediaStats::default(),
            summary: None,
            sdp_version: 1,
            local_direction: Direction::SendRecv,
            reoffer: None,
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
        let res = self.ua.hangup(now, handle);
        self.drain_ua(now);
        self.end(now, "you hung up".into());
        res.map_err(|e| PhoneError::Engine(e.to_string()))
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
                let expected_pt = call.negotiated.as_ref().map(|n| n.pt);
                if Some(pkt.payload_type().get()) != expected_pt {
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
                        Ok(_) => call.stats.srtcp_received += 1,
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
    }

    /// The earliest time [`Phone::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.ua.poll_timeout();
        if let Some(call) = &self.call {
            let z = if call.zrtp_started {
                call.zrtp.poll_timeout()
            } else {
                None
            };
            for c in [z, call.next_tick].into_iter().flatten() {
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
                let text = zrtp_failure_text(&reason);
                let Some(call) = self.call.as_mut() else {
                    return;
                };
                call.security.zrtp_failed(text.clone());
                if self.cfg.allow_insecure {
                    warn!(%reason, "ZRTP failed; the call stays insecure as the user allowed");
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
        // RFC 3264 §5.1: no media on a stream we may not send on (held, or holding with
        // `inactive`); the RTP clock runs on so the peer's timing stays right on resume. While
        // we hold the peer (our `sendonly`, RFC 3264 §8.4) we may send but do not: there is no
        // music on hold, and the microphone must not reach someone the user put on hold.
        let holding = call.local_direction == Direction::SendOnly;
        let may_send = neg.direction.can_send() && !holding;
        // Send one frame.
        let mut pcm = [0i16; OPUS_FRAME];
        self.audio.capture(&mut pcm);
        let mut payload = [0u8; 1275];
        let encoded = call
            .codec
            .as_mut()
            .and_then(|c| c.encode(&pcm, &mut payload));
        if let Some(n) = encoded.filter(|_| may_send) {
            if let (Some(pt), Some(p)) = (PayloadType::new(pt), payload.get(..n)) {
                let repr = RtpRepr {
                    marker: false,
                    payload_type: pt,
                    sequence_number: call.seq,
                    timestamp: call.rtp_ts,
                    ssrc: call.ssrc,
                    csrcs: CsrcList::new(),
                    extension: None,
                    payload: p,
                    padding: 0,
                };
                let mut buf = vec![0u8; repr.buffer_len() + 32];
                if let Ok(len) = repr.emit(&mut buf) {
                    let secure = call.security.state().is_encrypted();
                    let sent_len = if secure {
                        call.srtp_tx
                            .as_mut()
                            .and_then(|tx| tx.protect_rtp(&mut buf, len).ok())
                    } else {
                        Some(len)
                    };
                    if let Some(l) = sent_len {
                        buf.truncate(l);
                        if secure {
                            call.stats.srtp_sent += 1;
                            call.stats.srtp_bytes_sent += l as u64;
                        } else {
                            call.stats.clear_rtp_sent += 1;
                        }
                        self.out.push_back(Output::Transmit {
                            socket: Socket::Media,
                            to,
                            data: buf,
                        });
                    }
                }
            }
            call.seq = call.seq.wrapping_add(1);
        }
        let step = call
            .codec
            .as_ref()
            .map_or(OPUS_FRAME as u32, CodecPath::timestamp_step);
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

    fn end(&mut self, _now: Instant, reason: String) {
        if let Some(call) = self.call.take() {
            self.last_stats = Some(call.stats);
            self.out
                .push_back(Output::Event(CallEvent::Ended { reason }));
        }
    }
}
