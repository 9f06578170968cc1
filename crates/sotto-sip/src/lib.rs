//! # sotto-sip — SIP (RFC 3261) and SDP (RFC 4566/3264)
//!
//! Owns SIP messages, transactions (timers A–K), dialogs, digest authentication and SDP
//! offer/answer including `a=zrtp-hash` (RFC 6189 §8). Sans-IO.
