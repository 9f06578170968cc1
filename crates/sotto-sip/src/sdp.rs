//! SDP (RFC 8866, formerly RFC 4566) and offer/answer (RFC 3264) for audio (video later):
//! Opus, PCMU, PCMA, telephone-event; RTP/AVP, accepting RTP/SAVP offers; `a=zrtp-hash`
//! (RFC 6189 §8); rtcp-mux (RFC 5761) when both offer it; ptime; direction attributes (hold).

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use crate::error::{Result, SipError};

/// Longest SDP body accepted.
pub const MAX_SDP_LEN: usize = 16 * 1024;

/// `c=` connection data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IP4` or `IP6`.
    pub addrtype: String,
    /// The address (possibly with `/ttl` for multicast, or a name).
    pub address: String,
}

impl Connection {
    /// A connection line for an IP address.
    pub fn ip(ip: IpAddr) -> Self {
        Self {
            addrtype: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The unicast address, if it is an IP literal.
    pub fn addr(&self) -> Option<IpAddr> {
        self.address.split('/').next().and_then(|a| a.parse().ok())
    }

    fn parse(v: &str) -> Result<Self> {
        let mut it = v.split(' ');
        let (Some("IN"), Some(t), Some(a), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(SipError::sdp("c= line"));
        };
        if !(t == "IP4" || t == "IP6") || a.is_empty() {
            return Err(SipError::sdp("c= address type"));
        }
        Ok(Self {
            addrtype: t.into(),
            address: a.into(),
        })
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IN {} {}", self.addrtype, self.address)
    }
}

/// `o=` origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` if none).
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version; incremented on every new offer in a dialog (RFC 3264 §8).
    pub session_version: u64,
    /// Address of the originator.
    pub connection: Connection,
}

/// An attribute, `a=name[:value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Option<String>,
}

/// Media direction (RFC 3264 §5.1, §8.4 for hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Send and receive.
    SendRecv,
    /// Send only (we put the peer on hold).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction as seen from the other side.
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }

    /// The answer's direction given the offer's and what we want (RFC 3264 §6.1).
    pub fn answer(offered: Self, wanted: Self) -> Self {
        let send = offered.can_recv() && wanted.can_send();
        let recv = offered.can_send() && wanted.can_recv();
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }

    /// Whether this side sends.
    pub fn can_send(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether this side receives.
    pub fn can_recv(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// `a=zrtp-hash:<version> <hex>` (RFC 6189 §8): the hash of the ZRTP Hello this endpoint sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZrtpHash {
    /// ZRTP protocol version, e.g. `1.10`.
    pub version: String,
    /// SHA-256 of the Hello message.
    pub hash: [u8; 32],
}

impl ZrtpHash {
    /// Parses the attribute value.
    pub fn parse(v: &str) -> Result<Self> {
        let (ver, h) = v
            .trim()
            .split_once(' ')
            .ok_or_else(|| SipError::sdp("zrtp-hash"))?;
        if ver.len() != 4 || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(SipError::sdp("zrtp-hash version"));
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(h.trim(), &mut hash).map_err(|_| SipError::sdp("zrtp-hash value"))?;
        Ok(Self {
            version: ver.into(),
            hash,
        })
    }
}

impl fmt::Display for ZrtpHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.version, hex::encode(self.hash))
    }
}

/// `a=rtpmap` contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (audio), if given.
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`...
    pub media: String,
    /// Port; 0 means a rejected or disabled stream.
    pub port: u16,
    /// Number of ports, if given (`m=audio 4000/2 ...`).
    pub num_ports: Option<u16>,
    /// Transport protocol (`RTP/AVP`, `RTP/SAVP`...).
    pub proto: String,
    /// Formats (payload types for RTP).
    pub formats: Vec<String>,
    /// `i=` title.
    pub title: Option<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<String>,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// The value of the first attribute `name` (`Some("")` for a flag).
    pub fn attr(&self, name: &str) -> Option<&str> {
        find_attr(&self.attributes, name)
    }

    /// All rtpmap entries.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| parse_rtpmap(a.value.as_deref()?))
            .collect()
    }

    /// The rtpmap of payload type `pt`, falling back to the static table (RFC 3551).
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps()
            .into_iter()
            .find(|m| m.pt == pt)
            .or_else(|| static_rtpmap(pt))
    }

    /// The fmtp parameters of `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == "fmtp")
            .find_map(|a| {
                let v = a.value.as_deref()?;
                let (p, rest) = v.split_once(' ').unwrap_or((v, ""));
                (p.parse::<u8>().ok() == Some(pt)).then_some(rest)
            })
    }

    /// The direction attribute, defaulting to sendrecv (or `session` if given).
    pub fn direction(&self, session: Option<Direction>) -> Direction {
        direction_of(&self.attributes)
            .or(session)
            .unwrap_or(Direction::SendRecv)
    }

    /// `a=rtcp-mux` present.
    pub fn rtcp_mux(&self) -> bool {
        self.attr("rtcp-mux").is_some()
    }

    /// `a=rtcp:PORT [IN IP4|IP6 ADDR]` (RFC 3605): where this stream's RTCP goes when it is
    /// not multiplexed. `None` if absent or malformed.
    pub fn rtcp_attr(&self) -> Option<(u16, Option<IpAddr>)> {
        let v = self.attr("rtcp")?;
        let mut it = v.split_ascii_whitespace();
        let port = it.next()?.parse().ok()?;
        let addr = match (it.next(), it.next(), it.next()) {
            (Some(n), Some(_), Some(a)) if n.eq_ignore_ascii_case("IN") => a.parse().ok(),
            _ => None,
        };
        Some((port, addr))
    }

    /// `a=ptime`.
    pub fn ptime(&self) -> Option<u32> {
        self.attr("ptime").and_then(|p| p.trim().parse().ok())
    }

    /// `a=zrtp-hash`, if present and valid.
    pub fn zrtp_hash(&self) -> Option<ZrtpHash> {
        self.attr("zrtp-hash").and_then(|v| ZrtpHash::parse(v).ok())
    }

    /// Whether the profile is RTP/SAVP or RTP/SAVPF.
    pub fn is_secure_profile(&self) -> bool {
        self.proto.to_ascii_uppercase().contains("SAVP")
    }
}

fn find_attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or(""))
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a.name.as_str() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    })
}

fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.split_once(' ')?;
    let mut it = rest.trim().split('/');
    let encoding = it.next()?.to_owned();
    let clock_rate = it.next()?.parse().ok()?;
    let channels = it.next().and_then(|c| c.parse().ok());
    Some(RtpMap {
        pt: pt.parse().ok()?,
        encoding,
        clock_rate,
        channels,
    })
}

fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (enc, rate) = match pt {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some(RtpMap {
        pt,
        encoding: enc.into(),
        clock_rate: rate,
        channels: Some(1),
    })
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<String>,
    /// `t=` lines (raw).
    pub times: Vec<String>,
    /// Other session-level lines kept verbatim (`i= u= e= p= r= z= k=`), as (letter, value).
    pub other: Vec<(char, String)>,
    /// Session-level attributes.
    pub attributes: Vec<Attribute>,
    /// Media sections.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses SDP text (CRLF or LF line ends).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_SDP_LEN {
            return Err(SipError::sdp("too long"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| SipError::sdp("not UTF-8"))?;
        let mut lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.is_empty());
        if lines.next() != Some("v=0") {
            return Err(SipError::sdp("v= line"));
        }
        let mut origin = None;
        let mut session_name = None;
        let mut sd = SessionDescription {
            origin: Origin {
                username: String::new(),
                session_id: 0,
                session_version: 0,
                connection: Connection::ip(IpAddr::from([0, 0, 0, 0])),
            },
            session_name: String::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: Vec::new(),
            other: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        for line in lines {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| SipError::sdp("line without ="))?;
            let mut kc = k.chars();
            let (Some(key), None) = (kc.next(), kc.next()) else {
                return Err(SipError::sdp("line type"));
            };
            if sd.media.len() > 32 {
                return Err(SipError::sdp("too many media sections"));
            }
            match (key, sd.media.last_mut()) {
                ('m', _) => sd.media.push(parse_media(v)?),
                ('o', None) => origin = Some(parse_origin(v)?),
                ('s', None) => session_name = Some(v.to_owned()),
                ('c', None) => sd.connection = Some(Connection::parse(v)?),
                ('b', None) => sd.bandwidths.push(v.to_owned()),
                ('t', None) => sd.times.push(v.to_owned()),
                ('a', None) => sd.attributes.push(parse_attr(v)),
                (k, None) if "iuepzrk".contains(k) => sd.other.push((k, v.to_owned())),
                ('c', Some(m)) => m.connection = Some(Connection::parse(v)?),
                ('b', Some(m)) => m.bandwidths.push(v.to_owned()),
                ('a', Some(m)) => m.attributes.push(parse_attr(v)),
                ('i', Some(m)) => m.title = Some(v.to_owned()),
                ('k', Some(_)) => {}
                _ => return Err(SipError::sdp("unexpected line")),
            }
        }
        sd.origin = origin.ok_or_else(|| SipError::sdp("missing o="))?;
        sd.session_name = session_name.unwrap_or_else(|| "-".into());
        Ok(sd)
    }

    /// The text form, CRLF line ends, in RFC 8866 §5 order.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Session-level direction attribute, if any.
    pub fn session_direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// Session-level attribute value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        find_attr(&self.attributes, name)
    }

    /// The first audio section.
    pub fn audio(&self) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.media == "audio")
    }

    /// The media address of section `m` (its `c=` or the session's).
    pub fn media_addr(&self, m: &MediaDescription) -> Option<SocketAddr> {
        let ip = m.connection.as_ref().or(self.connection.as_ref())?.addr()?;
        Some(SocketAddr::new(ip, m.port))
    }

    /// `a=zrtp-hash` of the first audio stream, or at session level.
    pub fn zrtp_hash(&self) -> Option<ZrtpHash> {
        self.audio()
            .and_then(MediaDescription::zrtp_hash)
            .or_else(|| self.attr("zrtp-hash").and_then(|v| ZrtpHash::parse(v).ok()))
    }
}

fn parse_origin(v: &str) -> Result<Origin> {
    let p: Vec<&str> = v.split(' ').collect();
    let [user, id, ver, "IN", t, a] = p.as_slice() else {
        return Err(SipError::sdp("o= line"));
    };
    Ok(Origin {
        username: (*user).into(),
        session_id: id.parse().map_err(|_| SipError::sdp("o= session id"))?,
        session_version: ver
            .parse()
            .map_err(|_| SipError::sdp("o= session version"))?,
        connection: Connection::parse(&format!("IN {t} {a}"))?,
    })
}

fn parse_media(v: &str) -> Result<MediaDescription> {
    let mut it = v.split(' ').filter(|s| !s.is_empty());
    let media = it
        .next()
        .ok_or_else(|| SipError::sdp("m= media"))?
        .to_owned();
    let portspec = it.next().ok_or_else(|| SipError::sdp("m= port"))?;
    let (port, num) = match portspec.split_once('/') {
        Some((p, n)) => (
            p,
            Some(n.parse().map_err(|_| SipError::sdp("m= port count"))?),
        ),
        None => (portspec, None),
    };
    let port = port.parse().map_err(|_| SipError::sdp("m= port"))?;
    let proto = it
        .next()
        .ok_or_else(|| SipError::sdp("m= proto"))?
        .to_owned();
    let formats: Vec<String> = it.map(str::to_owned).collect();
    if formats.len() > 64 {
        return Err(SipError::sdp("too many formats"));
    }
    Ok(MediaDescription {
        media,
        port,
        num_ports: num,
        proto,
        formats,
        title: None,
        connection: None,
        bandwidths: Vec::new(),
        attributes: Vec::new(),
    })
}

fn parse_attr(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((n, val)) => Attribute {
            name: n.to_owned(),
            value: Some(val.to_owned()),
        },
        None => Attribute {
            name: v.to_owned(),
            value: None,
        },
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} {}\r\ns={}\r\n",
            o.username, o.session_id, o.session_version, o.connection, self.session_name
        )?;
        for (k, v) in self.other.iter().filter(|(k, _)| "iuep".contains(*k)) {
            write!(f, "{k}={v}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        if self.times.is_empty() {
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.times {
            write!(f, "t={t}\r\n")?;
        }
        for (k, v) in self.other.iter().filter(|(k, _)| "rzk".contains(*k)) {
            write!(f, "{k}={v}\r\n")?;
        }
        write_attrs(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(n) = m.num_ports {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt_ in &m.formats {
                write!(f, " {fmt_}")?;
            }
            f.write_str("\r\n")?;
            if let Some(i) = &m.title {
                write!(f, "i={i}\r\n")?;
            }
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            for b in &m.bandwidths {
                write!(f, "b={b}\r\n")?;
            }
            write_attrs(f, &m.attributes)?;
        }
        Ok(())
    }
}

fn write_attrs(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{v}\r\n", a.name)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

/// An audio codec sotto can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Opus, `opus/48000/2` (RFC 7587).
    Opus,
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The payload type we offer it with.
    pub fn default_pt(self) -> u8 {
        match self {
            Self::Opus => 96,
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    fn rtpmap(self, pt: u8) -> String {
        match self {
            Self::Opus => format!("{pt} opus/48000/2"),
            Self::Pcmu => format!("{pt} PCMU/8000"),
            Self::Pcma => format!("{pt} PCMA/8000"),
        }
    }

    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48000,
            Self::Pcmu | Self::Pcma => 8000,
        }
    }

    fn matches(self, m: &RtpMap) -> bool {
        let e = m.encoding.to_ascii_lowercase();
        match self {
            Self::Opus => e == "opus" && m.clock_rate == 48000 && m.channels == Some(2),
            Self::Pcmu => e == "pcmu" && m.clock_rate == 8000,
            Self::Pcma => e == "pcma" && m.clock_rate == 8000,
        }
    }
}

/// The payload type we offer telephone-event/48000 (RFC 4733, beside Opus) with.
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// The payload type we offer telephone-event/8000 (RFC 4733, beside G.711) with.
pub const TELEPHONE_EVENT_8K_PT: u8 = 100;

/// Our payload type for telephone-event at an RTP clock rate (RFC 4733 §2.1: the events use
/// the clock rate of the audio codec they go with).
fn our_te_pt(rate: u32) -> u8 {
    if rate == 48_000 {
        TELEPHONE_EVENT_PT
    } else {
        TELEPHONE_EVENT_8K_PT
    }
}

/// The distinct clock rates of `codecs`, in order.
fn clock_rates(codecs: impl Iterator<Item = Codec>) -> Vec<u32> {
    let mut rates = Vec::new();
    for c in codecs {
        if !rates.contains(&c.clock_rate()) {
            rates.push(c.clock_rate());
        }
    }
    rates
}

/// What we want for our audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAudio {
    /// Our RTP address.
    pub addr: SocketAddr,
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// Offer telephone-event (RFC 4733) at the clock rate of each offered codec: /48000 with
    /// Opus, /8000 with G.711.
    pub telephone_event: bool,
    /// Offer/accept rtcp-mux.
    pub rtcp_mux: bool,
    /// Packet time in ms.
    pub ptime: u32,
    /// Our ZRTP Hello hash, for `a=zrtp-hash`.
    pub zrtp_hash: Option<ZrtpHash>,
    /// The direction we want (SendOnly to hold the peer).
    pub direction: Direction,
}

impl LocalAudio {
    /// Opus, PCMU, PCMA, telephone-event, rtcp-mux, 20 ms, sendrecv.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            codecs: vec![Codec::Opus, Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            rtcp_mux: true,
            ptime: 20,
            zrtp_hash: None,
            direction: Direction::SendRecv,
        }
    }
}

/// What offer/answer agreed for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Where to send RTP (and RTCP when muxed).
    pub remote_addr: SocketAddr,
    /// The codec to send.
    pub codec: Codec,
    /// Its payload type.
    pub pt: u8,
    /// telephone-event payload type at the negotiated codec's clock rate, if both support it.
    pub telephone_event_pt: Option<u8>,
    /// RTP and RTCP share one port.
    pub rtcp_mux: bool,
    /// Where to send RTCP: `remote_addr` with rtcp-mux, else the peer's `a=rtcp` (RFC 3605),
    /// else the next port up (RFC 3550 §11).
    pub remote_rtcp: SocketAddr,
    /// Packet time in ms.
    pub ptime: u32,
    /// Our direction (what we may do).
    pub direction: Direction,
    /// The peer's `a=zrtp-hash`, to check against its Hello.
    pub remote_zrtp_hash: Option<ZrtpHash>,
    /// The peer used RTP/SAVP.
    pub secure_profile: bool,
}

fn base_session(addr: IpAddr, session_id: u64, version: u64) -> SessionDescription {
    SessionDescription {
        origin: Origin {
            username: "-".into(),
            session_id,
            session_version: version,
            connection: Connection::ip(addr),
        },
        session_name: "sotto".into(),
        connection: Some(Connection::ip(addr)),
        bandwidths: Vec::new(),
        times: vec!["0 0".into()],
        other: Vec::new(),
        attributes: Vec::new(),
        media: Vec::new(),
    }
}

fn audio_attrs(
    local: &LocalAudio,
    pts: &[(Codec, u8)],
    te: &[(u8, u32)],
    mux: bool,
    dir: Direction,
) -> Vec<Attribute> {
    let a = |n: &str, v: Option<String>| Attribute {
        name: n.into(),
        value: v,
    };
    let mut out = Vec::new();
    for (c, pt) in pts {
        out.push(a("rtpmap", Some(c.rtpmap(*pt))));
        if *c == Codec::Opus {
            out.push(a("fmtp", Some(format!("{pt} useinbandfec=1"))));
        }
    }
    for (te, rate) in te {
        out.push(a("rtpmap", Some(format!("{te} telephone-event/{rate}"))));
        out.push(a("fmtp", Some(format!("{te} 0-15"))));
    }
    out.push(a("ptime", Some(local.ptime.to_string())));
    // RFC 3605: our RTCP arrives on the RTP port even without rtcp-mux (one socket); RFC 5761
    // §5.1.3 recommends this beside a=rtcp-mux too.
    out.push(a("rtcp", Some(local.addr.port().to_string())));
    if mux {
        out.push(a("rtcp-mux", None));
    }
    if let Some(z) = &local.zrtp_hash {
        out.push(a("zrtp-hash", Some(z.to_string())));
    }
    out.push(a(dir.as_str(), None));
    out
}

/// Builds an offer (RFC 3264 §5). `version` must grow with each offer in a session.
pub fn create_offer(local: &LocalAudio, session_id: u64, version: u64) -> SessionDescription {
    let mut sd = base_session(local.addr.ip(), session_id, version);
    let pts: Vec<(Codec, u8)> = local.codecs.iter().map(|c| (*c, c.default_pt())).collect();
    let te: Vec<(u8, u32)> = if local.telephone_event {
        clock_rates(local.codecs.iter().copied())
            .into_iter()
            .map(|r| (our_te_pt(r), r))
            .collect()
    } else {
        Vec::new()
    };
    let mut formats: Vec<String> = pts.iter().map(|(_, p)| p.to_string()).collect();
    formats.extend(te.iter().map(|(p, _)| p.to_string()));
    sd.media.push(MediaDescription {
        media: "audio".into(),
        port: local.addr.port(),
        num_ports: None,
        proto: "RTP/AVP".into(),
        formats,
        title: None,
        connection: None,
        bandwidths: Vec::new(),
        attributes: audio_attrs(local, &pts, &te, local.rtcp_mux, local.direction),
    });
    sd
}

fn offered_codecs(m: &MediaDescription, local: &LocalAudio) -> Vec<(Codec, u8)> {
    // Offerer's preference order (§6.1), restricted to what we support.
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter_map(|pt| {
            let map = m.rtpmap(pt)?;
            local
                .codecs
                .iter()
                .find(|c| c.matches(&map))
                .map(|c| (*c, pt))
        })
        .collect()
}

/// The peer's telephone-event payload type at `rate` (RFC 4733 §7.1.1), if it lists one.
fn telephone_event_pt(m: &MediaDescription, rate: u32) -> Option<u8> {
    m.rtpmaps()
        .into_iter()
        .find(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == rate)
        .map(|r| r.pt)
        .filter(|pt| m.formats.iter().any(|f| f.parse::<u8>().ok() == Some(*pt)))
}

/// The peer's RTCP address for a stream at `rtp` (see [`NegotiatedAudio::remote_rtcp`]).
fn rtcp_address(m: &MediaDescription, rtp: SocketAddr, mux: bool) -> SocketAddr {
    if mux {
        return rtp;
    }
    match m.rtcp_attr() {
        Some((port, addr)) => SocketAddr::new(addr.unwrap_or(rtp.ip()), port),
        None => SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1)),
    }
}

fn is_rtp_audio(m: &MediaDescription) -> bool {
    let p = m.proto.to_ascii_uppercase();
    m.media == "audio"
        && m.port != 0
        && (p == "RTP/AVP" || p == "RTP/SAVP" || p == "RTP/AVPF" || p == "RTP/SAVPF")
}

/// Answers an offer (RFC 3264 §6): accepts the first usable audio stream and rejects every
/// other stream with port 0. Errors with [`SipError::NotAcceptable`] (send 488) if no audio
/// stream is usable.
pub fn create_answer(
    offer: &SessionDescription,
    local: &LocalAudio,
    session_id: u64,
    version: u64,
) -> Result<(SessionDescription, NegotiatedAudio)> {
    let mut sd = base_session(local.addr.ip(), session_id, version);
    let mut negotiated = None;
    let session_dir = offer.session_direction();
    for m in &offer.media {
        let usable = if negotiated.is_none() && is_rtp_audio(m) {
            Some(offered_codecs(m, local))
        } else {
            None
        };
        let Some(codecs) = usable.filter(|c| !c.is_empty()) else {
            // Rejected stream: same media and proto, port 0 (§6).
            sd.media.push(MediaDescription {
                media: m.media.clone(),
                port: 0,
                num_ports: None,
                proto: m.proto.clone(),
                formats: m.formats.iter().take(1).cloned().collect(),
                title: None,
                connection: None,
                bandwidths: Vec::new(),
                attributes: Vec::new(),
            });
            continue;
        };
        let remote_addr = offer
            .media_addr(m)
            .ok_or(SipError::NotAcceptable("no usable connection address"))?;
        let te: Vec<(u8, u32)> = if local.telephone_event {
            clock_rates(codecs.iter().map(|(c, _)| *c))
                .into_iter()
                .filter_map(|r| telephone_event_pt(m, r).map(|p| (p, r)))
                .collect()
        } else {
            Vec::new()
        };
        let mux = local.rtcp_mux && m.rtcp_mux();
        let dir = Direction::answer(m.direction(session_dir), local.direction);
        // An offer with c=0.0.0.0 is an RFC 2543 hold: treat as sendonly from the peer.
        let dir = if remote_addr.ip().is_unspecified() {
            Direction::answer(Direction::SendOnly, dir)
        } else {
            dir
        };
        let mut formats: Vec<String> = codecs.iter().map(|(_, p)| p.to_string()).collect();
        formats.extend(te.iter().map(|(p, _)| p.to_string()));
        let (codec, pt) = codecs
            .first()
            .copied()
            .ok_or(SipError::NotAcceptable("no common codec"))?;
        sd.media.push(MediaDescription {
            media: "audio".into(),
            port: local.addr.port(),
            num_ports: None,
            proto: m.proto.clone(),
            formats,
            title: None,
            connection: None,
            bandwidths: Vec::new(),
            attributes: audio_attrs(local, &codecs, &te, mux, dir),
        });
        let te_pt = te
            .iter()
            .find(|(_, r)| *r == codec.clock_rate())
            .map(|(p, _)| *p);
        negotiated = Some(NegotiatedAudio {
            remote_addr,
            remote_rtcp: rtcp_address(m, remote_addr, mux),
            codec,
            pt,
            telephone_event_pt: te_pt,
            rtcp_mux: mux,
            ptime: m.ptime().unwrap_or(local.ptime),
            direction: dir,
            remote_zrtp_hash: m.zrtp_hash().or_else(|| {
                offer
                    .attr("zrtp-hash")
                    .and_then(|v| ZrtpHash::parse(v).ok())
            }),
            secure_profile: m.is_secure_profile(),
        });
    }
    let n = negotiated.ok_or(SipError::NotAcceptable("no acceptable audio stream"))?;
    Ok((sd, n))
}

/// Processes the answer to our offer (RFC 3264 §7).
pub fn process_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
    local: &LocalAudio,
) -> Result<NegotiatedAudio> {
    if answer.media.len() != offer.media.len() {
        return Err(SipError::PeerMisbehaved(
            "answer has a different number of m= lines",
        ));
    }
    let (idx, _) = offer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.media == "audio")
        .ok_or(SipError::Misuse("our offer had no audio"))?;
    let m = answer
        .media
        .get(idx)
        .ok_or(SipError::PeerMisbehaved("missing answer stream"))?;
    if m.port == 0 {
        return Err(SipError::NotAcceptable("audio stream rejected"));
    }
    let codecs = offered_codecs(m, local);
    let (codec, pt) = codecs
        .first()
        .copied()
        .ok_or(SipError::PeerMisbehaved("answer has no codec we offered"))?;
    let remote_addr = answer
        .media_addr(m)
        .ok_or(SipError::PeerMisbehaved("answer has no connection address"))?;
    let ours = offer.media.get(idx).map(|o| o.rtcp_mux()).unwrap_or(false);
    Ok(NegotiatedAudio {
        remote_addr,
        remote_rtcp: rtcp_address(m, remote_addr, ours && m.rtcp_mux()),
        codec,
        pt,
        telephone_event_pt: if local.telephone_event {
            telephone_event_pt(m, codec.clock_rate())
        } else {
            None
        },
        rtcp_mux: ours && m.rtcp_mux(),
        ptime: m.ptime().unwrap_or(local.ptime),
        direction: m.direction(answer.session_direction()).reversed(),
        remote_zrtp_hash: m.zrtp_hash().or_else(|| {
            answer
                .attr("zrtp-hash")
                .and_then(|v| ZrtpHash::parse(v).ok())
        }),
        secure_profile: m.is_secure_profile(),
    })
}

/// Renders for debugging: the SDP as text.
pub fn to_text(sd: &SessionDescription) -> String {
    let mut s = String::new();
    let _ = write!(s, "{sd}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> ZrtpHash {
        ZrtpHash {
            version: "1.10".into(),
            hash: [0xab; 32],
        }
    }

    #[test]
    fn offer_answer_roundtrip_with_zrtp_hash() {
        let mut a = LocalAudio::new("192.0.2.1:40000".parse().unwrap());
        a.zrtp_hash = Some(hash());
        let offer = create_offer(&a, 1, 1);
        let text = offer.to_bytes();
        let parsed = SessionDescription::parse(&text).unwrap();
        assert_eq!(parsed, offer);
        assert!(
            String::from_utf8(text)
                .unwrap()
                .contains("a=zrtp-hash:1.10 abab")
        );
        let mut b = LocalAudio::new("[2001:db8::2]:50000".parse().unwrap());
        b.codecs = vec![Codec::Pcma, Codec::Opus];
        b.zrtp_hash = Some(ZrtpHash {
            version: "1.10".into(),
            hash: [0xcd; 32],
        });
        let (answer, nb) = create_answer(&parsed, &b, 7, 1).unwrap();
        // Offerer's order wins: Opus.
        assert_eq!((nb.codec, nb.pt), (Codec::Opus, 96));
        assert_eq!(nb.remote_zrtp_hash, Some(hash()));
        assert!(nb.rtcp_mux);
        assert_eq!(nb.remote_addr, "192.0.2.1:40000".parse().unwrap());
        let answer = SessionDescription::parse(&answer.to_bytes()).unwrap();
        assert_eq!(answer.connection.as_ref().unwrap().addrtype, "IP6");
        let na = process_answer(&offer, &answer, &a).unwrap();
        assert_eq!(na.codec, Codec::Opus);
        assert_eq!(na.remote_addr, "[2001:db8::2]:50000".parse().unwrap());
        assert_eq!(na.remote_zrtp_hash.unwrap().hash, [0xcd; 32]);
        assert_eq!(na.telephone_event_pt, Some(101));
    }

    #[test]
    fn hold_and_rejected_streams() {
        let offer = b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=video 5000 RTP/AVP 31\r\nm=audio 4000 RTP/SAVP 0 8\r\na=sendonly\r\n";
        let offer = SessionDescription::parse(offer).unwrap();
        let local = LocalAudio::new("10.0.0.2:6000".parse().unwrap());
        let (ans, n) = create_answer(&offer, &local, 1, 1).unwrap();
        assert_eq!(ans.media[0].port, 0);
        assert_eq!(ans.media[1].proto, "RTP/SAVP");
        assert_eq!(n.direction, Direction::RecvOnly);
        assert!(!n.rtcp_mux, "peer did not offer rtcp-mux");
        assert_eq!(
            n.remote_rtcp,
            "10.0.0.1:4001".parse().unwrap(),
            "RFC 3550 §11"
        );
        assert!(ans.media[1].attr("rtcp") == Some("6000"), "RFC 3605 a=rtcp");
        assert_eq!((n.codec, n.pt), (Codec::Pcmu, 0));
        assert!(n.secure_profile);
        // Nothing in common → 488.
        let bad = SessionDescription::parse(
            b"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 1 RTP/AVP 18\n",
        )
        .unwrap();
        assert!(matches!(
            create_answer(&bad, &local, 1, 1),
            Err(SipError::NotAcceptable(_))
        ));
    }

    /// RFC 4733 §2.1/§7.1.1: telephone-event runs at the clock rate of the codec it goes with,
    /// so it is offered at 48000 beside Opus and at 8000 beside G.711, and the negotiated one
    /// follows the chosen codec.
    #[test]
    fn telephone_event_follows_the_codec_clock_rate() {
        let local = LocalAudio::new("192.0.2.1:40000".parse().unwrap());
        let offer = create_offer(&local, 1, 1);
        let text = String::from_utf8(offer.to_bytes()).unwrap();
        assert!(
            text.contains("m=audio 40000 RTP/AVP 96 0 8 101 100\r\n"),
            "{text}"
        );
        assert!(
            text.contains("a=rtpmap:101 telephone-event/48000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("a=rtpmap:100 telephone-event/8000\r\n"),
            "{text}"
        );
        assert!(text.contains("a=fmtp:101 0-15\r\n"), "{text}");

        // A Linphone-like offer: Opus with te/48000 (101) and G.711 with te/8000 (100).
        let lp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 96 0 101 100\r\na=rtpmap:96 opus/48000/2\r\n\
a=rtpmap:101 telephone-event/48000\r\na=rtpmap:100 telephone-event/8000\r\n";
        let lp = SessionDescription::parse(lp).unwrap();
        let (ans, n) = create_answer(&lp, &local, 2, 1).unwrap();
        assert_eq!((n.codec, n.telephone_event_pt), (Codec::Opus, Some(101)));
        assert_eq!(ans.media[0].formats, ["96", "0", "101", "100"]);
        // G.711 only: the 8 kHz one.
        let g711 = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 8 97\r\na=rtpmap:97 telephone-event/8000\r\n";
        let g711 = SessionDescription::parse(g711).unwrap();
        let (ans, n) = create_answer(&g711, &local, 2, 1).unwrap();
        assert_eq!((n.codec, n.telephone_event_pt), (Codec::Pcma, Some(97)));
        assert_eq!(ans.media[0].formats, ["8", "97"]);
        let back = process_answer(&offer, &ans, &local);
        // Our offer had other PTs, but the answer's te PT is what we send with.
        assert!(back.is_ok());
        // A peer with no telephone-event: none negotiated, nothing in the answer.
        let none = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\n";
        let (ans, n) =
            create_answer(&SessionDescription::parse(none).unwrap(), &local, 2, 1).unwrap();
        assert_eq!(n.telephone_event_pt, None);
        assert_eq!(ans.media[0].formats, ["0"]);
    }

    /// RFC 3605 `a=rtcp`, with and without an address; ignored under rtcp-mux.
    #[test]
    fn rtcp_attribute_gives_the_rtcp_address() {
        let local = LocalAudio::new("10.0.0.2:6000".parse().unwrap());
        for (attr, mux, want) in [
            ("a=rtcp:4444\r\n", false, "10.0.0.1:4444"),
            ("a=rtcp:5555 IN IP4 10.9.9.9\r\n", false, "10.9.9.9:5555"),
            ("a=rtcp:4444\r\na=rtcp-mux\r\n", true, "10.0.0.1:4000"),
            ("a=rtcp:junk\r\n", false, "10.0.0.1:4001"),
        ] {
            let offer = format!(
                "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                 m=audio 4000 RTP/AVP 0\r\n{attr}"
            );
            let offer = SessionDescription::parse(offer.as_bytes()).unwrap();
            let (_, n) = create_answer(&offer, &local, 1, 1).unwrap();
            assert_eq!(n.rtcp_mux, mux, "{attr}");
            assert_eq!(n.remote_rtcp, want.parse().unwrap(), "{attr}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for g in [
            &b""[..],
            b"v=1\r\n",
            b"v=0\r\nm=audio x RTP/AVP 0\r\n",
            b"v=0\r\nxx\r\n",
            b"v=0\r\no=a b\r\n",
        ] {
            assert!(SessionDescription::parse(g).is_err());
        }
        assert!(ZrtpHash::parse("1.10 abcd").is_err());
    }
}
