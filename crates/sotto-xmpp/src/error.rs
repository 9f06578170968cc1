//! The one error type of this crate, split by fault.

/// Everything that can go wrong on an XMPP connection, by whose fault.
///
/// Messages never carry message bodies or passwords.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmppError {
    /// The network failed: connect refused, reset, timed out, closed early.
    #[error("network: {0}")]
    Network(String),
    /// The SOCKS5 proxy refused or misbehaved (RFC 1928 / RFC 1929).
    #[error("SOCKS5 proxy: {0}")]
    Proxy(String),
    /// The server's certificate was not accepted (unknown issuer, wrong name, expired...).
    #[error("TLS certificate rejected: {0}")]
    Certificate(String),
    /// TLS failed for another reason (handshake, alert, server does not offer STARTTLS).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server rejected our credentials (SASL `<failure/>`), or its SCRAM proof was wrong.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The server sent something that is not valid XMPP for this point of the stream
    /// (malformed XML, unexpected element, stream error).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The caller asked for something impossible (bad JID, bad config, closed client).
    #[error("local misuse: {0}")]
    Misuse(String),
    /// The connection is closed; no more stanzas can be sent.
    #[error("connection closed")]
    Closed,
}

impl XmppError {
    pub(crate) fn net(e: &std::io::Error) -> Self {
        XmppError::Network(e.to_string())
    }
}
