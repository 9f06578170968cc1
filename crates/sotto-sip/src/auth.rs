//! Digest access authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760):
//! MD5 and SHA-256, `qop=auth` with `nc`/`cnonce`, for REGISTER and INVITE.

use md5::Digest as _;
use sotto_proto::SecretBytes;
use sotto_proto::crypto::Random;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Result, SipError};
use crate::grammar::{quote, split_commas, unescape_quoted};
use crate::headers::Method;
use crate::message::{Request, Response, random_hex};

/// A digest algorithm (RFC 8760 §2.3 registry values sotto supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (the default when absent).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` parameter (case-insensitive); `None` if unsupported.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Self::Md5),
            "MD5-SESS" => Some(Self::Md5Sess),
            "SHA-256" => Some(Self::Sha256),
            "SHA-256-SESS" => Some(Self::Sha256Sess),
            _ => None,
        }
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn strength(self) -> u8 {
        match self {
            Self::Md5 | Self::Md5Sess => 1,
            Self::Sha256 | Self::Sha256Sess => 2,
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex_hash(self, data: &[u8]) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex::encode(md5::Md5::digest(data)),
            Self::Sha256 | Self::Sha256Sess => hex::encode(sha2::Sha256::digest(data)),
        }
    }
}

fn parse_params(value: &str) -> Result<(String, Vec<(String, String)>)> {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    let mut out = Vec::new();
    for part in split_commas(rest) {
        if part.is_empty() {
            continue;
        }
        let (n, v) = part
            .split_once('=')
            .ok_or_else(|| SipError::malformed("auth-param"))?;
        let v = v.trim();
        let v = match v.strip_prefix('"') {
            Some(q) => unescape_quoted(
                q.strip_suffix('"')
                    .ok_or_else(|| SipError::malformed("auth-param"))?,
            ),
            None => v.to_owned(),
        };
        out.push((n.trim().to_ascii_lowercase(), v));
    }
    Ok((scheme.to_owned(), out))
}

fn find<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A parsed `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Realm.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque, echoed back.
    pub opaque: Option<String>,
    /// The algorithm (MD5 if absent).
    pub algorithm: Algorithm,
    /// The qop options offered (`auth`, `auth-int`).
    pub qop: Vec<String>,
    /// `stale=true`: the nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Parses one header value; errors for non-Digest schemes or unsupported algorithms.
    pub fn parse(value: &str) -> Result<Self> {
        let (scheme, p) = parse_params(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(SipError::Auth("not a Digest challenge"));
        }
        let algorithm = match find(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(SipError::Auth("unsupported digest algorithm"))?,
        };
        Ok(Self {
            realm: find(&p, "realm")
                .ok_or(SipError::Auth("challenge without realm"))?
                .to_owned(),
            nonce: find(&p, "nonce")
                .ok_or(SipError::Auth("challenge without nonce"))?
                .to_owned(),
            opaque: find(&p, "opaque").map(str::to_owned),
            algorithm,
            qop: find(&p, "qop")
                .map(|q| q.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
            stale: find(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The strongest supported Digest challenge of a 401/407 response (RFC 8760 §2.4: a UAC
    /// picks the preferred algorithm among several challenges), and whether it is for a proxy.
    pub fn from_response(resp: &Response) -> Result<(Self, bool)> {
        let proxy = resp.status == 407;
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        resp.headers
            .get_all(name)
            .filter_map(|v| Self::parse(v).ok())
            .max_by_key(|c| c.algorithm.strength())
            .map(|c| (c, proxy))
            .ok_or(SipError::Auth("no supported Digest challenge"))
    }

    /// The header value of a challenge (server side).
    pub fn to_header(&self) -> String {
        let mut s = format!(
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        );
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque={}", quote(o)));
        }
        s.push_str(&format!(", algorithm={}", self.algorithm.as_str()));
        if !self.qop.is_empty() {
            s.push_str(&format!(", qop={}", quote(&self.qop.join(","))));
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }
}

/// The inputs of one digest computation.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// User name.
    pub username: &'a str,
    /// Realm.
    pub realm: &'a str,
    /// Password.
    pub password: &'a [u8],
    /// Request method.
    pub method: &'a str,
    /// digest-uri.
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// `Some((nc, cnonce))` with qop=auth; `None` for RFC 2069 compatibility (no qop).
    pub qop_auth: Option<(u32, &'a str)>,
}

/// The `response` value (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1), lower-case hex.
pub fn compute_response(i: &DigestInput<'_>) -> String {
    // A1 and HA1 are password-equivalent: every buffer holding them is wiped on drop.
    let alg = i.algorithm;
    let mut a1 = Zeroizing::new(Vec::with_capacity(64));
    a1.extend_from_slice(i.username.as_bytes());
    a1.push(b':');
    a1.extend_from_slice(i.realm.as_bytes());
    a1.push(b':');
    a1.extend_from_slice(i.password);
    let mut ha1 = Zeroizing::new(alg.hex_hash(&a1));
    if alg.is_sess() {
        let cnonce = i.qop_auth.map(|(_, c)| c).unwrap_or("");
        let sess = Zeroizing::new(format!("{}:{}:{cnonce}", ha1.as_str(), i.nonce));
        ha1 = Zeroizing::new(alg.hex_hash(sess.as_bytes()));
    }
    let ha2 = alg.hex_hash(format!("{}:{}", i.method, i.uri).as_bytes());
    let kd = Zeroizing::new(match i.qop_auth {
        Some((nc, cnonce)) => format!("{}:{}:{nc:08x}:{cnonce}:auth:{ha2}", ha1.as_str(), i.nonce),
        None => format!("{}:{}:{ha2}", ha1.as_str(), i.nonce),
    });
    alg.hex_hash(kd.as_bytes())
}

/// A user name and password for digest authentication; the password is zeroized on drop and
/// never printed.
#[derive(Debug)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    password: SecretBytes,
}

impl Credentials {
    /// Credentials for one account.
    pub fn new(username: &str, password: &[u8]) -> Self {
        Self {
            username: username.to_owned(),
            password: SecretBytes::from_slice(password),
        }
    }
}

impl Clone for Credentials {
    fn clone(&self) -> Self {
        Self {
            username: self.username.clone(),
            password: self.password.clone_secret(),
        }
    }
}

/// A parsed `Authorization` / `Proxy-Authorization` Digest header (server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// User name.
    pub username: String,
    /// Realm.
    pub realm: String,
    /// Nonce.
    pub nonce: String,
    /// digest-uri.
    pub uri: String,
    /// The response hex.
    pub response: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// `Some((nc, cnonce))` with qop=auth.
    pub qop_auth: Option<(u32, String)>,
    /// Opaque.
    pub opaque: Option<String>,
}

impl Authorization {
    /// Parses a Digest credentials header value.
    pub fn parse(value: &str) -> Result<Self> {
        let (scheme, p) = parse_params(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(SipError::Auth("not Digest credentials"));
        }
        let need = |n: &str| {
            find(&p, n)
                .map(str::to_owned)
                .ok_or(SipError::Auth("missing credentials field"))
        };
        let algorithm = match find(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(SipError::Auth("unsupported digest algorithm"))?,
        };
        let qop_auth = match find(&p, "qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc =
                    u32::from_str_radix(&need("nc")?, 16).map_err(|_| SipError::Auth("bad nc"))?;
                Some((nc, need("cnonce")?))
            }
            Some(_) => return Err(SipError::Auth("unsupported qop")),
        };
        Ok(Self {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm,
            qop_auth,
            opaque: find(&p, "opaque").map(str::to_owned),
        })
    }

    /// The header value.
    pub fn to_header(&self) -> String {
        let mut s = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm.as_str()
        );
        if let Some((nc, cnonce)) = &self.qop_auth {
            s.push_str(&format!(
                ", qop=auth, nc={nc:08x}, cnonce={}",
                quote(cnonce)
            ));
        }
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque={}", quote(o)));
        }
        s
    }

    /// Server side: checks the response against the password, in constant time.
    pub fn verify(&self, method: &Method, password: &[u8]) -> bool {
        let expected = compute_response(&DigestInput {
            algorithm: self.algorithm,
            username: &self.username,
            realm: &self.realm,
            password,
            method: method.as_str(),
            uri: &self.uri,
            nonce: &self.nonce,
            qop_auth: self.qop_auth.as_ref().map(|(n, c)| (*n, c.as_str())),
        });
        bool::from(
            expected
                .as_bytes()
                .ct_eq(self.response.to_ascii_lowercase().as_bytes()),
        )
    }
}

/// A UAC's credentials and nonce-count state.
#[derive(Debug)]
pub struct DigestClient {
    username: String,
    password: SecretBytes,
    nonce: String,
    nc: u32,
}

impl DigestClient {
    /// A client for these credentials.
    pub fn from_credentials(c: &Credentials) -> Self {
        Self {
            username: c.username.clone(),
            password: c.password.clone_secret(),
            nonce: String::new(),
            nc: 0,
        }
    }

    /// Credentials for one account.
    pub fn new(username: &str, password: &[u8]) -> Self {
        Self {
            username: username.to_owned(),
            password: SecretBytes::new(password.to_vec()),
            nonce: String::new(),
            nc: 0,
        }
    }

    /// Answers a 401/407: returns the retried request (§22.2): same Call-ID, From, To,
    /// CSeq incremented, a new branch, and the Authorization/Proxy-Authorization header.
    pub fn retry(
        &mut self,
        original: &Request,
        challenge_resp: &Response,
        rng: &mut dyn Random,
    ) -> Result<Request> {
        let (ch, proxy) = Challenge::from_response(challenge_resp)?;
        let mut req = original.clone();
        let mut cseq = req.headers.cseq()?;
        cseq.seq = cseq
            .seq
            .checked_add(1)
            .ok_or(SipError::Misuse("CSeq overflow"))?;
        req.headers.set("CSeq", cseq.to_string());
        let mut via = req.headers.top_via()?;
        via.params
            .set("branch", Some(crate::message::new_branch(rng)));
        req.headers.set_top_via(&via);
        let value = self.authorization(&ch, &req.method, &req.uri.to_string(), rng)?;
        let name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        req.headers.set(name, value);
        Ok(req)
    }

    /// Computes the credentials header value for `challenge`.
    pub fn authorization(
        &mut self,
        ch: &Challenge,
        method: &Method,
        uri: &str,
        rng: &mut dyn Random,
    ) -> Result<String> {
        if ch.nonce != self.nonce {
            self.nonce = ch.nonce.clone();
            self.nc = 0;
        }
        let qop_auth = if ch.qop.iter().any(|q| q.eq_ignore_ascii_case("auth")) {
            self.nc = self.nc.wrapping_add(1);
            Some((self.nc, random_hex(rng, 16)))
        } else if ch.qop.is_empty() {
            None
        } else {
            return Err(SipError::Auth("server offers only unsupported qop"));
        };
        let response = compute_response(&DigestInput {
            algorithm: ch.algorithm,
            username: &self.username,
            realm: &ch.realm,
            password: self.password.expose(),
            method: method.as_str(),
            uri,
            nonce: &ch.nonce,
            qop_auth: qop_auth.as_ref().map(|(n, c)| (*n, c.as_str())),
        });
        Ok(Authorization {
            username: self.username.clone(),
            realm: ch.realm.clone(),
            nonce: ch.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: ch.algorithm,
            qop_auth,
            opaque: ch.opaque.clone(),
        }
        .to_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
    const CHALLENGE_SHA256: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc7616(alg: Algorithm) -> String {
        let ch = Challenge::parse(CHALLENGE_SHA256).unwrap();
        compute_response(&DigestInput {
            algorithm: alg,
            username: "Mufasa",
            realm: &ch.realm,
            password: b"Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: &ch.nonce,
            qop_auth: Some((1, CNONCE)),
        })
    }

    #[test]
    fn rfc7616_3_9_1_sha256() {
        assert_eq!(
            rfc7616(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc7616_3_9_1_md5() {
        assert_eq!(rfc7616(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn challenge_parse_and_authorization_roundtrip() {
        let ch = Challenge::parse(CHALLENGE_SHA256).unwrap();
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert_eq!(ch.qop, vec!["auth".to_owned(), "auth-int".to_owned()]);
        assert_eq!(
            ch.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        let a = Authorization {
            username: "Mufasa".into(),
            realm: ch.realm.clone(),
            nonce: ch.nonce.clone(),
            uri: "/dir/index.html".into(),
            response: rfc7616(Algorithm::Sha256),
            algorithm: Algorithm::Sha256,
            qop_auth: Some((1, CNONCE.into())),
            opaque: ch.opaque.clone(),
        };
        let parsed = Authorization::parse(&a.to_header()).unwrap();
        assert_eq!(parsed, a);
        assert!(parsed.to_header().contains("nc=00000001"));
        assert!(parsed.verify(&Method::Other("GET".into()), b"Circle of Life"));
        assert!(!parsed.verify(&Method::Other("GET".into()), b"circle of life"));
    }
}
