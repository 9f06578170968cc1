//! # sotto-rtp — RTP and RTCP packets (RFC 3550)
//!
//! Owns RTP/RTCP parsing and emitting (RFC 3550), extended sequence numbers and rollover
//! estimation, header extensions (RFC 8285), RTCP compound packets and statistics, and RFC 4733
//! telephone events. Sans-IO; cannot panic on any input.
