//! REGISTER (RFC 3261 §10) with digest authentication and refresh scheduling.
//!
//! A [`Registration`] keeps one binding alive: it sends REGISTER, answers a 401/407 challenge
//! once per nonce (CSeq + 1, same Call-ID, §10.2.4 / §22.2), honours 423 Interval Too Brief,
//! and re-registers before the granted expiry, reusing the last challenge (with the next `nc`)
//! so refreshes normally need no extra round trip.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sotto_proto::crypto::Random;

use crate::auth::{Challenge, DigestClient};
use crate::error::{Result, SipError};
use crate::headers::{Contact, Method, NameAddr, Via};
use crate::message::{Message, Request, Response, new_branch, random_hex};
use crate::transaction::{ClientTransaction, Timers, Transport, TxOutput};
use crate::uri::{Host, Uri};

/// What to register.
#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    /// Request-URI, e.g. `sip:example.com`.
    pub registrar: Uri,
    /// Address of record (To and From), e.g. `sip:alice@example.com`.
    pub aor: Uri,
    /// Our Contact.
    pub contact: NameAddr,
    /// Requested expiry in seconds.
    pub expires: u32,
    /// Where the registrar (or outbound proxy) is.
    pub server: SocketAddr,
    /// Our address, for Via.
    pub local_addr: SocketAddr,
    /// The transport to the registrar.
    pub transport: Transport,
    /// Timer values.
    pub timers: Timers,
    /// Digest credentials (user, password).
    pub credentials: Option<crate::auth::Credentials>,
}

/// What happened to the registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegEvent {
    /// The registrar accepted the binding for this many seconds.
    Registered {
        /// Granted expiry.
        expires: u32,
    },
    /// The binding was removed (expires=0 accepted).
    Unregistered,
    /// The registrar refused (final status), or authentication failed twice.
    Failed {
        /// Status code.
        status: u16,
    },
    /// No answer (timer F).
    TimedOut,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegOutput {
    /// Send `data` to `to`.
    Transmit {
        /// Destination.
        to: SocketAddr,
        /// Encoded REGISTER.
        data: Vec<u8>,
    },
    /// Tell the application.
    Event(RegEvent),
}

/// One registration binding.
pub struct Registration {
    cfg: RegistrationConfig,
    rng: Box<dyn Random>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    tx: Option<ClientTransaction>,
    auth: Option<DigestClient>,
    challenge: Option<(Challenge, bool)>,
    auth_tries: u8,
    refresh_at: Option<Instant>,
    out: VecDeque<RegOutput>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("cseq", &self.cseq)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// When to refresh a binding granted for `expires` seconds: at 90 % of it, at least 1 s.
pub fn refresh_delay(expires: u32) -> Duration {
    Duration::from_millis(u64::from(expires) * 900).max(Duration::from_secs(1))
}

impl Registration {
    /// A registration; nothing is sent until [`register`](Self::register).
    pub fn new(cfg: RegistrationConfig, mut rng: Box<dyn Random>) -> Self {
        let call_id = format!("{}@sotto", random_hex(rng.as_mut(), 12));
        let from_tag = random_hex(rng.as_mut(), 6);
        let auth = cfg.credentials.as_ref().map(DigestClient::from_credentials);
        let expires = cfg.expires;
        Self {
            cfg,
            rng,
            call_id,
            from_tag,
            cseq: 0,
            expires,
            tx: None,
            auth,
            challenge: None,
            auth_tries: 0,
            refresh_at: None,
            out: VecDeque::new(),
        }
    }

    /// Sends a REGISTER now.
    pub fn register(&mut self, now: Instant) -> Result<()> {
        self.expires = self.cfg.expires;
        self.auth_tries = 0;
        self.send(now)
    }

    /// Removes the binding (REGISTER with expires=0).
    pub fn unregister(&mut self, now: Instant) -> Result<()> {
        self.expires = 0;
        self.refresh_at = None;
        self.auth_tries = 0;
        self.send(now)
    }

    fn build(&mut self) -> Result<Request> {
        self.cseq = self
            .cseq
            .checked_add(1)
            .ok_or(SipError::Misuse("CSeq overflow"))?;
        let branch = new_branch(self.rng.as_mut());
        let transport = self.cfg.transport.via_name();
        let via = Via::new(
            transport,
            Host::from(self.cfg.local_addr.ip()),
            Some(self.cfg.local_addr.port()),
            &branch,
        );
        let mut from = NameAddr::new(self.cfg.aor.clone());
        from.set_tag(&self.from_tag);
        let mut req = Request::new(Method::Register, self.cfg.registrar.clone());
        req.headers.push("Via", via.to_string());
        req.headers.push("Max-Forwards", "70");
        req.headers.push("From", from.to_string());
        req.headers
            .push("To", NameAddr::new(self.cfg.aor.clone()).to_string());
        req.headers.push("Call-ID", self.call_id.clone());
        req.headers.push("CSeq", format!("{} REGISTER", self.cseq));
        req.headers.push("Contact", self.cfg.contact.to_string());
        req.headers.push("Expires", self.expires.to_string());
        Ok(req)
    }

    fn send(&mut self, now: Instant) -> Result<()> {
        let mut req = self.build()?;
        // Pre-emptive credentials from the last challenge (next nc), RFC 7616 §3.4.
        if let (Some((ch, proxy)), Some(auth)) = (self.challenge.as_ref(), self.auth.as_mut()) {
            let v = auth.authorization(
                ch,
                &Method::Register,
                &self.cfg.registrar.to_string(),
                self.rng.as_mut(),
            )?;
            req.headers.set(
                if *proxy {
                    "Proxy-Authorization"
                } else {
                    "Authorization"
                },
                v,
            );
        }
        self.start(now, req);
        Ok(())
    }

    fn start(&mut self, now: Instant, req: Request) {
        self.tx = Some(ClientTransaction::new(
            now,
            req,
            self.cfg.transport.is_reliable(),
            self.cfg.timers,
        ));
        self.pump(now);
    }

    /// A datagram from the registrar.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if let Ok(Message::Response(r)) = Message::parse(data) {
            self.handle_response(now, r);
        }
    }

    /// A response from the registrar.
    pub fn handle_response(&mut self, now: Instant, resp: Response) {
        match self.tx.as_mut() {
            Some(tx) if tx.matches(&resp) => tx.handle_response(now, resp),
            _ => return,
        }
        self.pump(now);
    }

    /// Drives timers (retransmissions and the refresh).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(tx) = self.tx.as_mut()
            && tx.poll_timeout().is_some_and(|t| now >= t)
        {
            tx.handle_timeout(now);
        }
        self.pump(now);
        if self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            self.auth_tries = 0;
            let _ = self.send(now);
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<RegOutput> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.tx.as_ref().and_then(ClientTransaction::poll_timeout),
            self.refresh_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The CSeq number of the last REGISTER sent.
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    fn pump(&mut self, now: Instant) {
        let mut responses = Vec::new();
        if let Some(tx) = self.tx.as_mut() {
            while let Some(o) = tx.poll_output() {
                match o {
                    TxOutput::Transmit(m) => self.out.push_back(RegOutput::Transmit {
                        to: self.cfg.server,
                        data: m.to_bytes(),
                    }),
                    TxOutput::Response(r) => responses.push((r, tx.request().clone())),
                    TxOutput::TimedOut => {
                        self.out.push_back(RegOutput::Event(RegEvent::TimedOut));
                        // Try again later rather than give up for good (but an unanswered
                        // removal is not retried: the binding expires by itself).
                        if self.expires != 0 {
                            self.refresh_at = Some(now + Duration::from_secs(30));
                        }
                    }
                    TxOutput::Terminated => {}
                }
            }
            if tx.is_terminated() {
                self.tx = None;
            }
        }
        for (r, req) in responses {
            self.on_final(now, &req, r);
        }
    }

    fn on_final(&mut self, now: Instant, req: &Request, resp: Response) {
        match resp.status {
            100..=199 => {}
            200..=299 => {
                if self.expires == 0 {
                    self.out.push_back(RegOutput::Event(RegEvent::Unregistered));
                    return;
                }
                // A registrar may shorten but not lengthen the binding (§10.3 step 7); clamping
                // also keeps a hostile value from scheduling beyond what we asked.
                let granted = self
                    .granted_expires(&resp)
                    .unwrap_or(self.expires)
                    .min(self.expires);
                self.refresh_at = Some(now + refresh_delay(granted));
                self.out
                    .push_back(RegOutput::Event(RegEvent::Registered { expires: granted }));
            }
            401 | 407 => {
                let stale = Challenge::from_response(&resp)
                    .map(|(c, _)| c.stale)
                    .unwrap_or(false);
                let fresh = match (Challenge::from_response(&resp), self.challenge.as_ref()) {
                    (Ok((c, _)), Some((old, _))) => c.nonce != old.nonce,
                    _ => true,
                };
                if self.auth.is_none()
                    || (self.auth_tries >= 1 && !stale && !fresh)
                    || self.auth_tries >= 3
                {
                    self.out.push_back(RegOutput::Event(RegEvent::Failed {
                        status: resp.status,
                    }));
                    return;
                }
                self.auth_tries += 1;
                self.challenge = Challenge::from_response(&resp).ok();
                let Some(auth) = self.auth.as_mut() else {
                    return;
                };
                match auth.retry(req, &resp, self.rng.as_mut()) {
                    Ok(retry) => {
                        if let Ok(c) = retry.headers.cseq() {
                            self.cseq = c.seq;
                        }
                        self.start(now, retry);
                    }
                    Err(_) => self.out.push_back(RegOutput::Event(RegEvent::Failed {
                        status: resp.status,
                    })),
                }
            }
            423 => {
                // §10.2.8: ask again with at least Min-Expires.
                let min = resp
                    .headers
                    .get("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(m) if m > self.expires && self.auth_tries < 3 => {
                        self.expires = m;
                        self.auth_tries += 1;
                        let _ = self.send(now);
                    }
                    _ => self
                        .out
                        .push_back(RegOutput::Event(RegEvent::Failed { status: 423 })),
                }
            }
            s => self
                .out
                .push_back(RegOutput::Event(RegEvent::Failed { status: s })),
        }
    }

    /// §10.2.4: the expiry of our Contact in the 200 (its `expires` param, else Expires).
    fn granted_expires(&self, resp: &Response) -> Option<u32> {
        let ours = self.cfg.contact.uri.to_string();
        let from_contact = resp
            .headers
            .contacts()
            .ok()?
            .into_iter()
            .find_map(|c| match c {
                Contact::Addr(a) if a.uri.to_string() == ours => {
                    a.params.value("expires").and_then(|e| e.parse().ok())
                }
                _ => None,
            });
        from_contact.or_else(|| resp.headers.expires().ok().flatten())
    }
}
