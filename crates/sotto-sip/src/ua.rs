//! A sans-IO SIP user agent core: transactions, dialogs and the call legs on top of them
//! (INVITE/100/180/200/ACK, CANCEL, BYE, re-INVITE, 486/603, OPTIONS, digest retry).
//!
//! The call engine (sotto-call) drives one of these; tests drive it through sotto-netem.
//! Like every sotto engine it is fed with `handle_*` and drained with
//! [`UserAgent::poll_output`] / [`UserAgent::poll_timeout`]. It never resolves names: the
//! driver says where the peer is, and replies go where RFC 3261 §18.2.2 / RFC 3581 say.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sotto_proto::crypto::Random;

use crate::auth::DigestClient;
use crate::dialog::{Dialog, DialogId, build_cancel};
use crate::error::{Result, SipError};
use crate::headers::{Method, NameAddr, Via};
use crate::message::{Message, Request, Response, new_branch, random_hex};
use crate::transaction::{
    ClientTransaction, ServerTransaction, Timers, Transport, TxKey, TxOutput,
};
use crate::uri::{Host, SipUri, Uri};

/// Methods we implement, for `Allow` (§20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// How the user agent presents itself.
#[derive(Debug)]
pub struct UaConfig {
    /// Our address (Via sent-by and Contact).
    pub local_addr: SocketAddr,
    /// Our user part.
    pub user: String,
    /// Our display name.
    pub display_name: Option<String>,
    /// The transport (UDP by default). TCP and TLS are reliable: no retransmissions, zero
    /// linger timers.
    pub transport: Transport,
    /// Timer values.
    pub timers: Timers,
    /// `User-Agent` / `Server` value.
    pub user_agent: String,
    /// Digest credentials (user, password) for 401/407 challenges.
    pub credentials: Option<crate::auth::Credentials>,
    /// How long our INVITE may ring without a final answer before we CANCEL it (like Timer C
    /// of §16.6, for a UAC); 3 minutes by default.
    pub invite_timeout: Duration,
    /// Our address of record at a registrar: the From of our INVITEs when set (a proxy
    /// authenticates and routes by it), else `sip:user@local_addr`.
    pub aor: Option<Uri>,
}

impl UaConfig {
    /// A UDP user agent at `local_addr` with user part `user`.
    pub fn new(local_addr: SocketAddr, user: &str) -> Self {
        Self {
            local_addr,
            user: user.to_owned(),
            display_name: None,
            transport: Transport::Udp,
            timers: Timers::default(),
            user_agent: "sotto".to_owned(),
            credentials: None,
            invite_timeout: Duration::from_secs(180),
            aor: None,
        }
    }
}

/// Our handle for one call leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallHandle(pub u64);

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (BYE answered or timed out).
    LocalHangup,
    /// The peer sent BYE.
    RemoteHangup,
    /// The peer rejected our INVITE with this status.
    Rejected(u16),
    /// We rejected the peer's INVITE with this status (486, 603...).
    Declined(u16),
    /// The INVITE was cancelled (by us or by the peer).
    Cancelled,
    /// No answer (timer B), or no ACK for our 2xx (§13.3.1.4).
    Timeout,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaEvent {
    /// A new INVITE: answer with [`UserAgent::ringing`], [`UserAgent::answer`] or
    /// [`UserAgent::reject`].
    IncomingCall {
        /// The call.
        call: CallHandle,
        /// Who calls.
        from: NameAddr,
        /// The SDP offer (may be empty).
        offer: Vec<u8>,
    },
    /// The peer is ringing (180/183).
    Ringing {
        /// The call.
        call: CallHandle,
        /// 180, 183...
        status: u16,
        /// An SDP answer for early media (183 Session Progress), else empty.
        early_media: Vec<u8>,
    },
    /// The peer answered our INVITE (the ACK is sent).
    Answered {
        /// The call.
        call: CallHandle,
        /// The SDP answer.
        answer: Vec<u8>,
    },
    /// The peer's ACK for our 2xx (to an INVITE or re-INVITE) arrived.
    Confirmed {
        /// The call.
        call: CallHandle,
        /// The ACK's body: the SDP answer when the INVITE carried no offer (RFC 3264 §4).
        body: Vec<u8>,
    },
    /// The peer sent a re-INVITE (hold/resume): answer with [`UserAgent::answer`].
    Reinvite {
        /// The call.
        call: CallHandle,
        /// The new offer.
        offer: Vec<u8>,
    },
    /// Our re-INVITE was accepted.
    ReinviteAnswered {
        /// The call.
        call: CallHandle,
        /// The SDP answer.
        answer: Vec<u8>,
    },
    /// Our re-INVITE failed; the call keeps its previous session.
    ReinviteFailed {
        /// The call.
        call: CallHandle,
        /// The status.
        status: u16,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
    },
    /// A message was dropped (malformed, or matching nothing); a 400 went back when possible.
    Dropped {
        /// Why.
        reason: &'static str,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaOutput {
    /// Send `data` to `to`.
    Transmit {
        /// Destination.
        to: SocketAddr,
        /// The encoded message.
        data: Vec<u8>,
    },
    /// Tell the application.
    Event(UaEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uac,
    Uas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// UAC: INVITE sent. UAS: INVITE received, not answered.
    Setup,
    /// UAS: 2xx sent, waiting for ACK.
    AwaitAck,
    Established,
    /// BYE or CANCEL sent.
    Ending,
    Ended,
}

#[derive(Debug)]
struct OkRetransmit {
    resp: Response,
    next: Instant,
    interval: Duration,
    give_up: Instant,
    cseq: u32,
}

#[derive(Debug)]
struct Leg {
    handle: CallHandle,
    role: Role,
    state: LegState,
    peer: SocketAddr,
    invite: Request,
    dialog: Option<Dialog>,
    local_tag: String,
    got_provisional: bool,
    cancel_pending: bool,
    pending_server: Option<TxKey>,
    ok_retx: Option<OkRetransmit>,
    last_ack: Option<(u32, Request)>,
    reinvite_pending: bool,
    auth: Option<DigestClient>,
    auth_tries: u8,
    /// UAC: when to give up ringing and CANCEL.
    setup_deadline: Option<Instant>,
    /// UAC: CANCEL sent; if no final response to the INVITE by then, abandon it (§9.1).
    cancel_deadline: Option<Instant>,
    /// The call ended because nobody answered in time.
    no_answer: bool,
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTransaction,
    to: SocketAddr,
    leg: Option<CallHandle>,
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTransaction,
    to: SocketAddr,
}

/// The user agent core.
///
/// ```
/// use std::time::Instant;
/// use sotto_proto::crypto::Random;
/// use sotto_sip::ua::{UaConfig, UaOutput};
/// use sotto_sip::{Message, Method, UserAgent};
///
/// struct Counter(u8);
/// impl Random for Counter {
///     fn fill(&mut self, buf: &mut [u8]) {
///         for b in buf { self.0 = self.0.wrapping_add(1); *b = self.0; }
///     }
/// }
///
/// let now = Instant::now();
/// let mut ua = UserAgent::new(UaConfig::new("192.0.2.1:5060".parse()?, "alice"), Box::new(Counter(0)));
/// let peer = "192.0.2.2:5060".parse()?;
/// let call = ua.invite(now, "sip:bob@192.0.2.2".parse()?, peer, Vec::new());
/// let Some(UaOutput::Transmit { to, data }) = ua.poll_output() else { unreachable!() };
/// assert_eq!(to, peer);
/// let Message::Request(invite) = Message::parse(&data)? else { unreachable!() };
/// assert_eq!(invite.method, Method::Invite);
/// // Timer A: retransmit after T1 unless a response arrives.
/// assert_eq!(ua.poll_timeout(), Some(now + std::time::Duration::from_millis(500)));
/// # let _ = call;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UserAgent {
    cfg: UaConfig,
    rng: Box<dyn Random>,
    next_handle: u64,
    legs: Vec<Leg>,
    clients: Vec<ClientEntry>,
    servers: Vec<ServerEntry>,
    out: VecDeque<UaOutput>,
}

impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgent")
            .field("legs", &self.legs.len())
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl UserAgent {
    /// A user agent; `rng` provides tags, branches, Call-IDs and cnonces.
    pub fn new(cfg: UaConfig, rng: Box<dyn Random>) -> Self {
        Self {
            cfg,
            rng,
            next_handle: 1,
            legs: Vec::new(),
            clients: Vec::new(),
            servers: Vec::new(),
            out: VecDeque::new(),
        }
    }

    /// Our Contact.
    pub fn contact(&self) -> NameAddr {
        let mut u = SipUri::new(
            Some(&self.cfg.user),
            Host::from(self.cfg.local_addr.ip()),
            Some(self.cfg.local_addr.port()),
        );
        match self.cfg.transport {
            Transport::Udp => {}
            Transport::Tcp => u.params.set("transport", Some("tcp".into())),
            Transport::Tls => u.secure = true,
        }
        NameAddr::new(Uri::Sip(u))
    }

    fn new_via(&mut self) -> Via {
        let branch = new_branch(self.rng.as_mut());
        let transport = self.cfg.transport.via_name();
        Via::new(
            transport,
            Host::from(self.cfg.local_addr.ip()),
            Some(self.cfg.local_addr.port()),
            &branch,
        )
    }

    fn leg_mut(&mut self, h: CallHandle) -> Result<&mut Leg> {
        self.legs
            .iter_mut()
            .find(|l| l.handle == h)
            .ok_or(SipError::Misuse("no such call"))
    }

    fn leg_idx(&self, h: CallHandle) -> Option<usize> {
        self.legs.iter().position(|l| l.handle == h)
    }

    fn emit(&mut self, e: UaEvent) {
        self.out.push_back(UaOutput::Event(e));
    }

    fn transmit(&mut self, to: SocketAddr, m: &Message) {
        self.out.push_back(UaOutput::Transmit {
            to,
            data: m.to_bytes(),
        });
    }

    fn start_client(
        &mut self,
        now: Instant,
        req: Request,
        to: SocketAddr,
        leg: Option<CallHandle>,
    ) {
        let tx =
            ClientTransaction::new(now, req, self.cfg.transport.is_reliable(), self.cfg.timers);
        self.clients.push(ClientEntry { tx, to, leg });
    }

    /// Places a call to `target`, sending the INVITE to `peer`, with `offer` as SDP body.
    pub fn invite(
        &mut self,
        now: Instant,
        target: Uri,
        peer: SocketAddr,
        offer: Vec<u8>,
    ) -> CallHandle {
        let handle = CallHandle(self.next_handle);
        self.next_handle += 1;
        let local_tag = random_hex(self.rng.as_mut(), 6);
        let call_id = format!("{}@sotto", random_hex(self.rng.as_mut(), 12));
        let via = self.new_via();
        let mut from = NameAddr::new(self.cfg.aor.clone().unwrap_or_else(|| {
            Uri::Sip(SipUri::new(
                Some(&self.cfg.user),
                Host::from(self.cfg.local_addr.ip()),
                None,
            ))
        }));
        from.display = self.cfg.display_name.clone();
        from.set_tag(&local_tag);
        let mut req = Request::new(Method::Invite, target.clone());
        req.headers.push("Via", via.to_string());
        req.headers.push("Max-Forwards", "70");
        req.headers.push("From", from.to_string());
        req.headers.push("To", NameAddr::new(target).to_string());
        req.headers.push("Call-ID", call_id);
        req.headers.push("CSeq", "1 INVITE");
        req.headers.push("Contact", self.contact().to_string());
        req.headers.push("Allow", ALLOW);
        req.headers.push("User-Agent", self.cfg.user_agent.clone());
        if !offer.is_empty() {
            req.headers.push("Content-Type", "application/sdp");
        }
        req.body = offer;
        let auth = self
            .cfg
            .credentials
            .as_ref()
            .map(DigestClient::from_credentials);
        self.legs.push(Leg {
            handle,
            role: Role::Uac,
            state: LegState::Setup,
            peer,
            invite: req.clone(),
            dialog: None,
            local_tag,
            got_provisional: false,
            cancel_pending: false,
            pending_server: None,
            ok_retx: None,
            last_ack: None,
            reinvite_pending: false,
            auth,
            auth_tries: 0,
            setup_deadline: Some(now + self.cfg.invite_timeout),
            cancel_deadline: None,
            no_answer: false,
        });
        self.start_client(now, req, peer, Some(handle));
        self.pump(now);
        handle
    }

    fn respond(&mut self, now: Instant, key: &TxKey, resp: Response) -> Result<()> {
        let entry = self
            .servers
            .iter_mut()
            .find(|s| s.tx.key() == key)
            .ok_or(SipError::Misuse("transaction is gone"))?;
        entry.tx.send_response(now, resp)?;
        self.pump(now);
        Ok(())
    }

    fn uas_response(&self, leg: &Leg, status: u16, reason: &str) -> Response {
        let req = match leg
            .pending_server
            .as_ref()
            .and_then(|k| self.servers.iter().find(|s| s.tx.key() == k))
        {
            Some(s) => s.tx.request().clone(),
            None => leg.invite.clone(),
        };
        let mut r = req.reply(status, reason, Some(&leg.local_tag));
        if status > 100 && status < 300 {
            r.headers.push("Contact", self.contact().to_string());
        }
        r.headers.push("Server", self.cfg.user_agent.clone());
        r
    }

    /// Sends 180 Ringing for an incoming call.
    pub fn ringing(&mut self, now: Instant, call: CallHandle) -> Result<()> {
        let leg = self
            .legs
            .iter()
            .find(|l| l.handle == call)
            .ok_or(SipError::Misuse("no such call"))?;
        let key = leg
            .pending_server
            .clone()
            .ok_or(SipError::Misuse("nothing to ring for"))?;
        let resp = self.uas_response(leg, 180, "Ringing");
        self.respond(now, &key, resp)
    }

    /// Answers an incoming INVITE or re-INVITE with 200 and `answer` as SDP.
    pub fn answer(&mut self, now: Instant, call: CallHandle, answer: Vec<u8>) -> Result<()> {
        let idx = self.leg_idx(call).ok_or(SipError::Misuse("no such call"))?;
        let leg = self.legs.get(idx).ok_or(SipError::Misuse("no such call"))?;
        let key = leg
            .pending_server
            .clone()
            .ok_or(SipError::Misuse("no INVITE to answer"))?;
        let mut resp = self.uas_response(leg, 200, "OK");
        resp.headers.push("Allow", ALLOW);
        if !answer.is_empty() {
            resp.headers.push("Content-Type", "application/sdp");
        }
        resp.body = answer;
        let contact = self.contact();
        let t1 = self.cfg.timers.t1;
        let cseq = resp.headers.cseq()?.seq;
        let leg = self
            .legs
            .get_mut(idx)
            .ok_or(SipError::Misuse("no such call"))?;
        if leg.dialog.is_none() {
            leg.dialog = Some(Dialog::uas(&leg.invite, &leg.local_tag, contact)?);
        }
        if let Some(d) = leg.dialog.as_mut() {
            d.state = crate::dialog::DialogState::Confirmed;
        }
        leg.pending_server = None;
        if leg.state == LegState::Setup {
            leg.state = LegState::AwaitAck;
        }
        leg.ok_retx = Some(OkRetransmit {
            resp: resp.clone(),
            next: now + t1,
            interval: t1,
            give_up: now + 64 * t1,
            cseq,
        });
        self.respond(now, &key, resp)
    }

    /// Rejects an incoming INVITE (486 Busy Here, 603 Decline, 488...).
    pub fn reject(&mut self, now: Instant, call: CallHandle, status: u16) -> Result<()> {
        if !(300..=699).contains(&status) {
            return Err(SipError::Misuse("reject needs a 3xx-6xx status"));
        }
        let leg = self
            .legs
            .iter()
            .find(|l| l.handle == call)
            .ok_or(SipError::Misuse("no such call"))?;
        let key = leg
            .pending_server
            .clone()
            .ok_or(SipError::Misuse("no INVITE to reject"))?;
        let reason = reason_phrase(status);
        let resp = self.uas_response(leg, status, reason);
        let initial = leg.state == LegState::Setup;
        self.respond(now, &key, resp)?;
        let leg = self.leg_mut(call)?;
        leg.pending_server = None;
        if initial {
            leg.state = LegState::Ended;
            self.emit(UaEvent::Ended {
                call,
                reason: EndReason::Declined(status),
            });
        }
        Ok(())
    }

    /// Sends a re-INVITE with a new offer (hold: `a=sendonly`; resume: `a=sendrecv`).
    pub fn reinvite(&mut self, now: Instant, call: CallHandle, offer: Vec<u8>) -> Result<()> {
        let via = self.new_via();
        let leg = self.leg_mut(call)?;
        if leg.state != LegState::Established || leg.reinvite_pending {
            return Err(SipError::Misuse(
                "re-INVITE needs an established call with no offer pending",
            ));
        }
        let dialog = leg.dialog.as_mut().ok_or(SipError::Misuse("no dialog"))?;
        let mut req = dialog.new_request(Method::Invite, &via);
        req.headers.push("Content-Type", "application/sdp");
        req.body = offer;
        leg.reinvite_pending = true;
        leg.invite = req.clone();
        let to = target_addr(&dialog.remote_target, leg.peer);
        self.start_client(now, req, to, Some(call));
        self.pump(now);
        Ok(())
    }

    /// Hangs up: CANCEL before an answer (§9.1), BYE after (§15), decline if unanswered.
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<()> {
        let idx = self.leg_idx(call).ok_or(SipError::Misuse("no such call"))?;
        let (role, state) = self
            .legs
            .get(idx)
            .map(|l| (l.role, l.state))
            .ok_or(SipError::Misuse("no such call"))?;
        match (role, state) {
            (_, LegState::Ended | LegState::Ending) => Ok(()),
            (Role::Uas, LegState::Setup) => self.reject(now, call, 603),
            (Role::Uac, LegState::Setup) => {
                let leg = self
                    .legs
                    .get_mut(idx)
                    .ok_or(SipError::Misuse("no such call"))?;
                leg.state = LegState::Ending;
                leg.setup_deadline = None;
                if leg.got_provisional {
                    self.send_cancel(now, idx);
                } else {
                    // §9.1: no CANCEL before a provisional response; send it when one comes.
                    leg.cancel_pending = true;
                }
                self.pump(now);
                Ok(())
            }
            (_, LegState::AwaitAck | LegState::Established) => {
                self.send_bye(now, idx);
                self.pump(now);
                Ok(())
            }
        }
    }

    fn send_cancel(&mut self, now: Instant, idx: usize) {
        let t1 = self.cfg.timers.t1;
        let Some(leg) = self.legs.get_mut(idx) else {
            return;
        };
        let Ok(cancel) = build_cancel(&leg.invite) else {
            return;
        };
        leg.cancel_deadline = Some(now + 64 * t1);
        let (peer, h) = (leg.peer, leg.handle);
        self.start_client(now, cancel, peer, Some(h));
    }

    fn send_bye(&mut self, now: Instant, idx: usize) {
        let via = self.new_via();
        let Some(leg) = self.legs.get_mut(idx) else {
            return;
        };
        leg.state = LegState::Ending;
        leg.ok_retx = None;
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let bye = dialog.new_request(Method::Bye, &via);
        let to = target_addr(&dialog.remote_target, leg.peer);
        let h = leg.handle;
        self.start_client(now, bye, to, Some(h));
    }

    /// A datagram (or one message from a stream) arrived from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        // Keep-alives (RFC 5626 CRLF) are not messages.
        if data
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            return;
        }
        match Message::parse(data) {
            Ok(m) => self.handle_message(now, source, m),
            Err(e) => {
                if let Some(reply) = e.reply() {
                    let to = reply
                        .headers
                        .top_via()
                        .map(|v| v.response_target(source))
                        .unwrap_or(source);
                    self.transmit(to, &Message::Response(reply));
                }
                self.emit(UaEvent::Dropped {
                    reason: "malformed message",
                });
            }
        }
    }

    /// A parsed message arrived from `source`.
    pub fn handle_message(&mut self, now: Instant, source: SocketAddr, msg: Message) {
        match msg {
            Message::Request(r) => self.handle_request(now, source, r),
            Message::Response(r) => self.handle_response(now, r),
        }
        self.pump(now);
    }

    fn handle_response(&mut self, now: Instant, resp: Response) {
        if let Some(c) = self.clients.iter_mut().find(|c| c.tx.matches(&resp)) {
            c.tx.handle_response(now, resp);
            return;
        }
        // A retransmitted 2xx to INVITE after its transaction ended: ACK again (§13.2.2.4).
        let is_invite_2xx = resp.is_success()
            && resp
                .headers
                .cseq()
                .is_ok_and(|c| c.method == Method::Invite);
        if is_invite_2xx
            && let (Some(id), Ok(cseq)) = (Dialog::id_of_response(&resp), resp.headers.cseq())
        {
            let found = self
                .legs
                .iter()
                .find(|l| l.dialog.as_ref().is_some_and(|d| d.id == id));
            if let Some((ack, peer)) = found.and_then(|l| {
                let (seq, ack) = l.last_ack.as_ref()?;
                let d = l.dialog.as_ref()?;
                (*seq == cseq.seq).then(|| (ack.clone(), target_addr(&d.remote_target, l.peer)))
            }) {
                self.transmit(peer, &Message::Request(ack));
                return;
            }
        }
        self.emit(UaEvent::Dropped {
            reason: "response matches no transaction",
        });
    }

    fn handle_request(&mut self, now: Instant, source: SocketAddr, mut req: Request) {
        // §18.2.1 + RFC 3581: note where the request really came from.
        let Ok(mut top) = req.headers.top_via() else {
            return;
        };
        top.stamp_received(source);
        req.headers.set_top_via(&top);
        let reply_to = if self.cfg.transport.is_reliable() {
            source
        } else {
            top.response_target(source)
        };
        let Ok(key) = TxKey::of_request(&req) else {
            self.emit(UaEvent::Dropped {
                reason: "request without branch",
            });
            return;
        };
        if req.method == Method::Ack {
            if let Some(s) = self.servers.iter_mut().find(|s| s.tx.key() == &key) {
                s.tx.handle_request(now, &req);
                return;
            }
            self.handle_2xx_ack(&req);
            return;
        }
        if let Some(s) = self.servers.iter_mut().find(|s| s.tx.key() == &key) {
            s.tx.handle_request(now, &req);
            return;
        }
        if self.servers.len() >= MAX_SERVER_TRANSACTIONS {
            // Overload: answer statelessly instead of keeping more state (§21.5.4).
            let mut r = req.reply(
                503,
                "Service Unavailable",
                Some(&random_hex(self.rng.as_mut(), 6)),
            );
            r.headers.push("Retry-After", "5");
            self.transmit(reply_to, &Message::Response(r));
            self.emit(UaEvent::Dropped {
                reason: "too many transactions",
            });
            return;
        }
        let tx = match ServerTransaction::new(
            now,
            req.clone(),
            self.cfg.transport.is_reliable(),
            self.cfg.timers,
        ) {
            Ok(tx) => tx,
            Err(_) => return,
        };
        self.servers.push(ServerEntry { tx, to: reply_to });
        if let Some((status, extra)) = precheck(&req) {
            let mut r = req.reply(
                status,
                reason_phrase(status),
                Some(&random_hex(self.rng.as_mut(), 6)),
            );
            if let Some((name, value)) = extra {
                r.headers.push(name, value);
            }
            let _ = self.respond(now, &key, r);
            return;
        }
        match req.method {
            Method::Invite => self.on_invite(now, source, &key, req),
            Method::Bye => self.on_bye(now, &key, &req),
            Method::Cancel => self.on_cancel(now, &key, &req),
            Method::Options => {
                let mut r = req.reply(200, "OK", Some(&random_hex(self.rng.as_mut(), 6)));
                r.headers.push("Allow", ALLOW);
                r.headers.push("Accept", "application/sdp");
                r.headers.push("Supported", "");
                r.headers.push("Server", self.cfg.user_agent.clone());
                let _ = self.respond(now, &key, r);
            }
            Method::Register
            | Method::Subscribe
            | Method::Message
            | Method::Refer
            | Method::Notify
            | Method::Info
            | Method::Update
            | Method::Prack => {
                let mut r = req.reply(
                    405,
                    "Method Not Allowed",
                    Some(&random_hex(self.rng.as_mut(), 6)),
                );
                r.headers.push("Allow", ALLOW);
                let _ = self.respond(now, &key, r);
            }
            _ => {
                let mut r = req.reply(
                    501,
                    "Not Implemented",
                    Some(&random_hex(self.rng.as_mut(), 6)),
                );
                r.headers.push("Allow", ALLOW);
                let _ = self.respond(now, &key, r);
            }
        }
    }

    fn find_dialog_leg(&self, req: &Request) -> Option<usize> {
        let id: DialogId = Dialog::id_of_incoming(req)?;
        self.legs.iter().position(|l| {
            l.state != LegState::Ended && l.dialog.as_ref().is_some_and(|d| d.id == id)
        })
    }

    fn on_invite(&mut self, now: Instant, source: SocketAddr, key: &TxKey, req: Request) {
        let has_to_tag = req.headers.to().is_ok_and(|t| t.tag().is_some());
        if has_to_tag {
            let Some(idx) = self.find_dialog_leg(&req) else {
                let r = req.reply(481, "Call/Transaction Does Not Exist", None);
                let _ = self.respond(now, key, r);
                return;
            };
            let Some(leg) = self.legs.get_mut(idx) else {
                return;
            };
            if leg.reinvite_pending || leg.pending_server.is_some() {
                // §14.2: glare.
                let r = req.reply(491, "Request Pending", None);
                let _ = self.respond(now, key, r);
                return;
            }
            let checked = leg.dialog.as_mut().map(|d| d.handle_request(&req));
            if let Some(Err(_)) = checked {
                let r = req.reply(500, "Server Internal Error", None);
                let _ = self.respond(now, key, r);
                return;
            }
            leg.pending_server = Some(key.clone());
            leg.invite = req.clone();
            let call = leg.handle;
            self.emit(UaEvent::Reinvite {
                call,
                offer: req.body,
            });
            return;
        }
        let handle = CallHandle(self.next_handle);
        self.next_handle += 1;
        let from = match req.headers.from() {
            Ok(f) => f,
            Err(_) => return,
        };
        let local_tag = random_hex(self.rng.as_mut(), 6);
        self.legs.push(Leg {
            handle,
            role: Role::Uas,
            state: LegState::Setup,
            peer: source,
            invite: req.clone(),
            dialog: None,
            local_tag,
            got_provisional: false,
            cancel_pending: false,
            pending_server: Some(key.clone()),
            ok_retx: None,
            last_ack: None,
            reinvite_pending: false,
            auth: None,
            auth_tries: 0,
            setup_deadline: None,
            cancel_deadline: None,
            no_answer: false,
        });
        self.emit(UaEvent::IncomingCall {
            call: handle,
            from,
            offer: req.body,
        });
    }

    fn on_bye(&mut self, now: Instant, key: &TxKey, req: &Request) {
        let Some(idx) = self.find_dialog_leg(req) else {
            let r = req.reply(481, "Call/Transaction Does Not Exist", None);
            let _ = self.respond(now, key, r);
            return;
        };
        let in_order = self
            .legs
            .get_mut(idx)
            .and_then(|l| l.dialog.as_mut())
            .is_none_or(|d| d.handle_request(req).is_ok());
        if !in_order {
            // §12.2.2: a lower CSeq than the last one is out of order.
            let r = req.reply(500, "Server Internal Error", None);
            let _ = self.respond(now, key, r);
            return;
        }
        let r = req.reply(200, "OK", None);
        let _ = self.respond(now, key, r);
        if let Some(leg) = self.legs.get_mut(idx) {
            leg.state = LegState::Ended;
            leg.ok_retx = None;
            let call = leg.handle;
            self.emit(UaEvent::Ended {
                call,
                reason: EndReason::RemoteHangup,
            });
        }
    }

    fn on_cancel(&mut self, now: Instant, key: &TxKey, req: &Request) {
        let invite_key = TxKey {
            branch: key.branch.clone(),
            method: Method::Invite,
            sent_by: key.sent_by.clone(),
        };
        let pending = self
            .servers
            .iter()
            .any(|s| s.tx.key() == &invite_key && !s.tx.has_final_response());
        let leg_idx = self
            .legs
            .iter()
            .position(|l| l.pending_server.as_ref() == Some(&invite_key));
        match (pending, leg_idx) {
            (true, Some(idx)) => {
                let r = req.reply(200, "OK", None);
                let _ = self.respond(now, key, r);
                let Some(leg) = self.legs.get(idx) else {
                    return;
                };
                let resp = self.uas_response(leg, 487, "Request Terminated");
                let call = leg.handle;
                let initial = leg.state == LegState::Setup;
                let _ = self.respond(now, &invite_key, resp);
                if let Some(leg) = self.legs.get_mut(idx) {
                    leg.pending_server = None;
                    if initial {
                        leg.state = LegState::Ended;
                        self.emit(UaEvent::Ended {
                            call,
                            reason: EndReason::Cancelled,
                        });
                    }
                }
            }
            _ => {
                let r = req.reply(481, "Call/Transaction Does Not Exist", None);
                let _ = self.respond(now, key, r);
            }
        }
    }

    fn handle_2xx_ack(&mut self, req: &Request) {
        let Some(idx) = self.find_dialog_leg(req) else {
            self.emit(UaEvent::Dropped {
                reason: "ACK matches no dialog",
            });
            return;
        };
        let Ok(cseq) = req.headers.cseq() else { return };
        let Some(leg) = self.legs.get_mut(idx) else {
            return;
        };
        if leg.ok_retx.as_ref().is_some_and(|o| o.cseq == cseq.seq) {
            leg.ok_retx = None;
            if leg.state == LegState::AwaitAck {
                leg.state = LegState::Established;
            }
            let call = leg.handle;
            self.emit(UaEvent::Confirmed {
                call,
                body: req.body.clone(),
            });
        }
    }

    /// Drives timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for c in &mut self.clients {
            if c.tx.poll_timeout().is_some_and(|t| now >= t) {
                c.tx.handle_timeout(now);
            }
        }
        for s in &mut self.servers {
            if s.tx.poll_timeout().is_some_and(|t| now >= t) {
                s.tx.handle_timeout(now);
            }
        }
        // UAC: ringing too long → CANCEL; CANCEL unanswered by a final response → abandon.
        let mut to_cancel = Vec::new();
        let mut abandon = Vec::new();
        for (i, leg) in self.legs.iter_mut().enumerate() {
            if leg.setup_deadline.is_some_and(|t| now >= t) && leg.state == LegState::Setup {
                leg.setup_deadline = None;
                leg.no_answer = true;
                leg.state = LegState::Ending;
                if leg.got_provisional {
                    to_cancel.push(i);
                } else {
                    leg.cancel_pending = true;
                }
            }
            if leg.cancel_deadline.is_some_and(|t| now >= t) {
                leg.cancel_deadline = None;
                if leg.state != LegState::Ended {
                    abandon.push(leg.handle);
                }
            }
        }
        for i in to_cancel {
            self.send_cancel(now, i);
        }
        for h in abandon {
            for c in self
                .clients
                .iter_mut()
                .filter(|c| c.leg == Some(h) && c.tx.request().method == Method::Invite)
            {
                c.tx.abandon();
            }
            if let Some(l) = self.legs.iter_mut().find(|l| l.handle == h) {
                l.state = LegState::Ended;
            }
            self.emit(UaEvent::Ended {
                call: h,
                reason: EndReason::Timeout,
            });
        }
        let t2 = self.cfg.timers.t2;
        let mut resend = Vec::new();
        let mut give_up = Vec::new();
        for (i, leg) in self.legs.iter_mut().enumerate() {
            let to = leg.peer;
            let Some(o) = leg.ok_retx.as_mut() else {
                continue;
            };
            if now >= o.give_up {
                give_up.push(i);
            } else if now >= o.next {
                // §13.3.1.4: retransmit the 2xx at T1, 2T1, ... capped at T2.
                o.interval = (o.interval * 2).min(t2);
                o.next = now + o.interval;
                resend.push((to, o.resp.clone()));
            }
        }
        for (to, r) in resend {
            let to = r
                .headers
                .top_via()
                .map(|v| v.response_target(to))
                .unwrap_or(to);
            self.transmit(to, &Message::Response(r));
        }
        for i in give_up {
            let call = self.legs.get(i).map(|l| l.handle);
            self.send_bye(now, i);
            if let Some(call) = call {
                if let Some(l) = self.legs.get_mut(i) {
                    l.state = LegState::Ended;
                }
                self.emit(UaEvent::Ended {
                    call,
                    reason: EndReason::Timeout,
                });
            }
        }
        self.pump(now);
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<UaOutput> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = self.clients.iter().filter_map(|c| c.tx.poll_timeout());
        let s = self.servers.iter().filter_map(|s| s.tx.poll_timeout());
        let o = self
            .legs
            .iter()
            .filter_map(|l| l.ok_retx.as_ref().map(|o| o.next.min(o.give_up)));
        let d = self.legs.iter().flat_map(|l| {
            let setup = l.setup_deadline.filter(|_| l.state == LegState::Setup);
            let cancel = l.cancel_deadline.filter(|_| l.state != LegState::Ended);
            [setup, cancel].into_iter().flatten()
        });
        c.chain(s).chain(o).chain(d).min()
    }

    /// The INVITE of a call: ours for outgoing calls (the latest, after authentication or a
    /// re-INVITE), the peer's for incoming ones.
    pub fn invite_request(&self, call: CallHandle) -> Option<&Request> {
        self.legs
            .iter()
            .find(|l| l.handle == call)
            .map(|l| &l.invite)
    }

    /// The dialog of a call, once it has one (Call-ID, tags, route set, remote target).
    pub fn dialog(&self, call: CallHandle) -> Option<&Dialog> {
        self.legs
            .iter()
            .find(|l| l.handle == call)
            .and_then(|l| l.dialog.as_ref())
    }

    /// Number of live transactions (diagnostics and tests).
    pub fn transaction_count(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// Moves transaction outputs into our outputs and reacts to client responses.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut work = Vec::new();
            for c in &mut self.clients {
                while let Some(o) = c.tx.poll_output() {
                    work.push((Some((c.to, c.leg, c.tx.request().clone())), o));
                }
            }
            for s in &mut self.servers {
                while let Some(o) = s.tx.poll_output() {
                    if let TxOutput::Transmit(m) = o {
                        let data = m.to_bytes();
                        self.out.push_back(UaOutput::Transmit { to: s.to, data });
                    }
                }
            }
            self.servers.retain(|s| !s.tx.is_terminated());
            if work.is_empty() {
                break;
            }
            for (ctx, o) in work {
                let Some((to, leg, request)) = ctx else {
                    continue;
                };
                match o {
                    TxOutput::Transmit(m) => self.transmit(to, &m),
                    TxOutput::Response(r) => {
                        if let Some(h) = leg {
                            self.on_client_response(now, h, &request, r);
                        }
                    }
                    TxOutput::TimedOut => {
                        if let Some(h) = leg {
                            self.on_client_timeout(h, &request);
                        }
                    }
                    TxOutput::Terminated => {}
                }
            }
            self.clients
                .retain(|c| !c.tx.is_terminated() || c.tx.poll_timeout().is_some());
        }
        // Forget finished legs once nothing refers to them.
        let clients = &self.clients;
        self.legs.retain(|l| {
            l.state != LegState::Ended || clients.iter().any(|c| c.leg == Some(l.handle))
        });
    }

    fn on_client_timeout(&mut self, h: CallHandle, request: &Request) {
        let Some(leg) = self.legs.iter_mut().find(|l| l.handle == h) else {
            return;
        };
        match request.method {
            Method::Invite
                if leg.state == LegState::Setup
                    || leg.state == LegState::Ending && leg.dialog.is_none() =>
            {
                leg.state = LegState::Ended;
                self.emit(UaEvent::Ended {
                    call: h,
                    reason: EndReason::Timeout,
                });
            }
            Method::Invite => {
                leg.reinvite_pending = false;
                self.emit(UaEvent::ReinviteFailed {
                    call: h,
                    status: 408,
                });
            }
            Method::Bye if leg.state != LegState::Ended => {
                leg.state = LegState::Ended;
                self.emit(UaEvent::Ended {
                    call: h,
                    reason: EndReason::LocalHangup,
                });
            }
            _ => {}
        }
    }

    fn on_client_response(
        &mut self,
        now: Instant,
        h: CallHandle,
        request: &Request,
        resp: Response,
    ) {
        let Some(idx) = self.leg_idx(h) else { return };
        match request.method {
            Method::Invite => self.on_invite_response(now, idx, request, resp),
            Method::Bye if resp.status >= 200 => {
                if let Some(leg) = self.legs.get_mut(idx)
                    && leg.state != LegState::Ended
                {
                    leg.state = LegState::Ended;
                    self.emit(UaEvent::Ended {
                        call: h,
                        reason: EndReason::LocalHangup,
                    });
                }
            }
            _ => {}
        }
    }

    fn on_invite_response(&mut self, now: Instant, idx: usize, request: &Request, resp: Response) {
        let via = self.new_via();
        let Some(leg) = self.legs.get_mut(idx) else {
            return;
        };
        let h = leg.handle;
        let reinvite = leg.reinvite_pending;
        if resp.is_provisional() {
            if resp.status > 100 && !reinvite {
                if leg.dialog.is_none() && resp.headers.to().is_ok_and(|t| t.tag().is_some()) {
                    leg.dialog = Dialog::uac(request, &resp).ok();
                }
                leg.got_provisional = true;
                if leg.cancel_pending {
                    leg.cancel_pending = false;
                    self.send_cancel(now, idx);
                    return;
                }
                if leg.state == LegState::Setup {
                    self.emit(UaEvent::Ringing {
                        call: h,
                        status: resp.status,
                        early_media: resp.body,
                    });
                }
            } else if resp.status == 100 {
                leg.got_provisional = true;
                if leg.cancel_pending {
                    leg.cancel_pending = false;
                    self.send_cancel(now, idx);
                }
            }
            return;
        }
        if resp.is_success() {
            let Ok(cseq) = resp.headers.cseq() else {
                return;
            };
            match leg.dialog.as_mut() {
                Some(d)
                    if d.id.remote_tag
                        == resp
                            .headers
                            .to()
                            .ok()
                            .and_then(|t| t.tag().map(str::to_owned))
                            .unwrap_or_default() =>
                {
                    let _ = d.handle_response(&resp, true);
                }
                _ => match Dialog::uac(request, &resp) {
                    Ok(d) => leg.dialog = Some(d),
                    Err(_) => return,
                },
            }
            let Some(d) = leg.dialog.as_ref() else { return };
            let ack = d.ack(cseq.seq, &via);
            let to = target_addr(&d.remote_target, leg.peer);
            leg.last_ack = Some((cseq.seq, ack.clone()));
            self.transmit(to, &Message::Request(ack));
            let Some(leg) = self.legs.get_mut(idx) else {
                return;
            };
            if leg.state == LegState::Ending {
                // Answered after we gave up (CANCEL raced the 2xx): hang up (§9.1).
                self.send_bye(now, idx);
                return;
            }
            if reinvite {
                leg.reinvite_pending = false;
                self.emit(UaEvent::ReinviteAnswered {
                    call: h,
                    answer: resp.body,
                });
            } else {
                leg.state = LegState::Established;
                self.emit(UaEvent::Answered {
                    call: h,
                    answer: resp.body,
                });
            }
            return;
        }
        // 3xx-6xx (the transaction already sent the ACK).
        if (resp.status == 401 || resp.status == 407)
            && leg.auth.is_some()
            && leg.auth_tries < 2
            && leg.state == LegState::Setup
        {
            leg.auth_tries += 1;
            let invite = leg.invite.clone();
            let retried = match leg.auth.as_mut() {
                Some(a) => a.retry(&invite, &resp, self.rng.as_mut()),
                None => return,
            };
            if let Ok(req) = retried {
                let Some(leg) = self.legs.get_mut(idx) else {
                    return;
                };
                leg.invite = req.clone();
                let peer = leg.peer;
                self.start_client(now, req, peer, Some(h));
                return;
            }
        }
        let Some(leg) = self.legs.get_mut(idx) else {
            return;
        };
        if reinvite {
            leg.reinvite_pending = false;
            self.emit(UaEvent::ReinviteFailed {
                call: h,
                status: resp.status,
            });
        } else {
            leg.state = LegState::Ended;
            let reason = if leg.no_answer {
                EndReason::Timeout
            } else if resp.status == 487 {
                EndReason::Cancelled
            } else {
                EndReason::Rejected(resp.status)
            };
            self.emit(UaEvent::Ended { call: h, reason });
        }
    }
}

/// Most server transactions kept at once; beyond it new requests get a stateless 503.
pub const MAX_SERVER_TRANSACTIONS: usize = 1024;

/// §8.2.1–§8.2.3 checks before a request reaches its method: URI scheme (416), Require (420),
/// body type (415), Accept (406). Returns the status and an extra header for the reply.
fn precheck(req: &Request) -> Option<(u16, Option<(&'static str, String)>)> {
    if req.uri.sip().is_none() {
        return Some((416, None));
    }
    if req.method != Method::Cancel {
        let required: Vec<&str> = req.headers.get_list("Require").collect();
        if !required.is_empty() {
            return Some((420, Some(("Unsupported", required.join(", ")))));
        }
    }
    if req.method == Method::Invite {
        let ct = req.headers.content_type().ok().flatten();
        if !req.body.is_empty() && !ct.as_ref().is_some_and(crate::headers::ContentType::is_sdp) {
            return Some((415, Some(("Accept", "application/sdp".to_owned()))));
        }
        let accepts: Vec<&str> = req.headers.get_list("Accept").collect();
        let sdp_ok = accepts.is_empty()
            || accepts.iter().any(|a| {
                let t = a
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                t == "application/sdp" || t == "application/*" || t == "*/*"
            });
        if !sdp_ok {
            return Some((406, None));
        }
    }
    None
}

/// Where to send in-dialog requests: the remote target if it names an IP and port, else the
/// address the call was set up with (sotto does no DNS in the sans-IO core).
fn target_addr(uri: &Uri, fallback: SocketAddr) -> SocketAddr {
    match uri.sip() {
        Some(s) => match s.host.ip() {
            Some(ip) => SocketAddr::new(ip, s.port.unwrap_or(5060)),
            None => fallback,
        },
        None => fallback,
    }
}

/// The standard reason phrase for the statuses sotto sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Unknown",
    }
}
