//! OTR binary encodings (spec "Data Types": BYTE, SHORT, INT, MPI, DATA, CTR, MAC) and the
//! binary messages of protocol versions 2 and 3: D-H Commit, D-H Key, Reveal Signature,
//! Signature and Data, plus the TLV records carried inside data messages.
//!
//! Every parser reads through [`sotto_proto::Reader`], which cannot panic, and rejects trailing
//! bytes.

use crate::OtrError;
use sotto_proto::Reader;

/// Message type bytes (spec "OTR Messages").
pub(crate) const TYPE_DH_COMMIT: u8 = 0x02;
pub(crate) const TYPE_DATA: u8 = 0x03;
pub(crate) const TYPE_DH_KEY: u8 = 0x0a;
pub(crate) const TYPE_REVEAL_SIG: u8 = 0x11;
pub(crate) const TYPE_SIGNATURE: u8 = 0x12;

/// Data message flag: do not complain if this message cannot be read.
pub(crate) const FLAG_IGNORE_UNREADABLE: u8 = 0x01;

/// Largest MPI / DATA field we accept (a 1 MiB message is far beyond any IM network).
const MAX_FIELD: usize = 1 << 20;

/// TLV types (spec "Tagged Length Value (TLV) records").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlvType {
    /// 0: padding, ignored.
    Padding,
    /// 1: the sender has ended the private conversation.
    Disconnected,
    /// 2: SMP message 1.
    Smp1,
    /// 3: SMP message 2.
    Smp2,
    /// 4: SMP message 3.
    Smp3,
    /// 5: SMP message 4.
    Smp4,
    /// 6: SMP abort.
    SmpAbort,
    /// 7: SMP message 1 with a question.
    Smp1Q,
    /// 8: extra symmetric key (v3).
    ExtraSymmetricKey,
    /// Any other type, kept so it can be ignored.
    Unknown(u16),
}

impl TlvType {
    /// The type from its wire value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            0 => Self::Padding,
            1 => Self::Disconnected,
            2 => Self::Smp1,
            3 => Self::Smp2,
            4 => Self::Smp3,
            5 => Self::Smp4,
            6 => Self::SmpAbort,
            7 => Self::Smp1Q,
            8 => Self::ExtraSymmetricKey,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Padding => 0,
            Self::Disconnected => 1,
            Self::Smp1 => 2,
            Self::Smp2 => 3,
            Self::Smp3 => 4,
            Self::Smp4 => 5,
            Self::SmpAbort => 6,
            Self::Smp1Q => 7,
            Self::ExtraSymmetricKey => 8,
            Self::Unknown(v) => v,
        }
    }
}

/// One TLV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Record type.
    pub typ: TlvType,
    /// Record value.
    pub value: Vec<u8>,
}

/// Split a decrypted data-message payload into the human message and its TLVs
/// (spec: "the plaintext message, optionally followed by a single NUL and TLV records").
pub fn parse_payload(plain: &[u8]) -> Result<(Vec<u8>, Vec<Tlv>), OtrError> {
    let Some(nul) = plain.iter().position(|b| *b == 0) else {
        return Ok((plain.to_vec(), Vec::new()));
    };
    let msg = plain.get(..nul).unwrap_or_default().to_vec();
    let mut r = Reader::new(plain.get(nul + 1..).unwrap_or_default());
    let mut tlvs = Vec::new();
    while !r.is_empty() {
        let typ = TlvType::from_u16(r.u16()?);
        let len = usize::from(r.u16()?);
        let value = r.take_named(len, "TLV value")?.to_vec();
        tlvs.push(Tlv { typ, value });
    }
    Ok((msg, tlvs))
}

/// Build a data-message payload: message bytes, then a NUL and the TLVs if there are any.
pub(crate) fn emit_payload(msg: &[u8], tlvs: &[Tlv]) -> Result<Vec<u8>, OtrError> {
    let mut out = msg.to_vec();
    if !tlvs.is_empty() {
        out.push(0);
        for t in tlvs {
            let len = u16::try_from(t.value.len()).map_err(|_| OtrError::Misuse("TLV too long"))?;
            out.extend_from_slice(&t.typ.to_u16().to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&t.value);
        }
    }
    Ok(out)
}

/// Append an MPI: 4-byte big-endian length, then the minimal big-endian magnitude.
pub(crate) fn put_mpi(out: &mut Vec<u8>, be: &[u8]) {
    let first = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    let v = be.get(first..).unwrap_or_default();
    put_data(out, v);
}

/// Append DATA: 4-byte big-endian length, then the bytes.
pub(crate) fn put_data(out: &mut Vec<u8>, v: &[u8]) {
    // Lengths we produce are far below 4 GiB; saturate rather than panic.
    let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(v);
}

/// Read DATA.
pub(crate) fn read_data<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], OtrError> {
    let len = r.u32()? as usize;
    if len > MAX_FIELD {
        return Err(OtrError::Malformed("field too long"));
    }
    Ok(r.take_named(len, "DATA")?)
}

/// Read an MPI (its magnitude bytes; leading zeros tolerated).
pub(crate) fn read_mpi<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], OtrError> {
    read_data(r)
}

/// The header shared by all binary messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Protocol version, 2 or 3.
    pub version: u16,
    /// Message type byte.
    pub msg_type: u8,
    /// Sender instance tag (v3 only; 0 in v2).
    pub sender_tag: u32,
    /// Receiver instance tag (v3 only; 0 in v2).
    pub receiver_tag: u32,
}

impl Header {
    fn parse(r: &mut Reader<'_>) -> Result<Self, OtrError> {
        let version = r.u16()?;
        let msg_type = r.u8()?;
        let (sender_tag, receiver_tag) = match version {
            3 => (r.u32()?, r.u32()?),
            2 => (0, 0),
            _ => return Err(OtrError::Malformed("unsupported protocol version")),
        };
        Ok(Self {
            version,
            msg_type,
            sender_tag,
            receiver_tag,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(self.msg_type);
        if self.version == 3 {
            out.extend_from_slice(&self.sender_tag.to_be_bytes());
            out.extend_from_slice(&self.receiver_tag.to_be_bytes());
        }
    }
}

/// A data message (spec "Data Message").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataMsg {
    pub flags: u8,
    pub sender_keyid: u32,
    pub recipient_keyid: u32,
    pub next_dh: Vec<u8>,
    pub ctr: [u8; 8],
    pub enc: Vec<u8>,
    pub mac: [u8; 20],
    pub old_mac_keys: Vec<u8>,
    /// Length of the authenticated prefix of the encoded message (header through `enc`).
    pub authed_len: usize,
}

/// A parsed binary OTR message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    DhCommit {
        enc_gx: Vec<u8>,
        hash_gx: Vec<u8>,
    },
    DhKey {
        gy: Vec<u8>,
    },
    RevealSig {
        r: Vec<u8>,
        enc_sig: Vec<u8>,
        mac: [u8; 20],
    },
    Signature {
        enc_sig: Vec<u8>,
        mac: [u8; 20],
    },
    Data(DataMsg),
}

/// Parse a decoded (binary) OTR message.
pub(crate) fn parse_message(buf: &[u8]) -> Result<(Header, Message), OtrError> {
    let mut r = Reader::new(buf);
    let header = Header::parse(&mut r)?;
    let msg = match header.msg_type {
        TYPE_DH_COMMIT => Message::DhCommit {
            enc_gx: read_data(&mut r)?.to_vec(),
            hash_gx: read_data(&mut r)?.to_vec(),
        },
        TYPE_DH_KEY => Message::DhKey {
            gy: read_mpi(&mut r)?.to_vec(),
        },
        TYPE_REVEAL_SIG => Message::RevealSig {
            r: read_data(&mut r)?.to_vec(),
            enc_sig: read_data(&mut r)?.to_vec(),
            mac: r.take_array::<20>()?,
        },
        TYPE_SIGNATURE => Message::Signature {
            enc_sig: read_data(&mut r)?.to_vec(),
            mac: r.take_array::<20>()?,
        },
        TYPE_DATA => {
            let flags = r.u8()?;
            let sender_keyid = r.u32()?;
            let recipient_keyid = r.u32()?;
            let next_dh = read_mpi(&mut r)?.to_vec();
            let ctr = r.take_array::<8>()?;
            let enc = read_data(&mut r)?.to_vec();
            let authed_len = r.position();
            let mac = r.take_array::<20>()?;
            let old_mac_keys = read_data(&mut r)?.to_vec();
            Message::Data(DataMsg {
                flags,
                sender_keyid,
                recipient_keyid,
                next_dh,
                ctr,
                enc,
                mac,
                old_mac_keys,
                authed_len,
            })
        }
        _ => return Err(OtrError::Malformed("unknown message type")),
    };
    r.finish()?;
    Ok((header, msg))
}

/// Check that `buf` is a well-formed binary OTR message (v2 or v3) and return its type byte.
/// Exposed for fuzzing and diagnostics; the engine parses messages itself.
pub fn check_message(buf: &[u8]) -> Result<u8, OtrError> {
    parse_message(buf).map(|(h, _)| h.msg_type)
}

/// Check the MPI list of an SMP TLV holding `expect` values. Exposed for fuzzing.
pub fn check_smp_values(value: &[u8], expect: usize) -> Result<(), OtrError> {
    parse_mpi_list(value, expect).map(|_| ())
}

/// Encode a binary message (everything but data messages, whose MAC needs the key).
pub(crate) fn emit_message(header: &Header, msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    header.emit(&mut out);
    match msg {
        Message::DhCommit { enc_gx, hash_gx } => {
            put_data(&mut out, enc_gx);
            put_data(&mut out, hash_gx);
        }
        Message::DhKey { gy } => put_mpi(&mut out, gy),
        Message::RevealSig { r, enc_sig, mac } => {
            put_data(&mut out, r);
            put_data(&mut out, enc_sig);
            out.extend_from_slice(mac);
        }
        Message::Signature { enc_sig, mac } => {
            put_data(&mut out, enc_sig);
            out.extend_from_slice(mac);
        }
        Message::Data(d) => {
            out.push(d.flags);
            out.extend_from_slice(&d.sender_keyid.to_be_bytes());
            out.extend_from_slice(&d.recipient_keyid.to_be_bytes());
            put_mpi(&mut out, &d.next_dh);
            out.extend_from_slice(&d.ctr);
            put_data(&mut out, &d.enc);
            out.extend_from_slice(&d.mac);
            put_data(&mut out, &d.old_mac_keys);
        }
    }
    out
}

/// Parse the MPIs of an SMP TLV: a 4-byte count, then that many MPIs; exactly `expect` of them.
pub(crate) fn parse_mpi_list(value: &[u8], expect: usize) -> Result<Vec<Vec<u8>>, OtrError> {
    let mut r = Reader::new(value);
    let count = r.u32()? as usize;
    if count != expect {
        return Err(OtrError::Malformed("wrong number of SMP values"));
    }
    let mut out = Vec::with_capacity(expect);
    for _ in 0..count {
        out.push(read_mpi(&mut r)?.to_vec());
    }
    r.finish()?;
    Ok(out)
}

/// Encode SMP values: count, then MPIs.
pub(crate) fn emit_mpi_list(values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = u32::try_from(values.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    for v in values {
        put_mpi(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_types_per_spec() {
        // Spec "Data Types": MPI is a 4-byte length then minimal big-endian bytes.
        let mut out = Vec::new();
        put_mpi(&mut out, &[0, 0, 0x01, 0x02]);
        assert_eq!(out, [0, 0, 0, 2, 1, 2]);
        let mut out = Vec::new();
        put_mpi(&mut out, &[0, 0]);
        assert_eq!(out, [0, 0, 0, 0]);
        let mut out = Vec::new();
        put_data(&mut out, b"abc");
        assert_eq!(out, [0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn dh_key_v3_layout() {
        // Spec "D-H Key Message": version 0x0003, type 0x0a, sender and receiver instance
        // tags, then MPI g^y.
        let h = Header {
            version: 3,
            msg_type: TYPE_DH_KEY,
            sender_tag: 0x101,
            receiver_tag: 0x202,
        };
        let enc = emit_message(&h, &Message::DhKey { gy: vec![5, 6] });
        assert_eq!(enc, [0, 3, 0x0a, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 0, 2, 5, 6]);
        let (h2, m) = parse_message(&enc).unwrap();
        assert_eq!(h2, h);
        assert_eq!(m, Message::DhKey { gy: vec![5, 6] });
        // v2 has no instance tags.
        let h = Header {
            version: 2,
            msg_type: TYPE_DH_KEY,
            sender_tag: 0,
            receiver_tag: 0,
        };
        let enc = emit_message(&h, &Message::DhKey { gy: vec![5] });
        assert_eq!(enc, [0, 2, 0x0a, 0, 0, 0, 1, 5]);
        // Trailing bytes are an error.
        let mut bad = enc.clone();
        bad.push(0);
        assert!(parse_message(&bad).is_err());
    }

    #[test]
    fn tlv_payload_roundtrip() {
        let tlvs = vec![
            Tlv {
                typ: TlvType::Disconnected,
                value: vec![],
            },
            Tlv {
                typ: TlvType::Padding,
                value: vec![0; 7],
            },
        ];
        let p = emit_payload(b"hi", &tlvs).unwrap();
        assert_eq!(&p[..3], b"hi\0");
        assert_eq!(&p[3..7], &[0, 1, 0, 0]);
        let (m, t) = parse_payload(&p).unwrap();
        assert_eq!(m, b"hi");
        assert_eq!(t, tlvs);
        assert!(parse_payload(b"x\0\0\x01\0\x05ab").is_err());
    }
}
