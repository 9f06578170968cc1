//! ZRTP algorithm codes (RFC 6189 §5.1.2–§5.1.6) as open enums, and their negotiation (§4.1.2).

use core::fmt;
use core::str::FromStr;

use sotto_proto::AlgoCode;
use sotto_proto::crypto::{HashAlg, KeyAgreementAlg};

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A code this implementation does not know, kept as it came.
            Unknown(AlgoCode),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const ALL: &'static [Self] = &[ $( Self::$variant ),+ ];

            /// The four bytes on the wire.
            pub fn code(self) -> AlgoCode {
                match self {
                    $( Self::$variant => AlgoCode::new(*$code), )+
                    Self::Unknown(c) => c,
                }
            }

            /// The value for a wire code (unknown codes are kept).
            pub fn from_code(code: AlgoCode) -> Self {
                match code.as_bytes() {
                    $( $code => Self::$variant, )+
                    _ => Self::Unknown(code),
                }
            }

            /// True if this value is one sotto knows.
            pub fn is_known(self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.code(), f)
            }
        }

        impl FromStr for $name {
            type Err = UnknownAlgorithm;

            /// Parses the RFC name (`"S256"`, `"X255"`; case-insensitive). Unknown names are
            /// an error here: configuration must name algorithms we implement.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let upper = s.trim().to_ascii_uppercase();
                for v in Self::ALL {
                    if v.code().to_string().trim_end().eq_ignore_ascii_case(&upper) {
                        return Ok(*v);
                    }
                }
                Err(UnknownAlgorithm(s.to_string()))
            }
        }
    };
}

/// A configuration named an algorithm sotto does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported algorithm name: {0:?}")]
pub struct UnknownAlgorithm(pub String);

open_enum! {
    /// Hash algorithms (§5.1.2).
    HashAlgo {
        /// SHA-256, mandatory.
        S256 = b"S256",
        /// SHA-384.
        S384 = b"S384",
    }
}

open_enum! {
    /// Block ciphers (§5.1.3), used for SRTP (AES-CM) and to encrypt Confirm (AES-CFB).
    CipherAlgo {
        /// AES with a 128-bit key, mandatory.
        Aes1 = b"AES1",
        /// AES with a 256-bit key.
        Aes3 = b"AES3",
    }
}

open_enum! {
    /// SRTP authentication tags (§5.1.4).
    AuthTag {
        /// HMAC-SHA1 with a 32-bit tag, mandatory.
        Hs32 = b"HS32",
        /// HMAC-SHA1 with an 80-bit tag, mandatory.
        Hs80 = b"HS80",
    }
}

open_enum! {
    /// Key agreement types (§5.1.5), plus `E255`, the Curve25519 code of GNU ZRTP and ZRTP4J.
    KeyAgreement {
        /// Curve25519 as libbzrtp (and the ZRTP registry) names it.
        X255 = b"X255",
        /// Curve25519 as GNU ZRTP / Jitsi's ZRTP4J name it. Same group and wire format as X255.
        E255 = b"E255",
        /// Curve448.
        X448 = b"X448",
        /// NIST P-256.
        Ec25 = b"EC25",
        /// NIST P-384.
        Ec38 = b"EC38",
        /// 3072-bit finite-field DH, mandatory.
        Dh3k = b"DH3k",
        /// 2048-bit finite-field DH.
        Dh2k = b"DH2k",
        /// Multistream mode (§4.4.3): no DH, keyed from the first stream's ZRTPSess.
        Mult = b"Mult",
        /// Preshared mode (§4.4.2): parsed, always refused by sotto.
        Prsh = b"Prsh",
    }
}

open_enum! {
    /// SAS rendering schemes (§5.1.6).
    SasType {
        /// Four base-32 characters, mandatory.
        B32 = b"B32 ",
        /// Two PGP words (even, odd lists).
        B256 = b"B256",
    }
}

impl HashAlgo {
    /// The provider's hash for this code, if known.
    pub fn hash_alg(self) -> Option<HashAlg> {
        match self {
            Self::S256 => Some(HashAlg::Sha256),
            Self::S384 => Some(HashAlg::Sha384),
            Self::Unknown(_) => None,
        }
    }

    /// Output length in bytes (0 for unknown codes).
    pub fn output_len(self) -> usize {
        self.hash_alg().map_or(0, HashAlg::output_len)
    }
}

impl CipherAlgo {
    /// Key length in bytes (0 for unknown codes).
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes1 => 16,
            Self::Aes3 => 32,
            Self::Unknown(_) => 0,
        }
    }
}

impl AuthTag {
    /// SRTP authentication tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            Self::Hs32 => 4,
            Self::Hs80 => 10,
            Self::Unknown(_) => 0,
        }
    }
}

impl KeyAgreement {
    /// The provider's algorithm, for DH modes.
    pub fn dh_alg(self) -> Option<KeyAgreementAlg> {
        match self {
            Self::X255 | Self::E255 => Some(KeyAgreementAlg::X25519),
            Self::X448 => Some(KeyAgreementAlg::X448),
            Self::Ec25 => Some(KeyAgreementAlg::P256),
            Self::Ec38 => Some(KeyAgreementAlg::P384),
            Self::Dh3k => Some(KeyAgreementAlg::Dh3072),
            Self::Dh2k => Some(KeyAgreementAlg::Dh2048),
            Self::Mult | Self::Prsh | Self::Unknown(_) => None,
        }
    }

    /// True for Diffie-Hellman key agreement types (not Mult/Prsh).
    pub fn is_dh(self) -> bool {
        self.dh_alg().is_some()
    }

    /// Relative cost, fastest first (§4.1.2: when the two endpoints' first choices differ, the
    /// faster one is used). The order matches libbzrtp's so both sides pick the same:
    /// DH2k < X255 = E255 < EC25 < X448 < DH3k < EC38.
    pub fn speed_rank(self) -> u8 {
        match self {
            Self::Dh2k => 1,
            Self::X255 | Self::E255 => 2,
            Self::Ec25 => 3,
            Self::X448 => 4,
            Self::Dh3k => 5,
            Self::Ec38 => 6,
            Self::Mult | Self::Prsh | Self::Unknown(_) => u8::MAX,
        }
    }
}

/// An endpoint's algorithm preferences, most preferred first (each list at most 7 entries, as
/// the Hello counts are 3 bits wide in practice; libbzrtp caps them at 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgoPrefs {
    /// Hash algorithms.
    pub hashes: Vec<HashAlgo>,
    /// Ciphers.
    pub ciphers: Vec<CipherAlgo>,
    /// SRTP auth tags.
    pub auth_tags: Vec<AuthTag>,
    /// Key agreements (DH types; `Mult` is added to the Hello automatically).
    pub key_agreements: Vec<KeyAgreement>,
    /// SAS renderings.
    pub sas_types: Vec<SasType>,
}

impl Default for AlgoPrefs {
    /// X255 first (fast, constant time), E255 so GNU ZRTP / ZRTP4J peers also get Curve25519,
    /// then X448, EC25, DH3k (mandatory) and EC38. `Mult` is appended in the Hello.
    fn default() -> Self {
        Self {
            hashes: vec![HashAlgo::S256, HashAlgo::S384],
            ciphers: vec![CipherAlgo::Aes1, CipherAlgo::Aes3],
            auth_tags: vec![AuthTag::Hs32, AuthTag::Hs80],
            key_agreements: vec![
                KeyAgreement::X255,
                KeyAgreement::E255,
                KeyAgreement::X448,
                KeyAgreement::Ec25,
                KeyAgreement::Dh3k,
                KeyAgreement::Ec38,
            ],
            sas_types: vec![SasType::B32, SasType::B256],
        }
    }
}

/// The algorithms of one session, as committed in the Commit message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Suite {
    /// Negotiated hash.
    pub hash: HashAlgo,
    /// Negotiated cipher.
    pub cipher: CipherAlgo,
    /// Negotiated SRTP auth tag.
    pub auth_tag: AuthTag,
    /// Key agreement (or `Mult`).
    pub key_agreement: KeyAgreement,
    /// SAS rendering.
    pub sas: SasType,
}

/// Which algorithm class had nothing in common (→ Error codes 0x51–0x55).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgoClass {
    /// Hash (0x51).
    Hash,
    /// Cipher (0x52).
    Cipher,
    /// Key agreement (0x53).
    KeyAgreement,
    /// SRTP auth tag (0x54).
    AuthTag,
    /// SAS (0x55).
    Sas,
}

/// The list a peer's Hello offers, with the RFC's mandatory algorithms added when absent
/// (§5.1: S256, AES1, HS32, HS80, DH3k, B32 are always supported even if not listed).
pub(crate) fn with_mandatory<T: Copy + PartialEq>(list: &[T], mandatory: &[T]) -> Vec<T> {
    let mut v = list.to_vec();
    for m in mandatory {
        if !v.contains(m) {
            v.push(*m);
        }
    }
    v
}

fn first_common<T: Copy + PartialEq>(ours: &[T], theirs: &[T]) -> Option<T> {
    ours.iter().copied().find(|a| theirs.contains(a))
}

/// Peer algorithm lists as carried by its Hello.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// Hashes.
    pub hashes: &'a [HashAlgo],
    /// Ciphers.
    pub ciphers: &'a [CipherAlgo],
    /// Auth tags.
    pub auth_tags: &'a [AuthTag],
    /// Key agreements.
    pub key_agreements: &'a [KeyAgreement],
    /// SAS types.
    pub sas_types: &'a [SasType],
}

/// Chooses the DH-mode suite for a Commit (§4.1.2): key agreement = the common first choice, or
/// the faster of the two sides' first choices when they differ; the other algorithms from our
/// preference order among the common ones, preferring S384/AES3 for X448 and EC38 (§5.1.5).
pub fn negotiate(ours: &AlgoPrefs, peer: &Offer<'_>) -> Result<Suite, AlgoClass> {
    let peer_ka = with_mandatory(peer.key_agreements, &[KeyAgreement::Dh3k]);
    let our_ka: Vec<KeyAgreement> = ours
        .key_agreements
        .iter()
        .copied()
        .filter(|k| k.is_dh())
        .collect();
    let peer_dh: Vec<KeyAgreement> = peer_ka.iter().copied().filter(|k| k.is_dh()).collect();
    let mine = first_common(&our_ka, &peer_dh).ok_or(AlgoClass::KeyAgreement)?;
    let theirs = first_common(&peer_dh, &our_ka).ok_or(AlgoClass::KeyAgreement)?;
    let key_agreement = if mine == theirs {
        mine
    } else {
        // Faster first; equal speed (X255/E255) broken by code order so both sides agree.
        let a = (mine.speed_rank(), *mine.code().as_bytes());
        let b = (theirs.speed_rank(), *theirs.code().as_bytes());
        if a <= b { mine } else { theirs }
    };
    let strong = matches!(key_agreement, KeyAgreement::X448 | KeyAgreement::Ec38);

    let peer_hashes = with_mandatory(peer.hashes, &[HashAlgo::S256]);
    let hash =
        if strong && ours.hashes.contains(&HashAlgo::S384) && peer_hashes.contains(&HashAlgo::S384)
        {
            HashAlgo::S384
        } else {
            first_common(&ours.hashes, &peer_hashes).ok_or(AlgoClass::Hash)?
        };
    let peer_ciphers = with_mandatory(peer.ciphers, &[CipherAlgo::Aes1]);
    let cipher = if strong
        && ours.ciphers.contains(&CipherAlgo::Aes3)
        && peer_ciphers.contains(&CipherAlgo::Aes3)
    {
        CipherAlgo::Aes3
    } else {
        first_common(&ours.ciphers, &peer_ciphers).ok_or(AlgoClass::Cipher)?
    };
    let peer_tags = with_mandatory(peer.auth_tags, &[AuthTag::Hs32, AuthTag::Hs80]);
    let auth_tag = first_common(&ours.auth_tags, &peer_tags).ok_or(AlgoClass::AuthTag)?;
    let peer_sas = with_mandatory(peer.sas_types, &[SasType::B32]);
    let sas = first_common(&ours.sas_types, &peer_sas).ok_or(AlgoClass::Sas)?;
    Ok(Suite {
        hash,
        cipher,
        auth_tag,
        key_agreement,
        sas,
    })
}

/// Checks that a peer's Commit only uses algorithms we offered (or the mandatory ones) and that
/// we implement.
pub fn accept_commit(ours: &AlgoPrefs, suite: &Suite) -> Result<(), AlgoClass> {
    let ok_hash = suite.hash.is_known()
        && with_mandatory(&ours.hashes, &[HashAlgo::S256]).contains(&suite.hash);
    if !ok_hash {
        return Err(AlgoClass::Hash);
    }
    if !(suite.cipher.is_known()
        && with_mandatory(&ours.ciphers, &[CipherAlgo::Aes1]).contains(&suite.cipher))
    {
        return Err(AlgoClass::Cipher);
    }
    if !(suite.auth_tag.is_known()
        && with_mandatory(&ours.auth_tags, &[AuthTag::Hs32, AuthTag::Hs80])
            .contains(&suite.auth_tag))
    {
        return Err(AlgoClass::AuthTag);
    }
    if !(suite.sas.is_known()
        && with_mandatory(&ours.sas_types, &[SasType::B32]).contains(&suite.sas))
    {
        return Err(AlgoClass::Sas);
    }
    let ka_ok = match suite.key_agreement {
        KeyAgreement::Mult => true,
        k if k.is_dh() => with_mandatory(&ours.key_agreements, &[KeyAgreement::Dh3k]).contains(&k),
        _ => false,
    };
    if !ka_ok {
        return Err(AlgoClass::KeyAgreement);
    }
    Ok(())
}

/// Parses a comma-separated list of RFC names (`"X255,DH3k"`), for configuration and the CLI.
pub fn parse_list<T: FromStr<Err = UnknownAlgorithm>>(s: &str) -> Result<Vec<T>, UnknownAlgorithm> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_kept() {
        for k in KeyAgreement::ALL {
            assert_eq!(KeyAgreement::from_code(k.code()), *k);
        }
        let odd = AlgoCode::new(*b"K255");
        assert_eq!(KeyAgreement::from_code(odd), KeyAgreement::Unknown(odd));
        assert_eq!("b32".parse::<SasType>(), Ok(SasType::B32));
        assert_eq!("dh3k".parse::<KeyAgreement>(), Ok(KeyAgreement::Dh3k));
        assert!("K255".parse::<KeyAgreement>().is_err());
        assert_eq!(
            parse_list::<HashAlgo>("S256,S384").unwrap(),
            vec![HashAlgo::S256, HashAlgo::S384]
        );
    }

    fn offer(p: &AlgoPrefs) -> Offer<'_> {
        Offer {
            hashes: &p.hashes,
            ciphers: &p.ciphers,
            auth_tags: &p.auth_tags,
            key_agreements: &p.key_agreements,
            sas_types: &p.sas_types,
        }
    }

    #[test]
    fn faster_first_choice_wins_symmetrically() {
        // RFC 6189 §4.1.2: differing first choices resolve to the faster one, on both sides.
        let a = AlgoPrefs {
            key_agreements: vec![KeyAgreement::Dh3k, KeyAgreement::X255],
            ..AlgoPrefs::default()
        };
        let b = AlgoPrefs {
            key_agreements: vec![KeyAgreement::X255, KeyAgreement::Dh3k],
            ..AlgoPrefs::default()
        };
        let ab = negotiate(&a, &offer(&b)).unwrap();
        let ba = negotiate(&b, &offer(&a)).unwrap();
        assert_eq!(ab.key_agreement, KeyAgreement::X255);
        assert_eq!(ab, ba);
    }

    #[test]
    fn x448_prefers_s384_aes3_and_mandatory_fallbacks() {
        let a = AlgoPrefs {
            key_agreements: vec![KeyAgreement::X448],
            ..AlgoPrefs::default()
        };
        let s = negotiate(&a, &offer(&AlgoPrefs::default())).unwrap();
        assert_eq!((s.hash, s.cipher), (HashAlgo::S384, CipherAlgo::Aes3));
        // A peer listing nothing still supports the mandatory set.
        let empty = Offer {
            hashes: &[],
            ciphers: &[],
            auth_tags: &[],
            key_agreements: &[],
            sas_types: &[],
        };
        let s = negotiate(&AlgoPrefs::default(), &empty).unwrap();
        assert_eq!(s.key_agreement, KeyAgreement::Dh3k);
        assert_eq!(s.sas, SasType::B32);
        let only = AlgoPrefs {
            key_agreements: vec![KeyAgreement::X255],
            ..AlgoPrefs::default()
        };
        assert_eq!(
            negotiate(&only, &empty).unwrap_err(),
            AlgoClass::KeyAgreement
        );
    }
}
