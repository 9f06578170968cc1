//! # sotto-rtp — RTP and RTCP packets (RFC 3550)
//!
//! Owns RTP/RTCP parsing and emitting (RFC 3550), extended sequence numbers, header extensions
//! (RFC 8285 one- and two-byte forms), RTCP compound packets and receiver statistics
//! (RFC 3550 Appendix A), RFC 4733 telephone events and RFC 2198 redundant audio (RED). Sans-IO; cannot panic on any input.
//!
//! The wire model has two layers: a checked view ([`RtpPacket`]) that validates lengths once,
//! and a typed form ([`RtpRepr`], [`RtcpPacket`]) with `parse` and `emit`.
//!
//! ```
//! use sotto_rtp::{PayloadType, RtpRepr, CsrcList, SeqExtender, ReceiverStats};
//! use sotto_proto::Ssrc;
//!
//! let frame = [0u8; 40]; // an encoded Opus frame
//! let repr = RtpRepr {
//!     marker: true,
//!     payload_type: PayloadType::new(111).unwrap(),
//!     sequence_number: 65535,
//!     timestamp: 0,
//!     ssrc: Ssrc(0x1234),
//!     csrcs: CsrcList::new(),
//!     extension: None,
//!     payload: &frame,
//!     padding: 0,
//! };
//! let mut buf = [0u8; 1500];
//! let n = repr.emit(&mut buf)?;
//! let back = RtpRepr::parse(&buf[..n])?;
//! assert_eq!(back.payload, &frame);
//!
//! // Receiver side: extended sequence numbers and RFC 3550 statistics.
//! let mut ext = SeqExtender::new();
//! let index = ext.extend(back.sequence_number);
//! assert_eq!(ext.extend(0), index + 1); // wrapped
//! let mut stats = ReceiverStats::new(back.ssrc, 48_000, back.sequence_number);
//! stats.on_packet_units(0, back.sequence_number, back.timestamp);
//! # Ok::<(), sotto_rtp::RtpError>(())
//! ```

mod dtmf;
mod error;
mod red;
mod rtcp;
mod rtp;
mod seq;
mod stats;

pub use dtmf::{
    DtmfNotice, DtmfPacket, DtmfReceiver, DtmfSender, TelephoneEvent, digit_to_event,
    event_to_digit,
};
pub use error::{Result, RtpError};
pub use red::{MAX_RED_BLOCKS, RedBlock, RedPayload, emit_red};
pub use rtcp::{
    App, Bye, Compound, PT_APP, PT_BYE, PT_RR, PT_SDES, PT_SR, ReceiverReport, ReportBlock,
    RtcpPacket, SDES_CNAME, SdesChunk, SdesItem, SenderInfo, SenderReport, ntp_middle,
};
pub use rtp::{
    CsrcList, ExtensionElement, ExtensionElements, ExtensionForm, FIXED_HEADER_LEN,
    HeaderExtension, MAX_CSRC, ONE_BYTE_PROFILE, PayloadType, RtpPacket, RtpRepr, TWO_BYTE_PROFILE,
    emit_extension_elements,
};
pub use seq::SeqExtender;
pub use stats::{
    IntervalParams, ReceiverStats, SeqVerdict, rtcp_deterministic_interval, rtcp_interval,
    rtcp_interval_random, update_avg_rtcp_size,
};
