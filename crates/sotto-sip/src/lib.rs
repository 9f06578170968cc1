//! # sotto-sip — SIP (RFC 3261) and SDP (RFC 4566/3264)
//!
//! Owns SIP messages, transactions (timers A–K), dialogs, digest authentication and SDP
//! offer/answer including `a=zrtp-hash` (RFC 6189 §8). Sans-IO: no sockets and no clock; time
//! comes in as `now: Instant`, randomness through [`sotto_proto::crypto::Random`].
//!
//! ## Messages
//!
//! Peer bytes are parsed once, at the edge, by [`Message::parse`] (one datagram) or a
//! [`StreamDecoder`] (TCP). The parser takes what real peers send — compact header names, any
//! case, folded lines, several values per line or repeated lines, quoted strings with escapes,
//! IPv6 references — and rejects everything else with [`SipError::Malformed`], from which
//! [`SipError::reply`] builds the 400 (or 505) to send back. It never panics.
//!
//! ```
//! use sotto_sip::{Message, Method};
//!
//! let bytes = b"OPTIONS sip:bob@[2001:db8::1] SIP/2.0\r\n\
//!     v: SIP/2.0/UDP host.example;branch=z9hG4bK776;rport\r\n\
//!     f: <sip:alice@example.com>;tag=1\r\nt: sip:bob@[2001:db8::1]\r\n\
//!     i: abc@host\r\ncseq: 7 OPTIONS\r\nl: 0\r\n\r\n";
//! let Message::Request(req) = Message::parse(bytes)? else { unreachable!() };
//! assert_eq!(req.method, Method::Options);
//! assert_eq!(req.headers.top_via()?.rport(), Some(None));
//! let ok = req.reply(200, "OK", Some("xyz"));
//! assert_eq!(ok.headers.to()?.tag(), Some("xyz"));
//! # Ok::<(), sotto_sip::SipError>(())
//! ```
//!
//! The parser is hand-written over a bounds-checked, non-panicking character scanner rather
//! than taken from a crate: it must pass the RFC 4475 torture tests, property tests on
//! arbitrary and mutated bytes, and never allocate without bound (at most
//! [`MAX_MESSAGE_LEN`] bytes and [`MAX_HEADERS`] header lines). Emitting always writes
//! Content-Length from the body. Header values are kept as text (folding undone, compact names
//! expanded) and parsed into typed views on access ([`Headers::top_via`], [`Headers::from`],
//! [`Headers::cseq`], [`Headers::contacts`], [`Headers::authorization`]...); the parser has
//! already checked every header it knows, so those views succeed on a parsed message.
//!
//! ## Transports
//!
//! Over UDP hand each datagram to [`Message::parse`] (or [`UserAgent::handle_datagram`]);
//! Content-Length is optional, a shorter body is a 400, extra bytes are ignored (§18.3). Over
//! TCP (and TLS later) feed the byte stream to a [`StreamDecoder`], which frames messages by
//! the mandatory Content-Length, and give each message to [`UserAgent::handle_message`] with
//! [`transaction::Transport::Tcp`] (or `Tls`) in [`ua::UaConfig`] so that no retransmission
//! timer runs.
//!
//! ## Driving contract
//!
//! Transactions, registrations and the [`UserAgent`] look like every sotto engine: feed
//! inputs with `handle_*` (a datagram, a timeout, a user action), then drain
//! `poll_output()` and arm a timer for `poll_timeout()`.

mod error;
mod grammar;
mod headers;
mod message;
mod uri;

pub mod auth;
pub mod dialog;
pub mod register;
pub mod sdp;
pub mod transaction;
pub mod ua;

pub use error::{Malformed, Result, SipError};
pub use grammar::Params;
pub use headers::{
    BRANCH_MAGIC, CSeq, Contact, ContentType, Header, Headers, Method, NameAddr, Via,
    canonical_name,
};
pub use message::{
    Framing, MAX_HEADERS, MAX_MESSAGE_LEN, Message, Request, Response, StreamDecoder, new_branch,
    random_hex,
};
pub use ua::UserAgent;
pub use uri::{Host, SipUri, Uri};
