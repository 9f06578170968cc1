//! SIP transactions (RFC 3261 §17), sans-IO: timers A–K run from the `now` given to each call.
//!
//! Four machines, one driving contract:
//!
//! * [`ClientTransaction`] — INVITE client (§17.1.1: timers A, B, D) and non-INVITE client
//!   (§17.1.2: timers E, F, K). It retransmits over unreliable transports, absorbs
//!   retransmitted final responses and builds the ACK for a non-2xx final response itself.
//! * [`ServerTransaction`] — INVITE server (§17.2.1: timers G, H, I) and non-INVITE server
//!   (§17.2.2: timer J). It answers retransmitted requests with the last response and absorbs
//!   the ACK of a non-2xx final response.
//!
//! Feed inputs with `handle_*`, then drain [`poll_output`](ClientTransaction::poll_output) and
//! call `handle_timeout` when [`poll_timeout`](ClientTransaction::poll_timeout) comes. Over a
//! reliable transport (TCP, TLS) retransmission timers are off and the lingering timers
//! D, I, J, K are zero (§17.1.1.2, §17.2.1).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sotto_sip::transaction::{ClientTransaction, Timers, TxOutput};
//! use sotto_sip::{Message, Request};
//!
//! let invite = Request::parse(b"INVITE sip:bob@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nFrom: <sip:a@example>;tag=1\r\n\
//!     To: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\r\n")?;
//! let t0 = Instant::now();
//! let mut tx = ClientTransaction::new(t0, invite, false, Timers::default());
//! assert!(matches!(tx.poll_output(), Some(TxOutput::Transmit(Message::Request(_)))));
//! assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(500))); // timer A
//! # Ok::<(), sotto_sip::SipError>(())
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Result, SipError};
use crate::headers::Method;
use crate::message::{Message, Request, Response};

/// The timer base values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// The transport a SIP message travels on (§18). TLS is framed like TCP; the driver owns the
/// TLS session, this crate only names it in Via and Contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// UDP: retransmission timers run; Content-Length is optional.
    #[default]
    Udp,
    /// TCP: reliable, framed by Content-Length.
    Tcp,
    /// TLS over TCP (`sips:`), reliable.
    Tls,
}

impl Transport {
    /// Whether the transport is reliable (no retransmissions, zero linger timers).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The Via transport token.
    pub fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// What a transaction asks of its driver (or tells its transaction user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutput {
    /// Send this message to the transaction's peer.
    Transmit(Message),
    /// A response for the transaction user (client transactions only; retransmissions are
    /// absorbed).
    Response(Response),
    /// Timer B, F or H fired: the peer never answered (or never ACKed).
    TimedOut,
    /// The transaction is over and can be dropped.
    Terminated,
}

/// The key a message is matched to its transaction on (§17.1.3, §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxKey {
    /// Top Via branch.
    pub branch: String,
    /// The method; ACK is keyed as INVITE so it finds the INVITE server transaction.
    pub method: Method,
    /// Top Via sent-by (`host:port`), so equal branches from different senders differ.
    pub sent_by: String,
}

impl TxKey {
    /// The key of a request (server side). Requests without a branch (RFC 2543 peers) are
    /// keyed on Call-ID, From tag, CSeq number and sent-by instead (a simplification of
    /// §17.2.3's backwards-compatible rule).
    pub fn of_request(r: &Request) -> Result<Self> {
        let via = r.headers.top_via()?;
        let method = if r.method == Method::Ack {
            Method::Invite
        } else {
            r.method.clone()
        };
        let branch = match via.branch() {
            Some(b) => b.to_owned(),
            None => {
                let from = r.headers.from()?;
                format!(
                    "rfc2543|{}|{}|{}|{}:{}",
                    r.headers.call_id()?,
                    from.tag().unwrap_or(""),
                    r.headers.cseq()?.seq,
                    via.host,
                    via.port.unwrap_or(5060)
                )
            }
        };
        let sent_by = format!("{}:{}", via.host, via.port.unwrap_or(0));
        Ok(Self {
            branch,
            method,
            sent_by,
        })
    }

    /// The key of a response (client side): top Via branch and CSeq method.
    pub fn of_response(r: &Response) -> Result<Self> {
        let via = r.headers.top_via()?;
        let branch = via
            .branch()
            .ok_or_else(|| SipError::malformed("Via without branch"))?
            .to_owned();
        Ok(Self {
            branch,
            method: r.headers.cseq()?.method,
            sent_by: format!("{}:{}", via.host, via.port.unwrap_or(0)),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// INVITE: Calling; non-INVITE: Trying.
    Initial,
    Proceeding,
    Completed,
    Terminated,
}

/// The three timers every transaction runs: retransmit (A / E / G), timeout (B / F / H) and
/// linger (D / K / I / J), each unarmed when `None`.
#[derive(Debug, Default)]
struct TxClock {
    retransmit_at: Option<Instant>,
    timeout_at: Option<Instant>,
    linger_at: Option<Instant>,
}

/// Which of a [`TxClock`]'s timers came due first, in the order they are acted on.
enum Due {
    Timeout,
    Linger,
    Retransmit(Instant),
}

impl TxClock {
    /// The earliest armed timer.
    fn next(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.linger_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The timer due at `now`: timeout wins over linger, which wins over retransmit.
    fn due(&self, now: Instant) -> Option<Due> {
        if self.timeout_at.is_some_and(|t| now >= t) {
            Some(Due::Timeout)
        } else if self.linger_at.is_some_and(|t| now >= t) {
            Some(Due::Linger)
        } else {
            self.retransmit_at
                .filter(|t| now >= *t)
                .map(Due::Retransmit)
        }
    }

    /// Disarms every timer.
    fn stop(&mut self) {
        self.retransmit_at = None;
        self.timeout_at = None;
        self.linger_at = None;
    }
}

/// A client transaction (INVITE or non-INVITE, chosen by the request's method).
#[derive(Debug)]
pub struct ClientTransaction {
    request: Request,
    invite: bool,
    reliable: bool,
    timers: Timers,
    state: ClientState,
    /// Timer A / E (retransmit), B / F (timeout), D / K (linger).
    clock: TxClock,
    interval: Duration,
    ack: Option<Request>,
    key: TxKey,
    out: VecDeque<TxOutput>,
}

impl ClientTransaction {
    /// Starts the transaction: queues the request and arms the timers.
    pub fn new(now: Instant, request: Request, reliable: bool, timers: Timers) -> Self {
        let invite = request.method == Method::Invite;
        let key = TxKey::of_request(&request).unwrap_or(TxKey {
            branch: String::new(),
            method: request.method.clone(),
            sent_by: String::new(),
        });
        let mut out = VecDeque::new();
        out.push_back(TxOutput::Transmit(Message::Request(request.clone())));
        Self {
            request,
            invite,
            reliable,
            timers,
            state: ClientState::Initial,
            clock: TxClock {
                retransmit_at: (!reliable).then(|| now + timers.t1),
                timeout_at: Some(now + 64 * timers.t1),
                linger_at: None,
            },
            interval: timers.t1,
            ack: None,
            key,
            out,
        }
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The matching key.
    pub fn key(&self) -> &TxKey {
        &self.key
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    /// Whether a final response arrived.
    pub fn is_completed(&self) -> bool {
        matches!(self.state, ClientState::Completed | ClientState::Terminated)
    }

    /// Whether `resp` belongs to this transaction (§17.1.3).
    pub fn matches(&self, resp: &Response) -> bool {
        TxKey::of_response(resp).is_ok_and(|k| k == self.key)
    }

    /// A response for this transaction arrived.
    pub fn handle_response(&mut self, now: Instant, resp: Response) {
        match (self.state, resp.status) {
            (ClientState::Terminated, _) => {}
            (ClientState::Initial | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                if self.invite {
                    self.clock.retransmit_at = None; // timer A stops; B no longer applies (§17.1.1.2)
                    self.clock.timeout_at = None;
                } else if self.clock.retransmit_at.is_some() {
                    // Timer E continues, at T2 (§17.1.2.2).
                    self.interval = self.timers.t2;
                }
                self.out.push_back(TxOutput::Response(resp));
            }
            (ClientState::Initial | ClientState::Proceeding, 200..=299) if self.invite => {
                // The TU sends the ACK for a 2xx (§13.2.2.4); this transaction ends.
                self.out.push_back(TxOutput::Response(resp));
                self.terminate();
            }
            (ClientState::Initial | ClientState::Proceeding, _) => {
                self.clock.retransmit_at = None;
                self.clock.timeout_at = None;
                if self.invite {
                    let ack = build_ack_for_non2xx(&self.request, &resp);
                    self.out
                        .push_back(TxOutput::Transmit(Message::Request(ack.clone())));
                    self.ack = Some(ack);
                }
                self.out.push_back(TxOutput::Response(resp));
                self.state = ClientState::Completed;
                let linger = match (self.reliable, self.invite) {
                    (true, _) => Duration::ZERO,
                    (false, true) => Duration::from_secs(32).max(64 * self.timers.t1 / 2), // timer D
                    (false, false) => self.timers.t4, // timer K
                };
                self.clock.linger_at = Some(now + linger);
                if linger.is_zero() {
                    self.terminate();
                }
            }
            (ClientState::Completed, 300..=699) if self.invite => {
                // Retransmitted final response: ACK again, not passed up (§17.1.1.2).
                if let Some(ack) = &self.ack {
                    self.out
                        .push_back(TxOutput::Transmit(Message::Request(ack.clone())));
                }
            }
            (ClientState::Completed, _) => {}
        }
    }

    /// The transaction user gives up on it (§9.1: no final response 64*T1 after CANCEL).
    pub fn abandon(&mut self) {
        if !self.is_terminated() {
            self.terminate();
        }
    }

    /// The transport reported that the request could not be sent (§17.1.4).
    pub fn handle_transport_error(&mut self) {
        if !self.is_terminated() {
            self.out.push_back(TxOutput::TimedOut);
            self.terminate();
        }
    }

    /// A timer came due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == ClientState::Terminated {
            return;
        }
        match self.clock.due(now) {
            None => {}
            Some(Due::Timeout) => {
                self.out.push_back(TxOutput::TimedOut);
                self.terminate();
            }
            Some(Due::Linger) => self.terminate(),
            Some(Due::Retransmit(at)) => {
                self.out
                    .push_back(TxOutput::Transmit(Message::Request(self.request.clone())));
                self.interval = if self.invite || self.state == ClientState::Proceeding {
                    if self.invite {
                        self.interval * 2
                    } else {
                        self.timers.t2
                    }
                } else {
                    (self.interval * 2).min(self.timers.t2)
                };
                self.clock.retransmit_at = Some(at.max(now) + self.interval);
            }
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clock.next()
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.clock.stop();
        self.out.push_back(TxOutput::Terminated);
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): same Request-URI, Call-ID, From, top
/// Via and Route as the INVITE, the response's To (with its tag), CSeq number with ACK.
pub fn build_ack_for_non2xx(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(v) = invite.headers.get_list("Via").next() {
        ack.headers.push("Via", v);
    }
    ack.headers.push("Max-Forwards", "70");
    for name in ["From"] {
        if let Some(v) = invite.headers.get(name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(v) = resp.headers.get("To") {
        ack.headers.push("To", v);
    }
    if let Some(v) = invite.headers.get("Call-ID") {
        ack.headers.push("Call-ID", v);
    }
    let seq = invite.headers.cseq().map(|c| c.seq).unwrap_or(0);
    ack.headers.push("CSeq", format!("{seq} ACK"));
    for r in invite.headers.get_all("Route") {
        ack.headers.push("Route", r);
    }
    ack
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Terminated,
}

/// A server transaction (INVITE or non-INVITE, chosen by the request's method).
#[derive(Debug)]
pub struct ServerTransaction {
    request: Request,
    invite: bool,
    reliable: bool,
    timers: Timers,
    state: ServerState,
    last_response: Option<Response>,
    /// Timer G (retransmit), H (timeout), I / J (linger).
    clock: TxClock,
    interval: Duration,
    key: TxKey,
    out: VecDeque<TxOutput>,
}

impl ServerTransaction {
    /// Creates the transaction for a new request. An INVITE server transaction answers
    /// 100 Trying at once (§17.2.1), so the client stops retransmitting.
    pub fn new(_now: Instant, request: Request, reliable: bool, timers: Timers) -> Result<Self> {
        let key = TxKey::of_request(&request)?;
        let invite = request.method == Method::Invite;
        let mut tx = Self {
            invite,
            reliable,
            timers,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            last_response: None,
            clock: TxClock::default(),
            interval: timers.t1,
            key,
            out: VecDeque::new(),
            request,
        };
        if invite {
            let trying = tx.request.reply(100, "Trying", None);
            tx.out
                .push_back(TxOutput::Transmit(Message::Response(trying.clone())));
            tx.last_response = Some(trying);
        }
        Ok(tx)
    }

    /// The request that created the transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The matching key.
    pub fn key(&self) -> &TxKey {
        &self.key
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// Whether a final response has been sent.
    pub fn has_final_response(&self) -> bool {
        self.last_response.as_ref().is_some_and(|r| r.status >= 200)
    }

    /// A request matching this transaction arrived: a retransmission, or the ACK of a non-2xx.
    pub fn handle_request(&mut self, now: Instant, req: &Request) {
        match (self.state, &req.method) {
            (ServerState::Completed, Method::Ack) if self.invite => {
                self.state = ServerState::Confirmed;
                self.clock.retransmit_at = None;
                self.clock.timeout_at = None;
                let i = if self.reliable {
                    Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.clock.linger_at = Some(now + i);
                if i.is_zero() {
                    self.terminate();
                }
            }
            (_, Method::Ack) => {}
            (ServerState::Proceeding | ServerState::Completed, _) => {
                if let Some(r) = &self.last_response {
                    self.out
                        .push_back(TxOutput::Transmit(Message::Response(r.clone())));
                }
            }
            _ => {}
        }
    }

    /// The transaction user answers.
    pub fn send_response(&mut self, now: Instant, resp: Response) -> Result<()> {
        if !matches!(self.state, ServerState::Trying | ServerState::Proceeding) {
            return Err(SipError::Misuse("response after the final response"));
        }
        self.out
            .push_back(TxOutput::Transmit(Message::Response(resp.clone())));
        let status = resp.status;
        self.last_response = Some(resp);
        match status {
            100..=199 => self.state = ServerState::Proceeding,
            200..=299 if self.invite => {
                // The TU retransmits a 2xx to INVITE itself (§13.3.1.4).
                self.terminate();
            }
            _ => {
                self.state = ServerState::Completed;
                if self.invite {
                    if !self.reliable {
                        self.clock.retransmit_at = Some(now + self.timers.t1); // timer G
                    }
                    self.clock.timeout_at = Some(now + 64 * self.timers.t1); // timer H
                } else {
                    let j = if self.reliable {
                        Duration::ZERO
                    } else {
                        64 * self.timers.t1
                    };
                    self.clock.linger_at = Some(now + j);
                    if j.is_zero() {
                        self.terminate();
                    }
                }
            }
        }
        Ok(())
    }

    /// A timer came due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == ServerState::Terminated {
            return;
        }
        match self.clock.due(now) {
            None => {}
            Some(Due::Timeout) => {
                // Timer H: the ACK never came.
                self.out.push_back(TxOutput::TimedOut);
                self.terminate();
            }
            Some(Due::Linger) => self.terminate(),
            Some(Due::Retransmit(at)) => {
                if let Some(r) = &self.last_response {
                    self.out
                        .push_back(TxOutput::Transmit(Message::Response(r.clone())));
                }
                self.interval = (self.interval * 2).min(self.timers.t2);
                self.clock.retransmit_at = Some(at.max(now) + self.interval);
            }
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clock.next()
    }

    fn terminate(&mut self) {
        self.state = ServerState::Terminated;
        self.clock.stop();
        self.out.push_back(TxOutput::Terminated);
    }
}
