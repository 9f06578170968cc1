//! # sotto-call — the sans-IO orchestrator of one call
//!
//! Owns `Call`: the one state machine that ties a SIP dialog, SDP, ZRTP, SRTP, RTP and media
//! timing together, demultiplexes the shared media port (RTP, RTCP, ZRTP, STUN) and enforces the
//! security policy: no media is sent or played until ZRTP is secure. Sans-IO.
//!
//! Built so far:
//!
//! * [`demux`]: classifies a datagram arriving on the media port (RFC 7983, with ZRTP's magic
//!   cookie and RFC 5761 for RTCP on the RTP port).
//! * [`stun`]: STUN (RFC 5389) Binding requests parsed and answered, with short-term
//!   MESSAGE-INTEGRITY and FINGERPRINT, as ICE-capable peers such as Linphone send them.
//! * [`security`]: the security state a user sees (`Connecting` → `Secure` → `Verified`, or
//!   `Insecure` only when asked for) and the media gate that keeps clear media off the wire.
//!
//! * [`phone`]: the [`Phone`](phone::Phone), one SIP user agent with at most one call that
//!   ties SIP, SDP, ZRTP, SRTP, RTP and the audio timing together; RFC 4733 key presses
//!   (DTMF) both ways; RFC 3550 RTCP (SR/RR, a random CNAME, BYE) over SRTCP with the peer's
//!   loss, jitter and round-trip time in [`MediaStats`](phone::MediaStats); and, with an
//!   [`Account`](phone::Account), registration at a SIP registrar with digest authentication.

mod codec_path;
pub mod demux;
pub mod phone;
mod rtcp_session;
pub mod security;
pub mod stun;
