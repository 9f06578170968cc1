//! The connection: transport (TCP, SOCKS5, TLS), stream negotiation (RFC 6120 §4–§7), and
//! the task that owns the socket afterwards.

use crate::handler::{Handled, handle_stanza};
use crate::stanza::{self, MessageHints, NS_ROSTER};
use crate::xml::{
    Element, NS_CLIENT, NS_STREAM, STREAM_END, StreamEvent, StreamParser, stream_header,
};
use crate::{TlsMode, XmppConfig, XmppError, XmppEvent, socks5, tls};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace, warn};

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";

/// Whole login (TCP, proxy, TLS, SASL, bind, roster) must finish within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// IQ requests we send wait this long for their answer.
const IQ_TIMEOUT: Duration = Duration::from_secs(30);
/// Whitespace keepalive interval (RFC 6120 §4.6.1).
const KEEPALIVE: Duration = Duration::from_secs(60);
/// Events not yet taken by the owner before we give up on the connection.
const MAX_BACKLOG: usize = 10_000;
/// Largest PBKDF2 iteration count a server may ask of us (SCRAM `i=`); more is a DoS.
const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Gone,
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Transport::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// A stream being negotiated: transport + framer + events already parsed.
struct Conn {
    io: Transport,
    parser: StreamParser,
    pending: VecDeque<StreamEvent>,
    domain: String,
    jid: String,
}

impl Conn {
    async fn send(&mut self, s: &str) -> Result<(), XmppError> {
        self.io
            .write_all(s.as_bytes())
            .await
            .map_err(|e| XmppError::net(&e))?;
        self.io.flush().await.map_err(|e| XmppError::net(&e))
    }

    async fn send_el(&mut self, el: &Element) -> Result<(), XmppError> {
        let s = el.to_stream_xml()?;
        self.send(&s).await
    }

    async fn next(&mut self) -> Result<StreamEvent, XmppError> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            let n = self
                .io
                .read(&mut buf)
                .await
                .map_err(|e| tls::classify(&e))?;
            let data = buf.get(..n).unwrap_or_default();
            if n == 0 {
                return Err(XmppError::Network("server closed the connection".into()));
            }
            self.pending.extend(self.parser.feed(data)?);
        }
    }

    /// Next top-level element; a stream error or stream end is an error here.
    async fn next_element(&mut self) -> Result<Element, XmppError> {
        match self.next().await? {
            StreamEvent::Element(e) if e.is("error", NS_STREAM) => Err(stream_error(&e)),
            StreamEvent::Element(e) => Ok(e),
            StreamEvent::Header(_) => Err(XmppError::Protocol("second stream header".into())),
            StreamEvent::End => Err(XmppError::Protocol("server closed the stream".into())),
        }
    }

    /// Open (or restart) the stream and return `<stream:features/>`.
    async fn open(&mut self) -> Result<Element, XmppError> {
        self.parser = StreamParser::new();
        self.pending.clear();
        let header = stream_header(&self.domain, &self.jid);
        self.send(&header).await?;
        match self.next().await? {
            StreamEvent::Header(attrs) => {
                let version = attrs
                    .iter()
                    .find(|(n, _)| n == "version")
                    .map(|(_, v)| v.as_str());
                if version.is_none_or(|v| !v.starts_with("1.")) {
                    return Err(XmppError::Protocol(
                        "server does not speak XMPP 1.0 streams".into(),
                    ));
                }
            }
            _ => return Err(XmppError::Protocol("no stream header".into())),
        }
        let f = self.next_element().await?;
        if !f.is("features", NS_STREAM) {
            return Err(XmppError::Protocol(format!(
                "expected stream features, got <{}>",
                f.name()
            )));
        }
        Ok(f)
    }

    async fn start_tls(&mut self, cfg: &XmppConfig, direct: bool) -> Result<(), XmppError> {
        let tcp = match std::mem::replace(&mut self.io, Transport::Gone) {
            Transport::Plain(t) => t,
            _ => return Err(XmppError::Protocol("TLS started twice".into())),
        };
        let config = tls::client_config(cfg.trusted_root.as_deref(), direct)?;
        let name = tls::server_name(&self.domain)?;
        let s = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| tls::classify(&e))?;
        self.io = Transport::Tls(Box::new(s));
        Ok(())
    }

    async fn iq(&mut self, iq: &Element) -> Result<Element, XmppError> {
        let id = iq.get_attr("id").unwrap_or("").to_owned();
        self.send_el(iq).await?;
        loop {
            let e = self.next_element().await?;
            if e.is("iq", NS_CLIENT) && e.get_attr("id") == Some(id.as_str()) {
                return Ok(e);
            }
            trace!(name = e.name(), "stanza before login completed; dropped");
        }
    }
}

fn stream_error(e: &Element) -> XmppError {
    let cond = e
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-streams" && c.name() != "text")
        .map_or("undefined-condition", Element::name);
    XmppError::Protocol(format!("stream error: {cond}"))
}

fn split_jid(jid: &str) -> Result<(String, String), XmppError> {
    let bad = || XmppError::Misuse(format!("not a bare JID user@domain: {jid:?}"));
    let (local, domain) = jid.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.is_empty() || domain.contains(['@', '/']) || local.contains('/') {
        return Err(bad());
    }
    Ok((local.to_owned(), domain.to_ascii_lowercase()))
}

/// Random hex for stanza ids and the nothing-up-my-sleeve part of them.
fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if getrandom::getrandom(&mut b).is_err() {
        // Ids need uniqueness, not secrecy; fall back to the address of a local.
        let x = &b as *const _ as usize;
        return format!("{x:x}");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Connect, secure, authenticate, bind and fetch the roster. Returns the client handle and
/// its event stream (the roster arrives as the first [`XmppEvent::Roster`]).
///
/// Call [`XmppClient::set_presence`]`(true)` afterwards to be reachable on the bare JID and
/// to see contacts' presence.
pub async fn connect(
    cfg: XmppConfig,
) -> Result<(XmppClient, mpsc::Receiver<XmppEvent>), XmppError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(cfg))
        .await
        .map_err(|_| XmppError::Network("login timed out".into()))?
}

async fn connect_inner(
    cfg: XmppConfig,
) -> Result<(XmppClient, mpsc::Receiver<XmppEvent>), XmppError> {
    let (local, domain) = split_jid(&cfg.jid)?;
    let direct = cfg.tls == TlsMode::DirectTls;
    let (host, port) = cfg
        .server
        .clone()
        .unwrap_or_else(|| (domain.clone(), if direct { 5223 } else { 5222 }));
    let tcp = match &cfg.proxy {
        Some(p) => {
            // Only the proxy's socket address is connected to; the server name travels
            // inside the SOCKS5 request and is resolved by the proxy.
            let mut s = TcpStream::connect(p.addr)
                .await
                .map_err(|e| XmppError::Proxy(format!("cannot reach proxy {}: {e}", p.addr)))?;
            let auth = p
                .username
                .as_deref()
                .map(|u| (u, p.password.as_ref().map_or("", |z| z.as_str())));
            socks5::handshake(&mut s, &host, port, auth).await?;
            s
        }
        None => TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| XmppError::net(&e))?,
    };
    let _ = tcp.set_nodelay(true);
    let mut c = Conn {
        io: Transport::Plain(tcp),
        parser: StreamParser::new(),
        pending: VecDeque::new(),
        domain: domain.clone(),
        jid: cfg.jid.clone(),
    };
    if direct {
        c.start_tls(&cfg, true).await?;
    }
    let mut features = c.open().await?;
    if !direct {
        if !features.has_child("starttls", NS_TLS) {
            return Err(XmppError::Tls(
                "server does not offer STARTTLS; refusing a plaintext stream".into(),
            ));
        }
        c.send_el(&Element::new("starttls", NS_TLS)).await?;
        let r = c.next_element().await?;
        if !r.is("proceed", NS_TLS) {
            return Err(XmppError::Tls(format!(
                "server answered <{}> to STARTTLS",
                r.name()
            )));
        }
        c.start_tls(&cfg, false).await?;
        features = c.open().await?;
    }
    let mechanism = authenticate(&mut c, &features, &local, &cfg).await?;
    let features = c.open().await?;
    if !features.has_child("bind", NS_BIND) {
        return Err(XmppError::Protocol(
            "server offers no resource binding".into(),
        ));
    }
    let prefix = random_hex(6);
    let mut bind = Element::new("bind", NS_BIND);
    if let Some(r) = &cfg.resource {
        bind = bind.child(Element::new("resource", NS_BIND).text(r));
    }
    let r = c
        .iq(&Element::new("iq", NS_CLIENT)
            .attr("type", "set")
            .attr("id", &format!("{prefix}-bind"))
            .child(bind))
        .await?;
    let bound = r
        .get_child("bind", NS_BIND)
        .and_then(|b| b.get_child("jid", NS_BIND))
        .map(Element::text_content)
        .filter(|j| stanza::bare(j).eq_ignore_ascii_case(&cfg.jid))
        .ok_or_else(|| match stanza::error_condition(&r) {
            Some(cond) => XmppError::Protocol(format!("resource binding refused: {cond}")),
            None => XmppError::Protocol("resource binding returned no usable JID".into()),
        })?;
    if let Some(sess) = features.get_child("session", NS_SESSION)
        && !sess.has_child("optional", NS_SESSION)
    {
        // RFC 3921 session establishment, for old servers that still require it.
        let s = Element::new("iq", NS_CLIENT)
            .attr("type", "set")
            .attr("id", &format!("{prefix}-sess"))
            .child(Element::new("session", NS_SESSION));
        c.iq(&s).await?;
    }
    let roster = c
        .iq(&stanza::roster_get(&format!("{prefix}-roster")))
        .await?;
    let items = roster
        .get_child("query", NS_ROSTER)
        .map(stanza::roster_items)
        .unwrap_or_default();
    debug!(jid = %bound, "XMPP session established");

    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::channel(256);
    let mut backlog = VecDeque::new();
    backlog.push_back(XmppEvent::Roster(items));
    let runner = Runner {
        conn: c,
        bound: bound.clone(),
        cmd_rx,
        ev_tx,
        backlog,
        pending_iq: HashMap::new(),
    };
    let task = tokio::spawn(runner.run());
    Ok((
        XmppClient {
            cmd: cmd_tx,
            bound,
            mechanism,
            prefix,
            counter: AtomicU64::new(0),
            task,
        },
        ev_rx,
    ))
}

/// SASL (RFC 6120 §6); returns the mechanism used.
async fn authenticate(
    c: &mut Conn,
    features: &Element,
    local: &str,
    cfg: &XmppConfig,
) -> Result<String, XmppError> {
    use sasl::client::Mechanism;
    use sasl::client::mechanisms::{Plain, Scram};
    use sasl::common::ChannelBinding;
    use sasl::common::scram::{Sha1, Sha256};
    let offered: Vec<String> = features
        .get_child("mechanisms", NS_SASL)
        .map(|m| {
            m.children()
                .filter(|x| x.is("mechanism", NS_SASL))
                .map(Element::text_content)
                .collect()
        })
        .unwrap_or_default();
    let pw: &str = &cfg.password;
    let scram_err = |e: sasl::Error| XmppError::Misuse(format!("SCRAM setup: {e:?}"));
    let mut mech: Box<dyn Mechanism + Send> = match choose_mechanism(&offered) {
        Some("SCRAM-SHA-256") => Box::new(
            Scram::<Sha256>::new(local, pw, ChannelBinding::Unsupported).map_err(scram_err)?,
        ),
        Some("SCRAM-SHA-1") => {
            Box::new(Scram::<Sha1>::new(local, pw, ChannelBinding::Unsupported).map_err(scram_err)?)
        }
        // Only ever inside TLS: we never have a plaintext stream.
        Some(_) => Box::new(Plain::new(local, pw)),
        None => {
            return Err(XmppError::AuthFailed(format!(
                "no supported SASL mechanism offered (server offers: {})",
                offered.join(" ")
            )));
        }
    };
    let is_scram = mech.name().starts_with("SCRAM");
    let initial = zeroize::Zeroizing::new(mech.initial());
    let client_nonce = scram_attr(&initial, b'r').unwrap_or_default();
    let payload = if initial.is_empty() {
        "=".to_owned()
    } else {
        B64.encode(&*initial)
    };
    let auth = Element::new("auth", NS_SASL)
        .attr("mechanism", mech.name())
        .text(&payload);
    c.send_el(&auth).await?;
    loop {
        let e = c.next_element().await?;
        let data = || {
            let t = e.text_content();
            let t = t.trim();
            if t.is_empty() || t == "=" {
                Ok(Vec::new())
            } else {
                B64.decode(t)
                    .map_err(|_| XmppError::Protocol("SASL data is not base64".into()))
            }
        };
        if e.is("challenge", NS_SASL) {
            let ch = data()?;
            if is_scram {
                check_server_first(&ch, &client_nonce)?;
            }
            let resp =
                zeroize::Zeroizing::new(mech.response(&ch).map_err(|err| {
                    XmppError::AuthFailed(format!("SASL challenge rejected: {err}"))
                })?);
            let r = Element::new("response", NS_SASL).text(&B64.encode(&*resp));
            c.send_el(&r).await?;
        } else if e.is("success", NS_SASL) {
            mech.success(&data()?).map_err(|err| {
                XmppError::AuthFailed(format!("server's SASL proof is wrong: {err}"))
            })?;
            return Ok(mech.name().to_owned());
        } else if e.is("failure", NS_SASL) {
            let cond = e
                .children()
                .find(|x| x.ns() == NS_SASL && x.name() != "text")
                .map_or("failure", Element::name);
            return Err(XmppError::AuthFailed(format!("server says {cond}")));
        } else {
            return Err(XmppError::Protocol(format!(
                "unexpected <{}> during SASL",
                e.name()
            )));
        }
    }
}

/// Our preference among the offered SASL mechanisms: SCRAM-SHA-256, SCRAM-SHA-1, then
/// PLAIN (acceptable only because the stream is always TLS by then). `-PLUS` variants are
/// skipped: we do not do channel binding.
fn choose_mechanism(offered: &[String]) -> Option<&'static str> {
    ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
        .into_iter()
        .find(|m| offered.iter().any(|o| o.trim() == *m))
}

/// Value of `k=` in a SCRAM message.
fn scram_attr(msg: &[u8], k: u8) -> Option<Vec<u8>> {
    msg.split(|&b| b == b',')
        .find(|p| p.len() >= 2 && p.first() == Some(&k) && p.get(1) == Some(&b'='))
        .and_then(|p| p.get(2..))
        .map(<[u8]>::to_vec)
}

/// RFC 5802 §5.1 checks the `sasl` crate leaves out: the server nonce extends ours, and the
/// iteration count is sane (a huge one would make us spin).
fn check_server_first(ch: &[u8], client_nonce: &[u8]) -> Result<(), XmppError> {
    let r = scram_attr(ch, b'r')
        .ok_or_else(|| XmppError::Protocol("SCRAM challenge without nonce".into()))?;
    if client_nonce.is_empty() || !r.starts_with(client_nonce) || r.len() <= client_nonce.len() {
        return Err(XmppError::AuthFailed(
            "SCRAM server nonce does not extend ours".into(),
        ));
    }
    let i = scram_attr(ch, b'i')
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| XmppError::Protocol("SCRAM challenge without iteration count".into()))?;
    if i == 0 || i > MAX_SCRAM_ITERATIONS {
        return Err(XmppError::AuthFailed(format!(
            "SCRAM iteration count {i} out of range"
        )));
    }
    Ok(())
}

enum Command {
    Send {
        xml: String,
        iq: Option<(String, String, oneshot::Sender<Element>)>,
        done: oneshot::Sender<Result<(), XmppError>>,
    },
    Close(oneshot::Sender<()>),
}

/// A logged-in XMPP session. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct XmppClient {
    cmd: mpsc::Sender<Command>,
    bound: String,
    mechanism: String,
    prefix: String,
    counter: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl XmppClient {
    fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }

    async fn submit(
        &self,
        xml: String,
        iq: Option<(String, String, oneshot::Sender<Element>)>,
    ) -> Result<(), XmppError> {
        let (done, rx) = oneshot::channel();
        self.cmd
            .send(Command::Send { xml, iq, done })
            .await
            .map_err(|_| XmppError::Closed)?;
        rx.await.map_err(|_| XmppError::Closed)?
    }

    /// Send a one-to-one `type='chat'` message to `to` (bare or full JID). With
    /// `hints.otr`, the no-copy / no-store / no-permanent-store / private / EME hints are
    /// added. Returns once the stanza is written to the socket.
    pub async fn send_message(
        &self,
        to: &str,
        body: &str,
        hints: MessageHints,
    ) -> Result<(), XmppError> {
        let m = stanza::message(&self.next_id(), to, body, hints);
        self.submit(m.to_stream_xml()?, None).await
    }

    /// Broadcast presence: available or unavailable.
    pub async fn set_presence(&self, available: bool) -> Result<(), XmppError> {
        self.submit(stanza::presence(available).to_stream_xml()?, None)
            .await
    }

    /// Ask `jid` to let us see their presence (RFC 6121 §3.1), and add them to the roster.
    pub async fn subscribe(&self, jid: &str) -> Result<(), XmppError> {
        self.submit(
            stanza::subscription(stanza::bare(jid), "subscribe").to_stream_xml()?,
            None,
        )
        .await
    }

    /// Approve `jid`'s subscription request (RFC 6121 §3.1.4).
    pub async fn approve_subscription(&self, jid: &str) -> Result<(), XmppError> {
        self.submit(
            stanza::subscription(stanza::bare(jid), "subscribed").to_stream_xml()?,
            None,
        )
        .await
    }

    /// Send any stanza as is (the caller owns its content; `id` is kept if set).
    pub async fn send_stanza(&self, el: &Element) -> Result<(), XmppError> {
        self.submit(el.to_stream_xml()?, None).await
    }

    /// Send an IQ get/set and wait for its `result` or `error` (returned as the whole
    /// stanza; check `type`). An `id` is assigned. Responses are only accepted from the
    /// entity the request went to (RFC 6120 §8.1.2.1).
    pub async fn iq(&self, el: Element) -> Result<Element, XmppError> {
        let id = self.next_id();
        let el = el.attr("id", &id);
        let to = el.get_attr("to").unwrap_or("").to_owned();
        let (tx, rx) = oneshot::channel();
        self.submit(el.to_stream_xml()?, Some((id, to, tx))).await?;
        match tokio::time::timeout(IQ_TIMEOUT, rx).await {
            Ok(Ok(e)) => Ok(e),
            Ok(Err(_)) => Err(XmppError::Closed),
            Err(_) => Err(XmppError::Network("no answer to IQ in time".into())),
        }
    }

    /// The full JID the server bound for us (`user@domain/resource`).
    pub fn bound_jid(&self) -> &str {
        &self.bound
    }

    /// The SASL mechanism the login used (`SCRAM-SHA-256`, `SCRAM-SHA-1` or `PLAIN`).
    pub fn sasl_mechanism(&self) -> &str {
        &self.mechanism
    }

    /// Send unavailable presence, close the stream and the TLS session, and wait (briefly)
    /// for the server to close its side.
    pub async fn close(self) -> Result<(), XmppError> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Close(tx)).await.is_err() {
            return Ok(()); // already gone
        }
        let _ = rx.await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
        Ok(())
    }
}

struct Runner {
    conn: Conn,
    bound: String,
    cmd_rx: mpsc::Receiver<Command>,
    ev_tx: mpsc::Sender<XmppEvent>,
    backlog: VecDeque<XmppEvent>,
    /// id -> (expected from, waiter)
    pending_iq: HashMap<String, (String, oneshot::Sender<Element>)>,
}

impl Runner {
    async fn run(mut self) {
        let reason = self.main_loop().await;
        debug!(%reason, "XMPP connection ended");
        self.backlog.push_back(XmppEvent::Disconnected { reason });
        // Hand over what is left, unless nobody listens any more.
        while let Some(ev) = self.backlog.pop_front() {
            if self.ev_tx.send(ev).await.is_err() {
                break;
            }
        }
    }

    async fn main_loop(&mut self) -> String {
        let mut buf = vec![0u8; 16 * 1024];
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            if self.backlog.len() > MAX_BACKLOG {
                let _ = self.conn.send(STREAM_END).await;
                return "events not consumed; connection dropped".into();
            }
            let has_backlog = !self.backlog.is_empty();
            let ev_tx = self.ev_tx.clone();
            tokio::select! {
                r = self.conn.io.read(&mut buf) => {
                    let n = match r {
                        Ok(0) => return "server closed the connection".into(),
                        Ok(n) => n,
                        Err(e) => return format!("network: {e}"),
                    };
                    let evs = match self.conn.parser.feed(buf.get(..n).unwrap_or_default()) {
                        Ok(evs) => evs,
                        Err(e) => {
                            let _ = self.conn.send(STREAM_END).await;
                            return e.to_string();
                        }
                    };
                    for ev in evs {
                        match ev {
                            StreamEvent::Element(e) if e.is("error", NS_STREAM) => return stream_error(&e).to_string(),
                            StreamEvent::Element(e) => {
                                if let Err(err) = self.handle(e).await {
                                    return err.to_string();
                                }
                            }
                            StreamEvent::End => {
                                let _ = self.conn.send(STREAM_END).await;
                                return "server closed the stream".into();
                            }
                            StreamEvent::Header(_) => return "unexpected stream header".into(),
                        }
                    }
                }
                cmd = self.cmd_rx.recv() => match cmd {
                    None => {
                        let _ = self.conn.send(STREAM_END).await;
                        return "client dropped".into();
                    }
                    Some(Command::Send { xml, iq, done }) => {
                        let r = self.conn.send(&xml).await;
                        let failed = r.is_err();
                        if let (Ok(()), Some((id, to, tx))) = (&r, iq) {
                            // Forget requests whose caller gave up (timed out or dropped).
                            self.pending_iq.retain(|_, (_, w)| !w.is_closed());
                            self.pending_iq.insert(id, (to, tx));
                        }
                        let _ = done.send(r);
                        if failed {
                            return "network: write failed".into();
                        }
                    }
                    Some(Command::Close(done)) => {
                        self.close_stream().await;
                        let _ = done.send(());
                        return "closed by us".into();
                    }
                },
                permit = ev_tx.reserve(), if has_backlog => match permit {
                    Ok(p) => {
                        if let Some(ev) = self.backlog.pop_front() {
                            p.send(ev);
                        }
                    }
                    Err(_) => {
                        // Nobody listens for events: keep serving sends, drop events.
                        self.backlog.clear();
                    }
                },
                _ = keepalive.tick() => {
                    if self.conn.send(" ").await.is_err() {
                        return "network: keepalive failed".into();
                    }
                }
            }
        }
    }

    async fn close_stream(&mut self) {
        let bye = stanza::presence(false).to_stream_xml().unwrap_or_default();
        let _ = self.conn.send(&bye).await;
        let _ = self.conn.send(STREAM_END).await;
        // Wait briefly for the server's </stream:stream>, then close TLS (close_notify).
        let wait = async {
            loop {
                match self.conn.next().await {
                    Ok(StreamEvent::End) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        let _ = self.conn.io.shutdown().await;
    }

    fn emit(&mut self, ev: XmppEvent) {
        self.backlog.push_back(ev);
    }

    async fn handle(&mut self, e: Element) -> Result<(), XmppError> {
        match handle_stanza(&e, &self.bound, &self.conn.domain) {
            Handled::Ignored => trace!(name = e.name(), "element ignored"),
            Handled::Event(ev) => self.emit(ev),
            Handled::Reply(reply, ev) => {
                if let Some(XmppEvent::FileOfferRefused { from, .. }) = &ev {
                    debug!(%from, "file offer refused");
                }
                self.conn.send_el(&reply).await?;
                if let Some(ev) = ev {
                    self.emit(ev);
                }
            }
            Handled::Response {
                id,
                from,
                from_own_account,
            } => {
                let Some((expected, _)) = self.pending_iq.get(&id) else {
                    trace!(%id, "IQ response with unknown id ignored");
                    return Ok(());
                };
                let ok = if expected.is_empty() {
                    from_own_account
                } else {
                    from.eq_ignore_ascii_case(expected)
                };
                if !ok {
                    warn!(%id, "IQ response from an unexpected sender ignored");
                    return Ok(());
                }
                if let Some((_, tx)) = self.pending_iq.remove(&id) {
                    let _ = tx.send(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_preference() {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            choose_mechanism(&v(&["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])),
            Some("SCRAM-SHA-256")
        );
        assert_eq!(
            choose_mechanism(&v(&["PLAIN", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"])),
            Some("SCRAM-SHA-1")
        );
        assert_eq!(choose_mechanism(&v(&["PLAIN"])), Some("PLAIN"));
        assert_eq!(
            choose_mechanism(&v(&["DIGEST-MD5", "SCRAM-SHA-1-PLUS"])),
            None
        );
    }

    #[test]
    fn bare_jid_validation() {
        assert_eq!(split_jid("a@B.org").unwrap(), ("a".into(), "b.org".into()));
        for bad in ["a", "@b", "a@", "a@b/c", "a@b@c"] {
            assert!(split_jid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scram_server_first_checks_rfc5802() {
        // RFC 5802 §5 example: client nonce fyko+d2lbbFgONRv9qkxdawL.
        let n = b"fyko+d2lbbFgONRv9qkxdawL";
        let ok = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        assert!(check_server_first(ok, n).is_ok());
        assert!(
            check_server_first(b"r=other3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096", n).is_err()
        );
        assert!(
            check_server_first(b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", n).is_err()
        );
        assert!(
            check_server_first(
                b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4000000000",
                n
            )
            .is_err()
        );
        assert!(check_server_first(b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92", n).is_err());
        assert_eq!(scram_attr(b"n,,n=user,r=abc", b'r').unwrap(), b"abc");
    }
}
