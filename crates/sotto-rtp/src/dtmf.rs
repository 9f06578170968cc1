//! RFC 4733 telephone events (DTMF digits as RTP payload).
//!
//! [`TelephoneEvent`] is the 4-byte payload (§2.3). [`DtmfSender`] produces the packet sequence
//! of §2.5.1 (first packet with the marker bit, updates with growing duration at the same
//! timestamp, the end packet sent three times). [`DtmfReceiver`] turns a possibly lossy and
//! duplicated stream back into one start and one end per event (§2.5.2).

use crate::error::{Result, RtpError};
use sotto_proto::Reader;

/// The RFC 4733 telephone-event payload (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D (§3.2), others per registry.
    pub event: u8,
    /// E bit: this is the end of the event.
    pub end: bool,
    /// Volume in −dBm0, 0–63 (6 bits).
    pub volume: u8,
    /// Duration so far in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the 4-byte payload. Extra bytes (redundant events are not used here) are an
    /// error.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let event = r.u8()?;
        let b = r.u8()?;
        let duration = r.u16()?;
        r.finish()?;
        Ok(Self {
            event,
            end: b & 0x80 != 0,
            volume: b & 0x3F,
            duration,
        })
    }

    /// The 4-byte payload. The R bit is always 0 (§2.3.3).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            if self.end { 0x80 } else { 0 } | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The DTMF character for events 0–15 (§3.2), if any.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// Maps a DTMF character to its event code (§3.2).
pub fn digit_to_event(c: char) -> Option<u8> {
    Some(match c {
        '0'..='9' => c as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => c as u8 - b'A' + 12,
        'a'..='d' => c as u8 - b'a' + 12,
        _ => return None,
    })
}

/// Maps an event code 0–15 to its DTMF character (§3.2).
pub fn event_to_digit(e: u8) -> Option<char> {
    Some(match e {
        0..=9 => (b'0' + e) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + e - 12) as char,
        _ => return None,
    })
}

/// One packet the sender wants transmitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Set the RTP marker bit (first packet of the event).
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for every packet of the event (§2.5.1.1).
    pub timestamp: u32,
    /// The payload.
    pub event: TelephoneEvent,
}

/// Produces the RFC 4733 §2.5.1 packet sequence for one event.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    volume: u8,
    start_ts: u32,
    step: u16,
    total: u16,
    sent: u16,
    end_sent: u8,
}

impl DtmfSender {
    /// An event starting at RTP timestamp `start_ts`, lasting `total` timestamp units, with an
    /// update every `step` units (typically 50 ms; at 8 kHz 400, at 48 kHz 2400).
    pub fn new(event: u8, volume: u8, start_ts: u32, total: u16, step: u16) -> Result<Self> {
        if step == 0 || total == 0 || volume > 63 {
            return Err(RtpError::Misuse {
                what: "DTMF needs step>0, total>0, volume 0-63",
            });
        }
        Ok(Self {
            event,
            volume,
            start_ts,
            step,
            total,
            sent: 0,
            end_sent: 0,
        })
    }

    /// The next packet to send (call once per `step`), or `None` when done. The end packet is
    /// repeated three times (§2.5.1.4).
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        if self.end_sent >= 3 {
            return None;
        }
        let first = self.sent == 0;
        self.sent = self.sent.saturating_add(self.step).min(self.total);
        let end = self.sent >= self.total;
        if end {
            self.end_sent += 1;
        }
        Some(DtmfPacket {
            marker: first,
            timestamp: self.start_ts,
            event: TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                duration: self.sent,
            },
        })
    }
}

/// What the receiver learned from a telephone-event packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfNotice {
    /// A new event began.
    Start {
        /// Event code.
        event: u8,
        /// Its RTP timestamp.
        timestamp: u32,
    },
    /// The event ended after `duration` timestamp units.
    End {
        /// Event code.
        event: u8,
        /// Its RTP timestamp.
        timestamp: u32,
        /// Final duration.
        duration: u16,
    },
}

/// Reassembles events from a lossy, duplicated packet stream (§2.5.2): an event is identified
/// by its RTP timestamp; start and end are each reported once, even if the first packet or
/// some end packets were lost.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    current: Option<(u32, u8)>,
    ended: Option<u32>,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one packet's timestamp and payload; returns up to two notices (a start and an
    /// end if the first packet seen is already an end packet).
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Result<[Option<DtmfNotice>; 2]> {
        let ev = TelephoneEvent::parse(payload)?;
        let mut out = [None, None];
        if self.ended == Some(timestamp) {
            return Ok(out); // a repeated end packet
        }
        if self.current.map(|(ts, _)| ts) != Some(timestamp) {
            self.current = Some((timestamp, ev.event));
            out[0] = Some(DtmfNotice::Start {
                event: ev.event,
                timestamp,
            });
        }
        if ev.end {
            self.ended = Some(timestamp);
            self.current = None;
            out[1] = Some(DtmfNotice::End {
                event: ev.event,
                timestamp,
                duration: ev.duration,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_layout_rfc4733_2_3() {
        // Event 5, E=1, volume 10, duration 800: 05 8A 03 20.
        let e = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.to_bytes(), [0x05, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&[0x05, 0x8A, 0x03, 0x20]).unwrap(), e);
        assert_eq!(e.digit(), Some('5'));
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_err());
        assert!(TelephoneEvent::parse(&[1, 2, 3, 4, 5]).is_err());
        for c in "0123456789*#ABCD".chars() {
            assert_eq!(event_to_digit(digit_to_event(c).unwrap()), Some(c));
        }
    }

    #[test]
    fn sender_sequence_and_receiver_dedup() {
        // 8 kHz, 160 ms event, 50 ms steps: durations 400, 800, 1200, 1280 (end ×3).
        let mut s = DtmfSender::new(11, 10, 1000, 1280, 400).unwrap();
        let pkts: Vec<_> = std::iter::from_fn(|| s.next_packet()).collect();
        let durs: Vec<u16> = pkts.iter().map(|p| p.event.duration).collect();
        assert_eq!(durs, [400, 800, 1200, 1280, 1280, 1280]);
        assert!(pkts[0].marker && pkts[1..].iter().all(|p| !p.marker));
        assert!(pkts.iter().all(|p| p.timestamp == 1000));
        assert_eq!(pkts.iter().filter(|p| p.event.end).count(), 3);

        let mut r = DtmfReceiver::new();
        let mut notices = Vec::new();
        // Lose the first packet and duplicate one.
        for p in pkts[1..].iter().chain([&pkts[2]]) {
            notices.extend(
                r.on_packet(p.timestamp, &p.event.to_bytes())
                    .unwrap()
                    .into_iter()
                    .flatten(),
            );
        }
        assert_eq!(
            notices,
            vec![
                DtmfNotice::Start {
                    event: 11,
                    timestamp: 1000
                },
                DtmfNotice::End {
                    event: 11,
                    timestamp: 1000,
                    duration: 1280
                },
            ]
        );
    }
}
