//! Every ZRTP message of RFC 6189 §5 as a typed value with `parse` and `emit`.
//!
//! A message starts with the preamble `0x505a`, a length in 32-bit words (counting the whole
//! message), and an 8-byte type block (§5.1). [`Message::parse`] checks the declared length
//! against the bytes it was given, reads every field through a [`Reader`], and rejects trailing
//! bytes. MACs are not checked here: the engine checks them when the key (the next hash-chain
//! preimage) arrives. [`Message::emit`] writes the MAC field as given; the engine fills it with
//! [`set_trailing_mac`].

use sotto_proto::{AlgoCode, Reader, Ssrc, WireError, Writer, Zid};

use crate::algo::{AuthTag, CipherAlgo, HashAlgo, KeyAgreement, SasType, Suite};

/// The message preamble (§5.1).
pub const PREAMBLE: u16 = 0x505a;
/// The ZRTP protocol version we speak (§4.1.1).
pub const VERSION: [u8; 4] = *b"1.10";
/// Bytes of a MAC field (64-bit truncated HMAC).
pub const MAC_LEN: usize = 8;

/// The 8-byte message type blocks (§5.1.1).
pub mod block {
    /// Hello.
    pub const HELLO: [u8; 8] = *b"Hello   ";
    /// HelloACK.
    pub const HELLO_ACK: [u8; 8] = *b"HelloACK";
    /// Commit.
    pub const COMMIT: [u8; 8] = *b"Commit  ";
    /// DHPart1.
    pub const DH_PART1: [u8; 8] = *b"DHPart1 ";
    /// DHPart2.
    pub const DH_PART2: [u8; 8] = *b"DHPart2 ";
    /// Confirm1.
    pub const CONFIRM1: [u8; 8] = *b"Confirm1";
    /// Confirm2.
    pub const CONFIRM2: [u8; 8] = *b"Confirm2";
    /// Conf2ACK.
    pub const CONF2_ACK: [u8; 8] = *b"Conf2ACK";
    /// Error.
    pub const ERROR: [u8; 8] = *b"Error   ";
    /// ErrorACK.
    pub const ERROR_ACK: [u8; 8] = *b"ErrorACK";
    /// GoClear.
    pub const GO_CLEAR: [u8; 8] = *b"GoClear ";
    /// ClearACK.
    pub const CLEAR_ACK: [u8; 8] = *b"ClearACK";
    /// SASrelay.
    pub const SAS_RELAY: [u8; 8] = *b"SASrelay";
    /// RelayACK.
    pub const RELAY_ACK: [u8; 8] = *b"RelayACK";
    /// Ping.
    pub const PING: [u8; 8] = *b"Ping    ";
    /// PingACK.
    pub const PING_ACK: [u8; 8] = *b"PingACK ";
}

/// Hello (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version, `"1.10"`.
    pub version: [u8; 4],
    /// Client identifier, 16 ASCII bytes, space padded.
    pub client_id: [u8; 16],
    /// H3, the top of the sender's hash chain.
    pub h3: [u8; 32],
    /// The sender's ZID.
    pub zid: Zid,
    /// S: signature capable.
    pub signature_capable: bool,
    /// M: the sender is a trusted MiTM (PBX).
    pub mitm: bool,
    /// P: passive.
    pub passive: bool,
    /// Hash algorithms.
    pub hashes: Vec<HashAlgo>,
    /// Ciphers.
    pub ciphers: Vec<CipherAlgo>,
    /// SRTP auth tags.
    pub auth_tags: Vec<AuthTag>,
    /// Key agreements.
    pub key_agreements: Vec<KeyAgreement>,
    /// SAS types.
    pub sas_types: Vec<SasType>,
    /// HMAC(H2, message before the MAC), truncated.
    pub mac: [u8; 8],
}

/// The mode-specific part of a Commit (§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitKind {
    /// DH mode: hvi, the hash commitment to DHPart2 (§4.4.1.1).
    Dh {
        /// hash(DHPart2 ‖ responder's Hello), truncated to 256 bits.
        hvi: [u8; 32],
    },
    /// Multistream mode: a 128-bit nonce.
    Multistream {
        /// The nonce.
        nonce: [u8; 16],
    },
    /// Preshared mode: nonce and key ID (parsed; sotto refuses Preshared).
    Preshared {
        /// The nonce.
        nonce: [u8; 16],
        /// MAC(preshared key, "Prsh").
        key_id: [u8; 8],
    },
}

/// Commit (§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// H2 of the initiator.
    pub h2: [u8; 32],
    /// The initiator's ZID.
    pub zid: Zid,
    /// The algorithms chosen.
    pub suite: Suite,
    /// hvi or nonce, by key agreement type.
    pub kind: CommitKind,
    /// HMAC(H1, message before the MAC), truncated.
    pub mac: [u8; 8],
}

/// DHPart1 or DHPart2 (§5.5, §5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhPart {
    /// H1 of the sender.
    pub h1: [u8; 32],
    /// rs1ID (of the sender's role).
    pub rs1_id: [u8; 8],
    /// rs2ID.
    pub rs2_id: [u8; 8],
    /// auxsecretID.
    pub aux_id: [u8; 8],
    /// pbxsecretID.
    pub pbx_id: [u8; 8],
    /// The public value (length by key agreement type; checked by the engine).
    pub pv: Vec<u8>,
    /// HMAC(H0, message before the MAC), truncated.
    pub mac: [u8; 8],
}

/// Confirm1 or Confirm2 as on the wire (§5.7): the encrypted part is opaque until decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// HMAC(mackey, encrypted part), truncated.
    pub confirm_mac: [u8; 8],
    /// CFB initialisation vector.
    pub iv: [u8; 16],
    /// H0 … signature, encrypted with zrtpkey in CFB mode.
    pub encrypted: Vec<u8>,
}

/// The decrypted body of a Confirm message (§5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmBody {
    /// H0 of the sender.
    pub h0: [u8; 32],
    /// E: PBX enrollment.
    pub pbx_enrollment: bool,
    /// V: the SAS was verified.
    pub sas_verified: bool,
    /// A: GoClear allowed.
    pub allow_clear: bool,
    /// D: disclosure flag.
    pub disclosure: bool,
    /// Cache expiration interval in seconds (0xFFFFFFFF = never, §4.9).
    pub cache_expiry: u32,
    /// Signature block (type word and data), `sig_len` words; empty for sotto.
    pub signature: Vec<u8>,
}

impl ConfirmBody {
    /// The plaintext (before encryption).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.signature.len());
        let mut w = Writer::new(&mut out);
        w.bytes(&self.h0);
        let sig_words = (self.signature.len() / 4) as u32 & 0x1ff;
        let flags = u32::from(self.pbx_enrollment) << 3
            | u32::from(self.sas_verified) << 2
            | u32::from(self.allow_clear) << 1
            | u32::from(self.disclosure);
        w.u32(sig_words << 8 | flags);
        w.u32(self.cache_expiry);
        w.bytes(&self.signature);
        out
    }

    /// Parses a decrypted body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let h0 = r.take_array::<32>()?;
        let word = r.u32()?;
        let sig_words = (word >> 8) & 0x1ff;
        let flags = word & 0x0f;
        let cache_expiry = r.u32()?;
        let signature = r
            .take_named(sig_words as usize * 4, "Confirm signature")?
            .to_vec();
        r.finish()?;
        Ok(Self {
            h0,
            pbx_enrollment: flags & 8 != 0,
            sas_verified: flags & 4 != 0,
            allow_clear: flags & 2 != 0,
            disclosure: flags & 1 != 0,
            cache_expiry,
            signature,
        })
    }
}

/// SASrelay (§5.13), opaque until decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasRelay {
    /// HMAC(mackey, encrypted part), truncated.
    pub mac: [u8; 8],
    /// CFB IV.
    pub iv: [u8; 16],
    /// The encrypted part.
    pub encrypted: Vec<u8>,
}

/// The decrypted body of a SASrelay (§5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasRelayBody {
    /// V: the relayed SAS was verified.
    pub sas_verified: bool,
    /// A: GoClear allowed.
    pub allow_clear: bool,
    /// D: disclosure.
    pub disclosure: bool,
    /// SAS rendering scheme.
    pub rendering: SasType,
    /// The trusted MiTM's SAS hash.
    pub sas_hash: [u8; 32],
    /// Signature block.
    pub signature: Vec<u8>,
}

impl SasRelayBody {
    /// Parses a decrypted body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let word = r.u32()?;
        let sig_words = (word >> 8) & 0x1ff;
        let rendering = SasType::from_code(AlgoCode::new(r.take_array::<4>()?));
        let sas_hash = r.take_array::<32>()?;
        let signature = r
            .take_named(sig_words as usize * 4, "SASrelay signature")?
            .to_vec();
        r.finish()?;
        Ok(Self {
            sas_verified: word & 4 != 0,
            allow_clear: word & 2 != 0,
            disclosure: word & 1 != 0,
            rendering,
            sas_hash,
            signature,
        })
    }

    /// The plaintext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        let sig_words = (self.signature.len() / 4) as u32 & 0x1ff;
        w.u32(
            sig_words << 8
                | u32::from(self.sas_verified) << 2
                | u32::from(self.allow_clear) << 1
                | u32::from(self.disclosure),
        );
        w.bytes(self.rendering.code().as_bytes());
        w.bytes(&self.sas_hash);
        w.bytes(&self.signature);
        out
    }
}

/// Ping (§5.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// Version.
    pub version: [u8; 4],
    /// Endpoint hash.
    pub endpoint_hash: [u8; 8],
}

/// PingACK (§5.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingAck {
    /// Version.
    pub version: [u8; 4],
    /// Our endpoint hash.
    pub sender_hash: [u8; 8],
    /// The endpoint hash from the Ping.
    pub received_hash: [u8; 8],
    /// The SSRC of the Ping.
    pub ssrc: Ssrc,
}

/// Any ZRTP message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "signalling-rate values, never on the media path"
)]
pub enum Message {
    /// Hello.
    Hello(Hello),
    /// HelloACK.
    HelloAck,
    /// Commit.
    Commit(Commit),
    /// DHPart1.
    DhPart1(DhPart),
    /// DHPart2.
    DhPart2(DhPart),
    /// Confirm1.
    Confirm1(Confirm),
    /// Confirm2.
    Confirm2(Confirm),
    /// Conf2ACK.
    Conf2Ack,
    /// Error with its code (§5.9).
    Error {
        /// The error code.
        code: u32,
    },
    /// ErrorACK.
    ErrorAck,
    /// GoClear (§5.11).
    GoClear {
        /// clear_hmac.
        clear_mac: [u8; 8],
    },
    /// ClearACK.
    ClearAck,
    /// SASrelay.
    SasRelay(SasRelay),
    /// RelayACK.
    RelayAck,
    /// Ping.
    Ping(Ping),
    /// PingACK.
    PingAck(PingAck),
}

/// At most this many algorithms per class in a Hello (§5.2).
const MAX_HELLO_ALGOS: usize = 7;

fn algo_list<T>(r: &mut Reader<'_>, n: usize, f: fn(AlgoCode) -> T) -> Result<Vec<T>, WireError> {
    (0..n)
        .map(|_| Ok(f(AlgoCode::new(r.take_array::<4>()?))))
        .collect()
}

fn mac(r: &mut Reader<'_>) -> Result<[u8; 8], WireError> {
    r.take_array::<8>()
}

impl Message {
    /// The type block of this message.
    pub fn type_block(&self) -> [u8; 8] {
        match self {
            Self::Hello(_) => block::HELLO,
            Self::HelloAck => block::HELLO_ACK,
            Self::Commit(_) => block::COMMIT,
            Self::DhPart1(_) => block::DH_PART1,
            Self::DhPart2(_) => block::DH_PART2,
            Self::Confirm1(_) => block::CONFIRM1,
            Self::Confirm2(_) => block::CONFIRM2,
            Self::Conf2Ack => block::CONF2_ACK,
            Self::Error { .. } => block::ERROR,
            Self::ErrorAck => block::ERROR_ACK,
            Self::GoClear { .. } => block::GO_CLEAR,
            Self::ClearAck => block::CLEAR_ACK,
            Self::SasRelay(_) => block::SAS_RELAY,
            Self::RelayAck => block::RELAY_ACK,
            Self::Ping(_) => block::PING,
            Self::PingAck(_) => block::PING_ACK,
        }
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "Hello",
            Self::HelloAck => "HelloACK",
            Self::Commit(_) => "Commit",
            Self::DhPart1(_) => "DHPart1",
            Self::DhPart2(_) => "DHPart2",
            Self::Confirm1(_) => "Confirm1",
            Self::Confirm2(_) => "Confirm2",
            Self::Conf2Ack => "Conf2ACK",
            Self::Error { .. } => "Error",
            Self::ErrorAck => "ErrorACK",
            Self::GoClear { .. } => "GoClear",
            Self::ClearAck => "ClearACK",
            Self::SasRelay(_) => "SASrelay",
            Self::RelayAck => "RelayACK",
            Self::Ping(_) => "Ping",
            Self::PingAck(_) => "PingACK",
        }
    }

    /// Parses one message (preamble to end). The declared length must equal `msg.len()`.
    pub fn parse(msg: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(msg);
        if r.u16()? != PREAMBLE {
            return Err(WireError::Invalid {
                what: "ZRTP message preamble",
            });
        }
        let words = usize::from(r.u16()?);
        if words * 4 != msg.len() {
            return Err(WireError::Invalid {
                what: "ZRTP message length",
            });
        }
        let t = r.take_array::<8>()?;
        let m = match t {
            block::HELLO => {
                let version = r.take_array::<4>()?;
                let client_id = r.take_array::<16>()?;
                let h3 = r.take_array::<32>()?;
                let zid = Zid(r.take_array::<12>()?);
                let f = r.take_array::<4>()?;
                let [f0, f1, f2, f3] = f;
                let hc = usize::from(f1 & 0x0f);
                let cc = usize::from(f2 >> 4);
                let ac = usize::from(f2 & 0x0f);
                let kc = usize::from(f3 >> 4);
                let sc = usize::from(f3 & 0x0f);
                // §5.2: each list holds at most seven algorithms; the 4-bit counts could say 15.
                if [hc, cc, ac, kc, sc].iter().any(|&n| n > MAX_HELLO_ALGOS) {
                    return Err(WireError::Invalid {
                        what: "Hello algorithm count over 7",
                    });
                }
                let hashes = algo_list(&mut r, hc, HashAlgo::from_code)?;
                let ciphers = algo_list(&mut r, cc, CipherAlgo::from_code)?;
                let auth_tags = algo_list(&mut r, ac, AuthTag::from_code)?;
                let key_agreements = algo_list(&mut r, kc, KeyAgreement::from_code)?;
                let sas_types = algo_list(&mut r, sc, SasType::from_code)?;
                Self::Hello(Hello {
                    version,
                    client_id,
                    h3,
                    zid,
                    signature_capable: f0 & 0x40 != 0,
                    mitm: f0 & 0x20 != 0,
                    passive: f0 & 0x10 != 0,
                    hashes,
                    ciphers,
                    auth_tags,
                    key_agreements,
                    sas_types,
                    mac: mac(&mut r)?,
                })
            }
            block::COMMIT => {
                let h2 = r.take_array::<32>()?;
                let zid = Zid(r.take_array::<12>()?);
                let hash = HashAlgo::from_code(AlgoCode::new(r.take_array::<4>()?));
                let cipher = CipherAlgo::from_code(AlgoCode::new(r.take_array::<4>()?));
                let auth_tag = AuthTag::from_code(AlgoCode::new(r.take_array::<4>()?));
                let key_agreement = KeyAgreement::from_code(AlgoCode::new(r.take_array::<4>()?));
                let sas = SasType::from_code(AlgoCode::new(r.take_array::<4>()?));
                let kind = match key_agreement {
                    KeyAgreement::Mult => CommitKind::Multistream {
                        nonce: r.take_array::<16>()?,
                    },
                    KeyAgreement::Prsh => CommitKind::Preshared {
                        nonce: r.take_array::<16>()?,
                        key_id: r.take_array::<8>()?,
                    },
                    _ => CommitKind::Dh {
                        hvi: r.take_array::<32>()?,
                    },
                };
                Self::Commit(Commit {
                    h2,
                    zid,
                    suite: Suite {
                        hash,
                        cipher,
                        auth_tag,
                        key_agreement,
                        sas,
                    },
                    kind,
                    mac: mac(&mut r)?,
                })
            }
            block::DH_PART1 | block::DH_PART2 => {
                let h1 = r.take_array::<32>()?;
                let rs1_id = r.take_array::<8>()?;
                let rs2_id = r.take_array::<8>()?;
                let aux_id = r.take_array::<8>()?;
                let pbx_id = r.take_array::<8>()?;
                let pv_len = r
                    .remaining()
                    .checked_sub(MAC_LEN)
                    .ok_or(WireError::Invalid {
                        what: "DHPart length",
                    })?;
                let pv = r.take(pv_len)?.to_vec();
                let d = DhPart {
                    h1,
                    rs1_id,
                    rs2_id,
                    aux_id,
                    pbx_id,
                    pv,
                    mac: mac(&mut r)?,
                };
                if t == block::DH_PART1 {
                    Self::DhPart1(d)
                } else {
                    Self::DhPart2(d)
                }
            }
            block::CONFIRM1 | block::CONFIRM2 => {
                let confirm_mac = mac(&mut r)?;
                let iv = r.take_array::<16>()?;
                let encrypted = r.rest().to_vec();
                if encrypted.len() < 40 {
                    return Err(WireError::Invalid {
                        what: "Confirm length",
                    });
                }
                let c = Confirm {
                    confirm_mac,
                    iv,
                    encrypted,
                };
                if t == block::CONFIRM1 {
                    Self::Confirm1(c)
                } else {
                    Self::Confirm2(c)
                }
            }
            block::SAS_RELAY => {
                let m = mac(&mut r)?;
                let iv = r.take_array::<16>()?;
                let encrypted = r.rest().to_vec();
                if encrypted.len() < 40 {
                    return Err(WireError::Invalid {
                        what: "SASrelay length",
                    });
                }
                Self::SasRelay(SasRelay {
                    mac: m,
                    iv,
                    encrypted,
                })
            }
            block::HELLO_ACK => Self::HelloAck,
            block::CONF2_ACK => Self::Conf2Ack,
            block::ERROR => Self::Error { code: r.u32()? },
            block::ERROR_ACK => Self::ErrorAck,
            block::GO_CLEAR => Self::GoClear {
                clear_mac: mac(&mut r)?,
            },
            block::CLEAR_ACK => Self::ClearAck,
            block::RELAY_ACK => Self::RelayAck,
            block::PING => Self::Ping(Ping {
                version: r.take_array::<4>()?,
                endpoint_hash: r.take_array::<8>()?,
            }),
            block::PING_ACK => Self::PingAck(PingAck {
                version: r.take_array::<4>()?,
                sender_hash: r.take_array::<8>()?,
                received_hash: r.take_array::<8>()?,
                ssrc: Ssrc(r.u32()?),
            }),
            _ => {
                return Err(WireError::Invalid {
                    what: "ZRTP message type",
                });
            }
        };
        r.finish()?;
        Ok(m)
    }

    /// Serialises the message (MAC fields as stored).
    pub fn emit(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(128);
        let mut w = Writer::new(&mut body);
        match self {
            Self::Hello(h) => {
                w.bytes(&h.version);
                w.bytes(&h.client_id);
                w.bytes(&h.h3);
                w.bytes(h.zid.as_bytes());
                let n = |len: usize| (len.min(MAX_HELLO_ALGOS)) as u8;
                let (hc, cc, ac, kc, sc) = (
                    n(h.hashes.len()),
                    n(h.ciphers.len()),
                    n(h.auth_tags.len()),
                    n(h.key_agreements.len()),
                    n(h.sas_types.len()),
                );
                w.u8(u8::from(h.signature_capable) << 6
                    | u8::from(h.mitm) << 5
                    | u8::from(h.passive) << 4);
                w.u8(hc);
                w.u8(cc << 4 | ac);
                w.u8(kc << 4 | sc);
                for a in h.hashes.iter().take(7) {
                    w.bytes(a.code().as_bytes());
                }
                for a in h.ciphers.iter().take(7) {
                    w.bytes(a.code().as_bytes());
                }
                for a in h.auth_tags.iter().take(7) {
                    w.bytes(a.code().as_bytes());
                }
                for a in h.key_agreements.iter().take(7) {
                    w.bytes(a.code().as_bytes());
                }
                for a in h.sas_types.iter().take(7) {
                    w.bytes(a.code().as_bytes());
                }
                w.bytes(&h.mac);
            }
            Self::Commit(c) => {
                w.bytes(&c.h2);
                w.bytes(c.zid.as_bytes());
                w.bytes(c.suite.hash.code().as_bytes());
                w.bytes(c.suite.cipher.code().as_bytes());
                w.bytes(c.suite.auth_tag.code().as_bytes());
                w.bytes(c.suite.key_agreement.code().as_bytes());
                w.bytes(c.suite.sas.code().as_bytes());
                match &c.kind {
                    CommitKind::Dh { hvi } => w.bytes(hvi),
                    CommitKind::Multistream { nonce } => w.bytes(nonce),
                    CommitKind::Preshared { nonce, key_id } => {
                        w.bytes(nonce);
                        w.bytes(key_id);
                    }
                }
                w.bytes(&c.mac);
            }
            Self::DhPart1(d) | Self::DhPart2(d) => {
                w.bytes(&d.h1);
                w.bytes(&d.rs1_id);
                w.bytes(&d.rs2_id);
                w.bytes(&d.aux_id);
                w.bytes(&d.pbx_id);
                w.bytes(&d.pv);
                w.bytes(&d.mac);
            }
            Self::Confirm1(c) | Self::Confirm2(c) => {
                w.bytes(&c.confirm_mac);
                w.bytes(&c.iv);
                w.bytes(&c.encrypted);
            }
            Self::SasRelay(s) => {
                w.bytes(&s.mac);
                w.bytes(&s.iv);
                w.bytes(&s.encrypted);
            }
            Self::Error { code } => w.u32(*code),
            Self::GoClear { clear_mac } => w.bytes(clear_mac),
            Self::Ping(p) => {
                w.bytes(&p.version);
                w.bytes(&p.endpoint_hash);
            }
            Self::PingAck(p) => {
                w.bytes(&p.version);
                w.bytes(&p.sender_hash);
                w.bytes(&p.received_hash);
                w.u32(p.ssrc.0);
            }
            Self::HelloAck | Self::Conf2Ack | Self::ErrorAck | Self::ClearAck | Self::RelayAck => {}
        }
        let total = 12 + body.len();
        let mut out = Vec::with_capacity(total);
        let mut w = Writer::new(&mut out);
        w.u16(PREAMBLE);
        // Lengths are multiples of 4 for every message we build (pv lengths are too).
        w.u16(u16::try_from(total / 4).unwrap_or(u16::MAX));
        w.bytes(&self.type_block());
        w.bytes(&body);
        out
    }
}

/// The bytes a trailing MAC covers: everything but the last 8 bytes.
pub fn mac_covered(msg: &[u8]) -> &[u8] {
    msg.get(..msg.len().saturating_sub(MAC_LEN))
        .unwrap_or_default()
}

/// Overwrites the last 8 bytes of an emitted message with `mac`.
pub fn set_trailing_mac(msg: &mut [u8], mac: &[u8; 8]) {
    let n = msg.len();
    if let Some(tail) = msg.get_mut(n.saturating_sub(MAC_LEN)..) {
        tail.copy_from_slice(mac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_code() -> impl Strategy<Value = AlgoCode> {
        prop_oneof![
            Just(AlgoCode::new(*b"S256")),
            Just(AlgoCode::new(*b"X255")),
            Just(AlgoCode::new(*b"B32 ")),
            Just(AlgoCode::new(*b"AES3")),
            Just(AlgoCode::new(*b"HS80")),
            any::<[u8; 4]>().prop_map(AlgoCode::new),
        ]
    }

    fn arb_list<T: core::fmt::Debug>(f: fn(AlgoCode) -> T) -> impl Strategy<Value = Vec<T>> {
        proptest::collection::vec(arb_code().prop_map(f), 0..=7)
    }

    prop_compose! {
        fn arb_hello()(version in any::<[u8;4]>(), client_id in any::<[u8;16]>(), h3 in any::<[u8;32]>(),
            zid in any::<[u8;12]>(), s in any::<bool>(), m in any::<bool>(), p in any::<bool>(),
            hashes in arb_list(HashAlgo::from_code), ciphers in arb_list(CipherAlgo::from_code),
            auth_tags in arb_list(AuthTag::from_code), key_agreements in arb_list(KeyAgreement::from_code),
            sas_types in arb_list(SasType::from_code), mac in any::<[u8;8]>()) -> Message {
            Message::Hello(Hello { version, client_id, h3, zid: Zid(zid), signature_capable: s, mitm: m, passive: p,
                hashes, ciphers, auth_tags, key_agreements, sas_types, mac })
        }
    }

    fn arb_dhpart() -> impl Strategy<Value = DhPart> {
        (
            any::<[u8; 32]>(),
            any::<[[u8; 8]; 4]>(),
            proptest::collection::vec(any::<[u8; 4]>(), 0..100),
            any::<[u8; 8]>(),
        )
            .prop_map(|(h1, ids, pv, mac)| DhPart {
                h1,
                rs1_id: ids[0],
                rs2_id: ids[1],
                aux_id: ids[2],
                pbx_id: ids[3],
                pv: pv.concat(),
                mac,
            })
    }

    fn arb_commit() -> impl Strategy<Value = Message> {
        (
            any::<[u8; 32]>(),
            any::<[u8; 12]>(),
            arb_code(),
            arb_code(),
            arb_code(),
            prop_oneof![
                any::<[u8; 32]>().prop_map(|hvi| (KeyAgreement::X255, CommitKind::Dh { hvi })),
                any::<[u8; 16]>()
                    .prop_map(|nonce| (KeyAgreement::Mult, CommitKind::Multistream { nonce })),
                (any::<[u8; 16]>(), any::<[u8; 8]>()).prop_map(|(nonce, key_id)| (
                    KeyAgreement::Prsh,
                    CommitKind::Preshared { nonce, key_id }
                )),
            ],
            any::<[u8; 8]>(),
        )
            .prop_map(|(h2, zid, h, c, a, (ka, kind), mac)| {
                Message::Commit(Commit {
                    h2,
                    zid: Zid(zid),
                    suite: Suite {
                        hash: HashAlgo::from_code(h),
                        cipher: CipherAlgo::from_code(c),
                        auth_tag: AuthTag::from_code(a),
                        key_agreement: ka,
                        sas: SasType::from_code(h),
                    },
                    kind,
                    mac,
                })
            })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let confirm = (
            any::<[u8; 8]>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(any::<[u8; 4]>(), 10..30),
        )
            .prop_map(|(confirm_mac, iv, e)| Confirm {
                confirm_mac,
                iv,
                encrypted: e.concat(),
            });
        prop_oneof![
            arb_hello(),
            arb_commit(),
            arb_dhpart().prop_map(Message::DhPart1),
            arb_dhpart().prop_map(Message::DhPart2),
            confirm.clone().prop_map(Message::Confirm1),
            confirm.clone().prop_map(Message::Confirm2),
            confirm.prop_map(|c| Message::SasRelay(SasRelay {
                mac: c.confirm_mac,
                iv: c.iv,
                encrypted: c.encrypted
            })),
            Just(Message::HelloAck),
            Just(Message::Conf2Ack),
            Just(Message::ErrorAck),
            Just(Message::ClearAck),
            Just(Message::RelayAck),
            any::<u32>().prop_map(|code| Message::Error { code }),
            any::<[u8; 8]>().prop_map(|clear_mac| Message::GoClear { clear_mac }),
            (any::<[u8; 4]>(), any::<[u8; 8]>()).prop_map(|(version, endpoint_hash)| {
                Message::Ping(Ping {
                    version,
                    endpoint_hash,
                })
            }),
            (
                any::<[u8; 4]>(),
                any::<[u8; 8]>(),
                any::<[u8; 8]>(),
                any::<u32>()
            )
                .prop_map(|(version, sender_hash, received_hash, s)| Message::PingAck(
                    PingAck {
                        version,
                        sender_hash,
                        received_hash,
                        ssrc: Ssrc(s)
                    }
                )),
        ]
    }

    proptest! {
        /// Every message we can emit parses back to the same value (RFC 6189 §5 formats).
        #[test]
        fn round_trip(m in arb_message()) {
            let bytes = m.emit();
            prop_assert_eq!(bytes.len() % 4, 0);
            let back = Message::parse(&bytes).unwrap();
            prop_assert_eq!(back.emit(), bytes);
            prop_assert_eq!(back, m);
        }

        /// No input makes the parser panic.
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Message::parse(&b);
            let _ = ConfirmBody::parse(&b);
            let _ = SasRelayBody::parse(&b);
            let _ = crate::packet::Packet::parse(&b);
        }

        /// Mutating one byte of a valid message never panics, and a mutated length never parses.
        #[test]
        fn mutations_never_panic(m in arb_message(), i in any::<usize>(), x in 1u8..) {
            let mut b = m.emit();
            let i = i % b.len();
            b[i] ^= x;
            let r = Message::parse(&b);
            if i == 2 || i == 3 { prop_assert!(r.is_err()); }
        }

        #[test]
        fn confirm_body_round_trip(h0 in any::<[u8;32]>(), f in 0u8..16, exp in any::<u32>(),
                                   sig in proptest::collection::vec(any::<[u8;4]>(), 0..5)) {
            let b = ConfirmBody { h0, pbx_enrollment: f & 8 != 0, sas_verified: f & 4 != 0,
                allow_clear: f & 2 != 0, disclosure: f & 1 != 0, cache_expiry: exp, signature: sig.concat() };
            prop_assert_eq!(ConfirmBody::parse(&b.to_bytes()).unwrap(), b);
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hello_with_more_than_seven_algorithms_in_a_class_is_malformed() {
        // RFC 6189 §5.2: hc, cc, ac, kc and sc count up to seven algorithms each. Found by the
        // zrtp_message fuzz target: a Hello whose 4-bit cc said 15 parsed, then re-emitted with
        // seven (emit caps at seven), so parse(emit(m)) != m.
        let crash = unhex(concat!(
            "505a004048656c6c6f202020322e313020202020202020208a0e87e2bcd020e4",
            "c61c04d426c853b267d442f8485337394543cc754d386c744233322042323536",
            "cc20e4c61c04d426c853b242d467f8842dbc3b4e750dd7e7f98a7d0042013739",
            "01010101010100022222533530d0533338ffffffbb3141475331485333324853",
            "37394543cc754d386c744233322042323536cc20e4c61c04d426c853b267d442",
            "f8842dbc3b4e750dd7e7f98a7d00420101010101010153314853333248533739",
            "4543cc754d386c744201010100022222533530d0533338ffffffbb3141475331",
            "48533332487337394543cc754d386c744233322042323536cc987a9ebb6c73d1",
        ));
        assert!(Message::parse(&crash).is_err());
        let hello = |cc: u8| {
            let mut m = Message::Hello(Hello {
                version: VERSION,
                client_id: [b' '; 16],
                h3: [0; 32],
                zid: Zid([0; 12]),
                signature_capable: false,
                mitm: false,
                passive: false,
                hashes: vec![],
                ciphers: vec![CipherAlgo::Aes1; 7],
                auth_tags: vec![],
                key_agreements: vec![],
                sas_types: vec![],
                mac: [0; 8],
            })
            .emit();
            if cc > 7 {
                // Claim `cc` ciphers and make the message long enough to hold them.
                m[12 + 4 + 16 + 32 + 12 + 2] = cc << 4;
                let mac = m.split_off(m.len() - 8);
                m.extend(std::iter::repeat_n(*b"AES1", usize::from(cc - 7)).flatten());
                m.extend(mac);
                let words = u16::try_from(m.len() / 4).unwrap();
                m[2..4].copy_from_slice(&words.to_be_bytes());
            }
            m
        };
        assert!(Message::parse(&hello(7)).is_ok());
        for cc in 8..=15 {
            assert!(Message::parse(&hello(cc)).is_err(), "cc = {cc}");
        }
    }

    #[test]
    fn hello_lengths_match_rfc() {
        // RFC 6189 §5.2: a Hello is 22 words + one word per algorithm listed.
        let h = Message::Hello(Hello {
            version: VERSION,
            client_id: *b"sotto           ",
            h3: [0; 32],
            zid: Zid([0; 12]),
            signature_capable: false,
            mitm: false,
            passive: false,
            hashes: vec![HashAlgo::S256],
            ciphers: vec![CipherAlgo::Aes1],
            auth_tags: vec![AuthTag::Hs32, AuthTag::Hs80],
            key_agreements: vec![KeyAgreement::X255, KeyAgreement::Dh3k],
            sas_types: vec![SasType::B32],
            mac: [0; 8],
        });
        assert_eq!(h.emit().len(), (22 + 7) * 4);
        // §5.3/§5.8/§5.10: the ACKs are 3 words.
        assert_eq!(Message::HelloAck.emit().len(), 12);
        // §5.9: Error is 4 words.
        assert_eq!(Message::Error { code: 0x10 }.emit().len(), 16);
    }
}
