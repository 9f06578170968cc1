//! RTP data packets (RFC 3550 §5.1) and header extensions (RFC 3550 §5.3.1, RFC 8285).
//!
//! Two layers, as in smoltcp: [`RtpPacket`] is a checked zero-copy view over a buffer whose
//! lengths were validated once; [`RtpRepr`] is the typed form with [`RtpRepr::parse`] and
//! [`RtpRepr::emit`]. Neither allocates.

use crate::error::{Result, RtpError};
use sotto_proto::{Reader, SliceWriter, Ssrc};

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;
/// Largest CSRC count the 4-bit CC field can carry.
pub const MAX_CSRC: usize = 15;
/// The "defined by profile" value of a one-byte header extension block (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// The "defined by profile" value of a two-byte block, with the 4 "appbits" cleared
/// (RFC 8285 §4.3).
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// An RTP payload type (7 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// PCMU, G.711 µ-law (RFC 3551).
    pub const PCMU: Self = Self(0);
    /// PCMA, G.711 A-law (RFC 3551).
    pub const PCMA: Self = Self(8);

    /// A payload type, or `None` if `v` does not fit in 7 bits.
    pub fn new(v: u8) -> Option<Self> {
        (v < 128).then_some(Self(v))
    }

    /// The 7-bit value.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Up to 15 contributing sources, stored inline (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsrcList {
    len: u8,
    ids: [u32; MAX_CSRC],
}

impl CsrcList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a list from a slice, or fails if it has more than 15 entries.
    pub fn from_slice(ids: &[u32]) -> Result<Self> {
        let mut list = Self::new();
        for &id in ids {
            list.push(id)?;
        }
        Ok(list)
    }

    /// Appends a CSRC, or fails if the list is full.
    pub fn push(&mut self, id: u32) -> Result<()> {
        let slot = self
            .ids
            .get_mut(usize::from(self.len))
            .ok_or(RtpError::Misuse {
                what: "more than 15 CSRCs",
            })?;
        *slot = id;
        self.len += 1;
        Ok(())
    }

    /// The CSRCs as a slice.
    pub fn as_slice(&self) -> &[u32] {
        self.ids.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Number of CSRCs.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The raw header extension block (RFC 3550 §5.3.1): the 16-bit profile value and the data,
/// whose length is a multiple of four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// The "defined by profile" field (0xBEDE for one-byte, 0x100X for two-byte elements).
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes long.
    pub data: &'a [u8],
}

/// Which RFC 8285 form a header extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte headers (RFC 8285 §4.2): ids 1–14, 1–16 data bytes.
    OneByte,
    /// Two-byte headers (RFC 8285 §4.3): ids 1–255, 0–255 data bytes; the 4 appbits.
    TwoByte {
        /// The application-dependent low 4 bits of the profile field.
        app_bits: u8,
    },
}

/// One RFC 8285 extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// The local identifier negotiated with `a=extmap`.
    pub id: u8,
    /// The element's data.
    pub data: &'a [u8],
}

impl<'a> HeaderExtension<'a> {
    /// The RFC 8285 form of this block, or `None` for a block in some other profile-specific
    /// format.
    pub fn form(&self) -> Option<ExtensionForm> {
        if self.profile == ONE_BYTE_PROFILE {
            Some(ExtensionForm::OneByte)
        } else if self.profile & 0xFFF0 == TWO_BYTE_PROFILE {
            Some(ExtensionForm::TwoByte {
                app_bits: (self.profile & 0x000F) as u8,
            })
        } else {
            None
        }
    }

    /// Iterates over the RFC 8285 elements. Yields nothing for a block in another format; yields
    /// an error (and then stops) on a truncated element.
    pub fn elements(&self) -> ExtensionElements<'a> {
        ExtensionElements {
            reader: Reader::new(self.data),
            form: self.form(),
            done: false,
        }
    }
}

/// Iterator over RFC 8285 extension elements; see [`HeaderExtension::elements`].
#[derive(Debug, Clone)]
pub struct ExtensionElements<'a> {
    reader: Reader<'a>,
    form: Option<ExtensionForm>,
    done: bool,
}

impl<'a> Iterator for ExtensionElements<'a> {
    type Item = Result<ExtensionElement<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let form = self.form?;
        loop {
            let Ok(b) = self.reader.u8() else {
                self.done = true;
                return None;
            };
            if b == 0 {
                // Padding byte between or after elements (RFC 8285 §4.2, §4.3).
                continue;
            }
            let (id, len) = match form {
                ExtensionForm::OneByte => {
                    let id = b >> 4;
                    if id == 15 {
                        // "the local identifier value 15 is reserved ... the process MUST
                        // stop processing the header extension" (RFC 8285 §4.2).
                        self.done = true;
                        return None;
                    }
                    (id, usize::from(b & 0x0F) + 1)
                }
                ExtensionForm::TwoByte { .. } => match self.reader.u8() {
                    Ok(l) => (b, usize::from(l)),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.into()));
                    }
                },
            };
            return match self.reader.take_named(len, "extension element") {
                Ok(data) => Some(Ok(ExtensionElement { id, data })),
                Err(e) => {
                    self.done = true;
                    Some(Err(e.into()))
                }
            };
        }
    }
}

/// Writes RFC 8285 elements into `out` (zero-padded to a multiple of 4 bytes) and returns the
/// profile value and the number of bytes written, ready for [`HeaderExtension`].
pub fn emit_extension_elements(
    form: ExtensionForm,
    elements: &[ExtensionElement<'_>],
    out: &mut [u8],
) -> Result<(u16, usize)> {
    let mut w = SliceWriter::new(out);
    let profile = match form {
        ExtensionForm::OneByte => ONE_BYTE_PROFILE,
        ExtensionForm::TwoByte { app_bits } => {
            if app_bits > 0x0F {
                return Err(RtpError::Misuse {
                    what: "two-byte appbits over 4 bits",
                });
            }
            TWO_BYTE_PROFILE | u16::from(app_bits)
        }
    };
    for el in elements {
        match form {
            ExtensionForm::OneByte => {
                if !(1..=14).contains(&el.id) || el.data.is_empty() || el.data.len() > 16 {
                    return Err(RtpError::Misuse {
                        what: "one-byte element needs id 1-14 and 1-16 bytes",
                    });
                }
                w.u8((el.id << 4) | (el.data.len() as u8 - 1))?;
            }
            ExtensionForm::TwoByte { .. } => {
                let len = u8::try_from(el.data.len()).map_err(|_| RtpError::Misuse {
                    what: "two-byte element longer than 255 bytes",
                })?;
                if el.id == 0 {
                    return Err(RtpError::Misuse {
                        what: "extension element id 0",
                    });
                }
                w.u8(el.id)?;
                w.u8(len)?;
            }
        }
        w.bytes(el.data)?;
    }
    while !w.position().is_multiple_of(4) {
        w.u8(0)?;
    }
    Ok((profile, w.position()))
}

/// A checked view of an RTP packet: lengths were validated once by [`RtpPacket::new_checked`],
/// so the accessors cannot fail.
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    payload_end: usize,
}

fn byte(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

fn be_u16(buf: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([byte(buf, i), byte(buf, i + 1)])
}

fn be_u32(buf: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([
        byte(buf, i),
        byte(buf, i + 1),
        byte(buf, i + 2),
        byte(buf, i + 3),
    ])
}

impl<'a> RtpPacket<'a> {
    /// Validates the lengths of an RTP packet: version 2, the CSRC list, the extension block and
    /// the padding count all fit inside `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let b0 = r.u8()?;
        r.take_named(FIXED_HEADER_LEN - 1, "RTP fixed header")?;
        if b0 >> 6 != 2 {
            return Err(RtpError::Invalid {
                what: "RTP version",
            });
        }
        r.take_named(usize::from(b0 & 0x0F) * 4, "CSRC list")?;
        if b0 & 0x10 != 0 {
            let _profile = r.u16()?;
            let words = r.u16()?;
            r.take_named(usize::from(words) * 4, "header extension")?;
        }
        let header_len = r.position();
        let mut payload_end = buf.len();
        if b0 & 0x20 != 0 {
            let pad = usize::from(buf.last().copied().unwrap_or(0));
            if pad == 0 || pad > r.remaining() {
                return Err(RtpError::Invalid {
                    what: "RTP padding count",
                });
            }
            payload_end -= pad;
        }
        Ok(Self {
            buf,
            header_len,
            payload_end,
        })
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// The P bit.
    pub fn has_padding(&self) -> bool {
        byte(self.buf, 0) & 0x20 != 0
    }
    /// Number of padding bytes (including the count byte).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }
    /// The M bit.
    pub fn marker(&self) -> bool {
        byte(self.buf, 1) & 0x80 != 0
    }
    /// The payload type.
    pub fn payload_type(&self) -> PayloadType {
        PayloadType(byte(self.buf, 1) & 0x7F)
    }
    /// The 16-bit sequence number.
    pub fn sequence_number(&self) -> u16 {
        be_u16(self.buf, 2)
    }
    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        be_u32(self.buf, 4)
    }
    /// The synchronization source.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(be_u32(self.buf, 8))
    }
    /// The contributing sources.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let n = usize::from(byte(self.buf, 0) & 0x0F);
        let buf = self.buf;
        (0..n).map(move |i| be_u32(buf, FIXED_HEADER_LEN + 4 * i))
    }
    /// The header extension block, if the X bit is set.
    pub fn extension(&self) -> Option<HeaderExtension<'a>> {
        if byte(self.buf, 0) & 0x10 == 0 {
            return None;
        }
        let at = FIXED_HEADER_LEN + 4 * usize::from(byte(self.buf, 0) & 0x0F);
        Some(HeaderExtension {
            profile: be_u16(self.buf, at),
            data: self.buf.get(at + 4..self.header_len).unwrap_or_default(),
        })
    }
    /// Length of the header, CSRCs and extension included.
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(self.header_len..self.payload_end)
            .unwrap_or_default()
    }
}

/// The typed form of an RTP packet (RFC 3550 §5.1). Borrowed payload and extension; no
/// allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpRepr<'a> {
    /// The M bit.
    pub marker: bool,
    /// The payload type.
    pub payload_type: PayloadType,
    /// The 16-bit sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronization source.
    pub ssrc: Ssrc,
    /// Contributing sources.
    pub csrcs: CsrcList,
    /// The header extension block, if any.
    pub extension: Option<HeaderExtension<'a>>,
    /// The payload.
    pub payload: &'a [u8],
    /// Padding bytes to append (0 for none; otherwise 1–255 including the count byte).
    pub padding: u8,
}

impl<'a> RtpRepr<'a> {
    /// Parses a packet (RFC 3550 §5.1), checking every length.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let p = RtpPacket::new_checked(buf)?;
        let mut csrcs = CsrcList::new();
        for c in p.csrcs() {
            csrcs.push(c)?;
        }
        Ok(Self {
            marker: p.marker(),
            payload_type: p.payload_type(),
            sequence_number: p.sequence_number(),
            timestamp: p.timestamp(),
            ssrc: p.ssrc(),
            csrcs,
            extension: p.extension(),
            payload: p.payload(),
            padding: u8::try_from(p.padding_len()).unwrap_or(u8::MAX),
        })
    }

    /// Length of the header (fixed part, CSRCs and extension).
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN
            + 4 * self.csrcs.len()
            + self.extension.map(|e| 4 + e.data.len()).unwrap_or(0)
    }

    /// Total length [`RtpRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len() + usize::from(self.padding)
    }

    /// Writes the packet into `out` and returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let mut w = SliceWriter::new(out);
        let ext_words = match self.extension {
            Some(e) => {
                if e.data.len() % 4 != 0 {
                    return Err(RtpError::Misuse {
                        what: "extension data not a multiple of 4 bytes",
                    });
                }
                Some(
                    u16::try_from(e.data.len() / 4).map_err(|_| RtpError::Misuse {
                        what: "extension data too long",
                    })?,
                )
            }
            None => None,
        };
        let b0 = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | self.csrcs.len() as u8;
        w.u8(b0)?;
        w.u8(if self.marker { 0x80 } else { 0 } | self.payload_type.get())?;
        w.u16(self.sequence_number)?;
        w.u32(self.timestamp)?;
        w.u32(self.ssrc.0)?;
        for &c in self.csrcs.as_slice() {
            w.u32(c)?;
        }
        if let (Some(e), Some(words)) = (self.extension, ext_words) {
            w.u16(e.profile)?;
            w.u16(words)?;
            w.bytes(e.data)?;
        }
        w.bytes(self.payload)?;
        if self.padding > 0 {
            for _ in 1..self.padding {
                w.u8(0)?;
            }
            w.u8(self.padding)?;
        }
        Ok(w.position())
    }

    /// Emits into a new `Vec` (convenience for tests and non-hot paths).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.buffer_len()];
        let n = self.emit(&mut v)?;
        v.truncate(n);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 3550 §5.1 layout, hand-assembled: V=2, P=0, X=0, CC=1, M=1, PT=111, seq=0x1234,
    // ts=0xDEADBEEF, SSRC=0x01020304, CSRC=0x0A0B0C0D, payload "hi".
    const SIMPLE: [u8; 18] = [
        0x81, 0xEF, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D, b'h',
        b'i',
    ];

    #[test]
    fn parses_fixed_header_and_csrc() {
        let r = RtpRepr::parse(&SIMPLE).unwrap();
        assert!(r.marker);
        assert_eq!(r.payload_type.get(), 111);
        assert_eq!(r.sequence_number, 0x1234);
        assert_eq!(r.timestamp, 0xDEAD_BEEF);
        assert_eq!(r.ssrc, Ssrc(0x0102_0304));
        assert_eq!(r.csrcs.as_slice(), &[0x0A0B_0C0D]);
        assert_eq!(r.payload, b"hi");
        assert_eq!(r.to_vec().unwrap(), SIMPLE);
    }

    #[test]
    fn padding_is_stripped_and_checked() {
        // P=1 with 3 padding bytes (RFC 3550 §5.1: last octet counts the padding).
        let mut p = vec![0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0, 0, 3];
        let r = RtpRepr::parse(&p).unwrap();
        assert_eq!(r.payload, &[0xAA]);
        assert_eq!(r.padding, 3);
        assert_eq!(r.to_vec().unwrap(), p);
        *p.last_mut().unwrap() = 0;
        assert!(RtpRepr::parse(&p).is_err());
        *p.last_mut().unwrap() = 5;
        assert!(RtpRepr::parse(&p).is_err());
    }

    #[test]
    fn rejects_version_and_truncation() {
        let mut p = SIMPLE;
        p[0] = 0x41;
        assert!(matches!(RtpRepr::parse(&p), Err(RtpError::Invalid { .. })));
        assert!(RtpRepr::parse(&SIMPLE[..14]).is_err());
        assert!(RtpRepr::parse(&[]).is_err());
    }

    #[test]
    fn one_byte_extension_example_rfc8285() {
        // RFC 8285 §4.2 figure: 0xBEDE, length=3, elements ID=1 L=0 (1 byte), ID=2 L=1
        // (2 bytes), then padding, ID=3 L=3 (4 bytes).
        let data = [
            0x10, 0xAA, 0x21, 0xBB, 0xBB, 0x00, 0x00, 0x33, 0xCC, 0xCC, 0xCC, 0xCC,
        ];
        let ext = HeaderExtension {
            profile: ONE_BYTE_PROFILE,
            data: &data,
        };
        let els: Vec<_> = ext.elements().map(|e| e.unwrap()).collect();
        assert_eq!(els.len(), 3);
        assert_eq!((els[0].id, els[0].data), (1, &[0xAA][..]));
        assert_eq!((els[1].id, els[1].data), (2, &[0xBB, 0xBB][..]));
        assert_eq!((els[2].id, els[2].data), (3, &[0xCC; 4][..]));
        // Id 15 stops processing.
        let stop = [0x10, 0xAA, 0xF0, 0x21, 0xBB, 0xBB, 0, 0];
        let ext = HeaderExtension {
            profile: ONE_BYTE_PROFILE,
            data: &stop,
        };
        assert_eq!(ext.elements().count(), 1);
    }

    #[test]
    fn two_byte_extension_allows_empty_and_long() {
        let long = [7u8; 40];
        let els = [
            ExtensionElement { id: 1, data: &[] },
            ExtensionElement {
                id: 200,
                data: &long,
            },
        ];
        let mut buf = [0u8; 64];
        let (profile, n) =
            emit_extension_elements(ExtensionForm::TwoByte { app_bits: 5 }, &els, &mut buf)
                .unwrap();
        assert_eq!(profile, 0x1005);
        assert_eq!(n % 4, 0);
        let ext = HeaderExtension {
            profile,
            data: &buf[..n],
        };
        assert_eq!(ext.form(), Some(ExtensionForm::TwoByte { app_bits: 5 }));
        let back: Vec<_> = ext.elements().map(|e| e.unwrap()).collect();
        assert_eq!(back, els);
    }

    #[test]
    fn full_packet_with_extension_round_trips() {
        let mut ext_buf = [0u8; 32];
        let els = [ExtensionElement {
            id: 3,
            data: &[0x80],
        }];
        let (profile, n) =
            emit_extension_elements(ExtensionForm::OneByte, &els, &mut ext_buf).unwrap();
        let repr = RtpRepr {
            marker: false,
            payload_type: PayloadType::new(96).unwrap(),
            sequence_number: 65535,
            timestamp: 960,
            ssrc: Ssrc(42),
            csrcs: CsrcList::from_slice(&[1, 2, 3]).unwrap(),
            extension: Some(HeaderExtension {
                profile,
                data: &ext_buf[..n],
            }),
            payload: &[1, 2, 3, 4, 5],
            padding: 4,
        };
        let bytes = repr.to_vec().unwrap();
        assert_eq!(RtpRepr::parse(&bytes).unwrap(), repr);
        let view = RtpPacket::new_checked(&bytes).unwrap();
        let got: Vec<_> = view.extension().unwrap().elements().collect();
        assert_eq!(got, vec![Ok(els[0])]);
    }

    fn arb_elements(two_byte: bool) -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        if two_byte {
            prop::collection::vec((1u8..=255, prop::collection::vec(any::<u8>(), 0..40)), 0..6)
                .boxed()
        } else {
            prop::collection::vec((1u8..=14, prop::collection::vec(any::<u8>(), 1..=16)), 0..6)
                .boxed()
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = RtpPacket::new_checked(&bytes) {
                let _ = p.payload();
                if let Some(e) = p.extension() { for el in e.elements() { let _ = el; } }
                let _ = p.csrcs().count();
            }
            let _ = RtpRepr::parse(&bytes);
        }

        #[test]
        fn repr_round_trips(
            marker in any::<bool>(), pt in 0u8..128, seq in any::<u16>(), ts in any::<u32>(),
            ssrc in any::<u32>(), csrcs in prop::collection::vec(any::<u32>(), 0..=15),
            two_byte in any::<bool>(), app in 0u8..16,
            els in (any::<bool>()).prop_flat_map(arb_elements),
            has_ext in any::<bool>(),
            payload in prop::collection::vec(any::<u8>(), 0..100), padding in any::<u8>(),
        ) {
            let form = if two_byte { ExtensionForm::TwoByte { app_bits: app } } else { ExtensionForm::OneByte };
            let els: Vec<(u8, Vec<u8>)> = els.into_iter()
                .filter(|(id, d)| two_byte || ((1..=14).contains(id) && !d.is_empty() && d.len() <= 16))
                .collect();
            let borrowed: Vec<ExtensionElement<'_>> = els.iter().map(|(id, d)| ExtensionElement { id: *id, data: d }).collect();
            let mut ext_buf = vec![0u8; 2048];
            let (profile, n) = emit_extension_elements(form, &borrowed, &mut ext_buf).unwrap();
            let repr = RtpRepr {
                marker, payload_type: PayloadType::new(pt).unwrap(), sequence_number: seq,
                timestamp: ts, ssrc: Ssrc(ssrc), csrcs: CsrcList::from_slice(&csrcs).unwrap(),
                extension: has_ext.then(|| HeaderExtension { profile, data: &ext_buf[..n] }),
                payload: &payload, padding,
            };
            let bytes = repr.to_vec().unwrap();
            prop_assert_eq!(bytes.len(), repr.buffer_len());
            let back = RtpRepr::parse(&bytes).unwrap();
            prop_assert_eq!(back, repr);
            if has_ext {
                let got: Vec<ExtensionElement<'_>> = back.extension.unwrap().elements().map(|e| e.unwrap()).collect();
                prop_assert_eq!(got, borrowed);
            }
        }
    }
}
