//! XMPP client layer for `sotto chat` (issue #9): one connection per account, TLS always on,
//! SASL SCRAM, resource binding, roster, presence and one-to-one `<message/>`s, optionally
//! through a SOCKS5 proxy (Tor) that resolves the server name itself.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo() -> Result<(), sotto_xmpp::XmppError> {
//! use sotto_xmpp::{connect, MessageHints, TlsMode, XmppConfig, XmppEvent};
//! let cfg = XmppConfig::new("alice@example.org", "secret");
//! let (client, mut events) = connect(cfg).await?;
//! client.set_presence(true).await?; // needed to receive messages sent to the bare JID
//! client.send_message("bob@example.org", "?OTRv3?", MessageHints { otr: true }).await?;
//! while let Some(ev) = events.recv().await {
//!     if let XmppEvent::Message { from, body, .. } = ev {
//!         let _ = (from, body); // hand to the OTR engine; never log `body`
//!     }
//! }
//! client.close().await
//! # }
//! ```
//!
//! # Why hand-rolled stanzas on `rxml` and not `tokio-xmpp`
//!
//! `tokio-xmpp` (6.0) ties DNS (SRV lookups through its resolver), TLS root selection and
//! STARTTLS into its own connectors; a SOCKS5 hop with proxy-side name resolution and a
//! PEM root for self-hosted servers would mean re-implementing its `ServerConnector` anyway,
//! and we would still carry `xso`/`xmpp-parsers`' large generated surface for the five
//! stanza shapes we need. So: XML is parsed by `rxml` (a restricted, streaming,
//! namespace-aware XML 1.0 parser from the xmpp-rs project: no DTDs, no entities beyond the
//! predefined ones, length limits), SASL SCRAM by the `sasl` crate (same project), TLS by
//! `rustls` on the `ring` provider (builds with a C compiler only; no cmake or clang), and
//! this crate owns only the small pieces: the element tree and its serialiser ([`xml`]),
//! stanza building/classification ([`stanza`]), the SOCKS5 handshake ([`socks5`]) and the
//! connection state machine.
//!
//! # Guarantees
//!
//! - Certificate verification is always on: Mozilla's roots (`webpki-roots`) or the one PEM
//!   file given in [`XmppConfig::trusted_root`]. There is no "accept any certificate" switch.
//! - Never a plaintext stream: STARTTLS is required (a server that does not offer it is an
//!   error), SASL PLAIN is used only inside TLS and only if no SCRAM mechanism is offered.
//! - With a proxy, the only socket opened is to the proxy's address and the server name
//!   goes to the proxy as a SOCKS5 DOMAINNAME: no DNS lookup happens on this machine (tested
//!   with a name only the proxy can resolve). Without a proxy, `TcpStream::connect` resolves
//!   host:port with the system resolver (A/AAAA; no SRV lookups).
//! - Incoming file offers (XEP-0096 SI, XEP-0234 Jingle, XEP-0066 OOB IQ) are refused and
//!   reported as [`XmppEvent::FileOfferRefused`]; unknown IQ get/set are answered with
//!   `service-unavailable` (RFC 6120 §8.4).
//! - Message bodies and passwords are never logged.
//! - No panic on server bytes: everything from the wire goes through `rxml` and checked
//!   accessors; per-stanza size and nesting are bounded.
//!
//! Stream management (XEP-0198) is not implemented: without resumption it adds little for
//! one-to-one OTR chats, where OTR itself detects lost messages.

mod client;
mod error;
pub mod handler;
pub mod socks5;
pub mod stanza;
mod tls;
pub mod xml;

pub use client::{XmppClient, connect};
pub use error::XmppError;
pub use stanza::{MessageHints, ReceivedHints, RosterItem};

use zeroize::Zeroizing;

/// How TLS is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Plain TCP to port 5222, then `<starttls/>` (RFC 6120 §5). Required: a server that does
    /// not offer STARTTLS is an error.
    #[default]
    StartTls,
    /// TLS from the first byte (XEP-0368 style), usually port 5223.
    DirectTls,
}

/// A SOCKS5 proxy (RFC 1928), e.g. Tor at 127.0.0.1:9050.
#[derive(Clone)]
pub struct Socks5Proxy {
    /// Where the proxy listens.
    pub addr: std::net::SocketAddr,
    /// Username for RFC 1929 authentication (with Tor: stream isolation).
    pub username: Option<String>,
    /// Password for RFC 1929 authentication.
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Socks5Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socks5Proxy")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Everything needed to log in.
#[derive(Clone)]
pub struct XmppConfig {
    /// Bare JID `user@domain`.
    pub jid: String,
    /// Account password (zeroized on drop).
    pub password: Zeroizing<String>,
    /// Resource to ask for at bind time; `None` lets the server choose.
    pub resource: Option<String>,
    /// Host and port to connect to instead of the JID's domain (port 5222, or 5223 with
    /// [`TlsMode::DirectTls`]). The TLS certificate is still checked against the JID's
    /// domain. With a proxy the host is sent to the proxy unresolved.
    pub server: Option<(String, u16)>,
    /// STARTTLS or direct TLS.
    pub tls: TlsMode,
    /// A PEM file of CA certificate(s) to trust instead of the Mozilla roots (self-hosted
    /// servers with their own CA).
    pub trusted_root: Option<std::path::PathBuf>,
    /// Connect through this SOCKS5 proxy; the proxy resolves the server name.
    pub proxy: Option<Socks5Proxy>,
}

impl XmppConfig {
    /// A config with defaults: STARTTLS, server from the JID's domain, Mozilla roots, no proxy.
    pub fn new(jid: &str, password: &str) -> Self {
        XmppConfig {
            jid: jid.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            resource: None,
            server: None,
            tls: TlsMode::StartTls,
            trusted_root: None,
            proxy: None,
        }
    }
}

impl std::fmt::Debug for XmppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppConfig")
            .field("jid", &self.jid)
            .field("password", &"<redacted>")
            .field("resource", &self.resource)
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("trusted_root", &self.trusted_root)
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// What the connection reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmppEvent {
    /// A `chat`/`normal` message with a body. `from` is the full JID as the server stamped it.
    Message {
        /// Sender's full JID.
        from: String,
        /// The body (for OTR: `?OTR...` text). Never log it.
        body: String,
        /// Which privacy hints the stanza carried.
        hints: ReceivedHints,
    },
    /// A contact (resource) became available or unavailable.
    Presence {
        /// Full (or bare) JID of the contact.
        from: String,
        /// `true` for available, `false` for `type="unavailable"`.
        available: bool,
    },
    /// The roster, at login (full list) and on each roster push (the changed items).
    Roster(Vec<RosterItem>),
    /// Someone asks to see our presence; answer with [`XmppClient::approve_subscription`]
    /// (or ignore it). Nothing is approved automatically.
    SubscriptionRequest {
        /// Bare JID asking.
        from: String,
    },
    /// An incoming file offer was refused (nothing is ever accepted automatically).
    FileOfferRefused {
        /// Who offered.
        from: String,
        /// What was offered (protocol and, if given, the file name), for display.
        what: String,
    },
    /// A message could not be delivered (the server bounced it with `type="error"`).
    MessageError {
        /// The JID the failed message was addressed to.
        from: String,
        /// The RFC 6120 error condition, e.g. `service-unavailable`.
        condition: String,
    },
    /// The connection ended; this is the last event.
    Disconnected {
        /// Why, for display.
        reason: String,
    },
}
