//! # sotto-call — the sans-IO orchestrator of one call
//!
//! Owns `Call`: the one state machine that ties a SIP dialog, SDP, ZRTP, SRTP, RTP and media
//! timing together, demultiplexes the shared media port (RTP, RTCP, ZRTP, STUN) and enforces the
//! security policy: no media is sent or played until ZRTP is secure. Sans-IO.
