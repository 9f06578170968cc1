//! The one error type of sotto-sip, split by who is at fault.

use thiserror::Error;

use crate::message::Response;

/// Why a SIP or SDP operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SipError {
    /// Peer bytes are not a valid SIP message. [`Malformed::reply`] builds the response to send
    /// back (400, or 505 for an unknown SIP version) when enough of the request was readable.
    #[error("malformed SIP message: {0}")]
    Malformed(Box<Malformed>),
    /// A stream (TCP) holds only part of a message so far; feed more bytes.
    #[error("incomplete message: need more bytes")]
    Incomplete,
    /// Peer bytes are not valid SDP.
    #[error("malformed SDP: {what}")]
    MalformedSdp {
        /// Which part, in RFC 8866's words.
        what: &'static str,
    },
    /// The peer sent something well-formed but not allowed here (a protocol violation).
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(&'static str),
    /// The SDP offer shares no usable codec or stream with us (a 488 case).
    #[error("SDP offer not acceptable: {0}")]
    NotAcceptable(&'static str),
    /// Digest authentication could not be performed (unsupported algorithm or qop, missing
    /// parameters); deliberately without detail about secrets.
    #[error("authentication failed: {0}")]
    Auth(&'static str),
    /// The local caller used the API wrongly (e.g. answered a call twice).
    #[error("local misuse: {0}")]
    Misuse(&'static str),
}

/// Details of a malformed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// What was wrong, in RFC 3261's words.
    pub what: &'static str,
    /// The status code to answer with (400, 505, 413...).
    pub status: u16,
    /// The request as far as it could be read, to build the reply from.
    pub(crate) partial: Option<crate::headers::Headers>,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.what, self.status)
    }
}

impl Malformed {
    /// The response to send back (RFC 3261 §8.2 / §21.4.1), when the offending message was a
    /// request whose Via, From, To, Call-ID and CSeq could be read. `None` for responses and
    /// for garbage (a malformed response is silently dropped, §18.1.2 / §18.3).
    pub fn reply(&self) -> Option<Response> {
        let headers = self.partial.as_ref()?;
        let reason = match self.status {
            505 => "Version Not Supported",
            513 => "Message Too Large",
            413 => "Request Entity Too Large",
            _ => "Bad Request",
        };
        crate::message::Response::try_reply_raw(headers, self.status, reason)
    }
}

impl SipError {
    pub(crate) fn malformed(what: &'static str) -> Self {
        Self::Malformed(Box::new(Malformed {
            what,
            status: 400,
            partial: None,
        }))
    }

    pub(crate) fn malformed_status(what: &'static str, status: u16) -> Self {
        Self::Malformed(Box::new(Malformed {
            what,
            status,
            partial: None,
        }))
    }

    pub(crate) fn sdp(what: &'static str) -> Self {
        Self::MalformedSdp { what }
    }

    /// The reply to send for a malformed request, if one can be built (see [`Malformed::reply`]).
    pub fn reply(&self) -> Option<Response> {
        match self {
            Self::Malformed(m) => m.reply(),
            _ => None,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = SipError> = std::result::Result<T, E>;
