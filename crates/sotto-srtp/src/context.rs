//! `SrtpContext`: one master key, any number of SSRCs, SRTP and SRTCP both ways.

use zeroize::Zeroizing;

use crate::cipher::{Transform, srtcp_gcm_iv, srtp_gcm_iv};
use crate::error::{Error, Result};
use crate::header::{RtcpHeaderView, RtpHeaderView, read_u32};
use crate::profile::Profile;
use crate::replay::ReplayWindow;

/// What to do with a packet whose SSRC has no stream yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownSsrc {
    /// Create the stream (ROC 0) once a packet of that SSRC authenticates (libsrtp's
    /// `ssrc_any_inbound`). Up to [`Config::max_streams`] SSRCs.
    #[default]
    Learn,
    /// Refuse it with [`Error::UnknownSsrc`]; streams come only from [`SrtpContext::add_stream`].
    Reject,
}

/// Settings of an [`SrtpContext`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Replay window size in packets (RFC 3711 §3.3.2; at least 64, at most 2^15).
    pub replay_window: u64,
    /// Master key identifier carried in every packet (RFC 3711 §3.1), if any (1 to 128 octets).
    pub mki: Option<Vec<u8>>,
    /// Key derivation rate (RFC 3711 §4.3.1): 0, or a power of two up to 2^24.
    pub key_derivation_rate: u32,
    /// Policy for SSRCs not seen before (unprotect side).
    pub unknown_ssrc: UnknownSsrc,
    /// Most SSRCs one context tracks.
    pub max_streams: usize,
    /// Use the SRTP tag length for SRTCP too on the `_32` profiles (32-bit SRTCP tags).
    /// RFC 3711 §4.2 / RFC 4568 keep SRTCP at 80 bits (the default, and libsrtp's); some ZRTP
    /// peers (linphone with `HS32`) truncate SRTCP tags to 32 bits as well. No effect on the
    /// 80-bit and AES-GCM profiles.
    pub srtcp_tag_like_srtp: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            replay_window: Self::DEFAULT_REPLAY_WINDOW,
            mki: None,
            key_derivation_rate: 0,
            unknown_ssrc: UnknownSsrc::Learn,
            max_streams: 64,
            srtcp_tag_like_srtp: false,
        }
    }
}

impl Config {
    /// Default replay window: large enough that a burst of video packets delivered out of
    /// order is not mistaken for a replay.
    pub const DEFAULT_REPLAY_WINDOW: u64 = 1024;
}

/// Session keys re-derived for `r = index DIV kdr != 0` (only with a nonzero key derivation rate).
struct Epoch {
    r: u64,
    transform: Transform,
}

/// Per-SSRC state.
struct Stream {
    ssrc: u32,
    initial_roc: u32,
    rtp_tx: ReplayWindow,
    rtp_rx: ReplayWindow,
    rtcp_tx_next: u32,
    rtcp_rx: ReplayWindow,
    rtp_epoch: Option<Box<Epoch>>,
    rtcp_epoch: Option<Box<Epoch>>,
}

impl Stream {
    fn new(ssrc: u32, initial_roc: u32, window: u64) -> Self {
        Self {
            ssrc,
            initial_roc,
            rtp_tx: ReplayWindow::new(window),
            rtp_rx: ReplayWindow::new(window),
            rtcp_tx_next: 0,
            rtcp_rx: ReplayWindow::new(window),
            rtp_epoch: None,
            rtcp_epoch: None,
        }
    }
}

/// The master key and salt, kept only when keys must be re-derived (nonzero KDR).
struct Master {
    key: Zeroizing<Vec<u8>>,
    salt: Zeroizing<Vec<u8>>,
}

/// An SRTP/SRTCP cryptographic context (RFC 3711 §3.2) for one master key.
///
/// Use one context per direction: the sender protects, the receiver unprotects. Each SSRC gets
/// its own rollover counter, SRTCP index and replay windows. Every method works in the caller's
/// buffer and allocates nothing per packet (a stream is allocated once, the first time its SSRC
/// is seen). A packet that fails leaves the context exactly as it was.
///
/// ```
/// use sotto_srtp::{Config, Profile, SrtpContext};
///
/// let key = [7u8; 16];
/// let salt = [9u8; 14];
/// let profile = Profile::Aes128CmHmacSha1_80;
/// let mut tx = SrtpContext::new(profile, &key, &salt, Config::default())?;
/// let mut rx = SrtpContext::new(profile, &key, &salt, Config::default())?;
///
/// let mut rtp = vec![0x80, 0x60, 0x00, 0x01, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
/// rtp.extend_from_slice(b"twenty ms of opus");
/// let len = rtp.len();
/// let mut buf = [0u8; 1500];
/// buf[..len].copy_from_slice(&rtp);
///
/// let protected_len = tx.protect_rtp(&mut buf, len)?;
/// assert_eq!(protected_len, len + profile.srtp_tag_len());
/// let plain_len = rx.unprotect_rtp(&mut buf[..protected_len])?;
/// assert_eq!(&buf[..plain_len], &rtp[..]);
/// // The same packet again is a replay.
/// assert!(tx.protect_rtp(&mut buf, len).is_err(), "the sender refuses to reuse an index");
/// # Ok::<(), sotto_srtp::Error>(())
/// ```
pub struct SrtpContext {
    profile: Profile,
    rtp: Transform,
    rtcp: Transform,
    master: Option<Master>,
    kdr_shift: Option<u32>,
    mki: Option<Box<[u8]>>,
    srtcp_tag_len: usize,
    window: u64,
    unknown_ssrc: UnknownSsrc,
    max_streams: usize,
    streams: Vec<Stream>,
    last: usize,
}

impl core::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .field("keys", &"<redacted>")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// Builds a context from a master key and master salt (RFC 3711 §4.3), lengths as the
    /// profile says ([`Profile::key_len`], [`Profile::salt_len`]).
    pub fn new(
        profile: Profile,
        master_key: &[u8],
        master_salt: &[u8],
        config: Config,
    ) -> Result<Self> {
        if !(64..=0x8000).contains(&config.replay_window) {
            return Err(Error::InvalidConfig(
                "replay window must be 64..=32768 packets",
            ));
        }
        let kdr = config.key_derivation_rate;
        let kdr_shift = match kdr {
            0 => None,
            k if k.is_power_of_two() && k <= 1 << 24 => Some(k.trailing_zeros()),
            _ => {
                return Err(Error::InvalidConfig(
                    "key derivation rate must be 0 or 2^n, n <= 24",
                ));
            }
        };
        if let Some(m) = &config.mki
            && (m.is_empty() || m.len() > 128)
        {
            return Err(Error::InvalidConfig("MKI must be 1..=128 octets"));
        }
        if config.max_streams == 0 {
            return Err(Error::InvalidConfig("max_streams must be at least 1"));
        }
        let rtp = Transform::derive(profile, master_key, master_salt, false, 0)?;
        let rtcp = Transform::derive(profile, master_key, master_salt, true, 0)?;
        let master = kdr_shift.map(|_| Master {
            key: Zeroizing::new(master_key.to_vec()),
            salt: Zeroizing::new(master_salt.to_vec()),
        });
        Ok(Self {
            profile,
            rtp,
            rtcp,
            master,
            kdr_shift,
            mki: config.mki.map(Vec::into_boxed_slice),
            srtcp_tag_len: if config.srtcp_tag_like_srtp {
                profile.srtp_tag_len()
            } else {
                profile.srtcp_tag_len()
            },
            window: config.replay_window,
            unknown_ssrc: config.unknown_ssrc,
            max_streams: config.max_streams,
            streams: Vec::new(),
            last: 0,
        })
    }

    /// Builds a context from ready session keys (no KDF), used by the RFC 7714 vectors that
    /// give session keys directly.
    #[cfg(test)]
    pub(crate) fn from_session_keys(profile: Profile, rtp: Transform, rtcp: Transform) -> Self {
        Self {
            profile,
            rtp,
            rtcp,
            master: None,
            kdr_shift: None,
            mki: None,
            srtcp_tag_len: profile.srtcp_tag_len(),
            window: Config::DEFAULT_REPLAY_WINDOW,
            unknown_ssrc: UnknownSsrc::Learn,
            max_streams: 64,
            streams: Vec::new(),
            last: 0,
        }
    }

    /// The profile of this context.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Octets `protect_rtp` appends.
    pub fn srtp_overhead(&self) -> usize {
        self.profile.srtp_overhead(self.mki_len())
    }

    /// Octets `protect_rtcp` appends.
    pub fn srtcp_overhead(&self) -> usize {
        4 + self.srtcp_tag_len + self.mki_len()
    }

    fn mki_len(&self) -> usize {
        self.mki.as_ref().map_or(0, |m| m.len())
    }

    /// Declares an SSRC up front, with the rollover counter its first packet belongs to (for
    /// a stream joined late, RFC 3711 §3.3.1). Needed with [`UnknownSsrc::Reject`].
    pub fn add_stream(&mut self, ssrc: u32, initial_roc: u32) -> Result<()> {
        if let Some(i) = self.find(ssrc) {
            if let Some(s) = self.streams.get_mut(i) {
                s.initial_roc = initial_roc;
            }
            return Ok(());
        }
        if self.streams.len() >= self.max_streams {
            return Err(Error::TooManyStreams);
        }
        self.streams
            .push(Stream::new(ssrc, initial_roc, self.window));
        Ok(())
    }

    /// Forgets an SSRC (after an RTCP BYE, say).
    pub fn remove_stream(&mut self, ssrc: u32) {
        self.streams.retain(|s| s.ssrc != ssrc);
        self.last = 0;
    }

    /// The rollover counter of the highest SRTP index received (or sent) on `ssrc`.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let s = self.streams.get(self.find(ssrc)?)?;
        let h = s.rtp_rx.highest().or(s.rtp_tx.highest())?;
        u32::try_from(h >> 16).ok()
    }

    /// Sets the next SRTCP index `protect_rtcp` uses on `ssrc` (resuming a stream; tests).
    pub fn set_srtcp_index(&mut self, ssrc: u32, index: u32) -> Result<()> {
        if index > 0x7FFF_FFFF {
            return Err(Error::InvalidConfig("SRTCP index is 31 bits"));
        }
        let i = self.find_or_create(ssrc)?;
        if let Some(s) = self.streams.get_mut(i) {
            s.rtcp_tx_next = index;
        }
        Ok(())
    }

    #[inline]
    fn find(&self, ssrc: u32) -> Option<usize> {
        if let Some(s) = self.streams.get(self.last)
            && s.ssrc == ssrc
        {
            return Some(self.last);
        }
        self.streams.iter().position(|s| s.ssrc == ssrc)
    }

    /// Sender side: our own SSRCs are always welcome (up to the limit).
    #[inline]
    fn find_or_create(&mut self, ssrc: u32) -> Result<usize> {
        if let Some(i) = self.find(ssrc) {
            self.last = i;
            return Ok(i);
        }
        if self.streams.len() >= self.max_streams {
            return Err(Error::TooManyStreams);
        }
        self.streams.push(Stream::new(ssrc, 0, self.window));
        self.last = self.streams.len() - 1;
        Ok(self.last)
    }

    /// Receiver side: a stream index, or `None` for a new SSRC the policy allows to learn.
    #[inline]
    fn find_rx(&self, ssrc: u32) -> Result<Option<usize>> {
        match self.find(ssrc) {
            Some(i) => Ok(Some(i)),
            None => match self.unknown_ssrc {
                UnknownSsrc::Reject => Err(Error::UnknownSsrc(ssrc)),
                UnknownSsrc::Learn if self.streams.len() >= self.max_streams => {
                    Err(Error::TooManyStreams)
                }
                UnknownSsrc::Learn => Ok(None),
            },
        }
    }

    fn commit_new_stream(&mut self, ssrc: u32) -> usize {
        self.streams.push(Stream::new(ssrc, 0, self.window));
        self.streams.len() - 1
    }

    /// Re-derives session keys for `r` when the key derivation rate asks for it.
    fn epoch_keys(&self, rtcp: bool, r: u64) -> Result<Transform> {
        let m = self
            .master
            .as_ref()
            .ok_or(Error::InvalidConfig("no master key kept"))?;
        Transform::derive(self.profile, &m.key, &m.salt, rtcp, r)
    }

    // ---------------------------------------------------------------- SRTP

    /// Protects the RTP packet in `buf[..len]` in place (RFC 3711 §3.3); the tag (and MKI) go
    /// after it, so `buf` needs [`SrtpContext::srtp_overhead`] spare octets. Returns the SRTP
    /// packet length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize> {
        let hdr = RtpHeaderView::parse(
            buf.get(..len)
                .ok_or(Error::BufferTooSmall { needed: len })?,
        )?;
        let tag_len = self.profile.srtp_tag_len();
        let mki_len = self.mki_len();
        let needed = len + tag_len + mki_len;
        if buf.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let si = self.find_or_create(hdr.ssrc)?;
        let stream = self.streams.get(si).ok_or(Error::TooManyStreams)?;
        let index = ReplayWindow::estimate(stream.rtp_tx.highest(), stream.initial_roc, hdr.seq)
            .ok_or(Error::IndexExhausted)?;
        stream.rtp_tx.check(index).map_err(|_| Error::IndexReused)?;

        let mut fresh = None;
        let t = match self.kdr_shift.map(|s| index >> s) {
            None | Some(0) => &self.rtp,
            Some(r) => match &stream.rtp_epoch {
                Some(e) if e.r == r => &e.transform,
                _ => {
                    &fresh
                        .insert(Epoch {
                            r,
                            transform: self.epoch_keys(false, r)?,
                        })
                        .transform
                }
            },
        };
        let mki = self.mki.as_deref().unwrap_or(&[]);
        let (pkt, tail) = buf.split_at_mut(len);
        let tail = tail
            .get_mut(..tag_len + mki_len)
            .ok_or(Error::BufferTooSmall { needed })?;
        match t {
            Transform::Cm(k) => {
                if let Some(payload) = pkt.get_mut(hdr.header_len..) {
                    k.keystream(hdr.ssrc, index, payload);
                }
                // Authenticated portion: header || encrypted payload || ROC (MKI excluded).
                // The ROC goes where the MKI/tag go next (at least 4 octets), so the MAC reads
                // one contiguous slice.
                let roc = ((index >> 16) as u32).to_be_bytes();
                tail.get_mut(..4)
                    .ok_or(Error::BufferTooSmall { needed })?
                    .copy_from_slice(&roc);
                let full = k.mac(buf.get(..len + 4).ok_or(Error::BufferTooSmall { needed })?);
                let tail = buf
                    .get_mut(len..needed)
                    .ok_or(Error::BufferTooSmall { needed })?;
                let (mki_out, tag_out) = tail.split_at_mut(mki_len);
                mki_out.copy_from_slice(mki);
                copy_truncated(&full, tag_out);
            }
            Transform::Gcm(k) => {
                let (hdr_bytes, payload) = pkt.split_at_mut(hdr.header_len);
                let iv = srtp_gcm_iv(&k.salt, hdr.ssrc, index);
                let (tag_out, mki_out) = tail.split_at_mut(16);
                k.seal(&iv, hdr_bytes, payload, tag_out);
                mki_out.copy_from_slice(mki);
            }
        }
        let stream = self.streams.get_mut(si).ok_or(Error::TooManyStreams)?;
        stream.rtp_tx.update(index);
        if let Some(e) = fresh {
            stream.rtp_epoch = Some(Box::new(e));
        }
        Ok(needed)
    }

    /// Verifies and decrypts the SRTP packet filling `buf` in place; returns the RTP packet
    /// length (the tag and MKI are stripped). Replay is checked before any cryptography; the
    /// window and ROC move only after the packet authenticates. After an error `buf` never
    /// holds plaintext: AES-CM leaves it as received; AES-GCM with the `ring` feature may have
    /// zeroed the encrypted part (ring wipes its in-place output when the tag does not match).
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        let tag_len = self.profile.srtp_tag_len();
        let mki_len = self.mki_len();
        let body_len = len.checked_sub(tag_len + mki_len).ok_or(Error::TooShort)?;
        let hdr = RtpHeaderView::parse(buf.get(..body_len).ok_or(Error::TooShort)?)?;
        let aead = self.profile.is_aead();
        let (mki_at, tag_at) = if aead {
            (body_len + tag_len, body_len)
        } else {
            (body_len, body_len + mki_len)
        };
        if let Some(m) = self.mki.as_deref()
            && buf.get(mki_at..mki_at + mki_len) != Some(m)
        {
            return Err(Error::MkiMismatch);
        }
        let si = self.find_rx(hdr.ssrc)?;
        let stream = si.and_then(|i| self.streams.get(i));
        let index = ReplayWindow::estimate(
            stream.and_then(|s| s.rtp_rx.highest()),
            stream.map_or(0, |s| s.initial_roc),
            hdr.seq,
        )
        .ok_or(Error::TooOld)?;
        if let Some(s) = stream {
            s.rtp_rx.check(index)?;
        }

        let mut fresh = None;
        let t = match self.kdr_shift.map(|s| index >> s) {
            None | Some(0) => &self.rtp,
            Some(r) => match stream.and_then(|s| s.rtp_epoch.as_ref()) {
                Some(e) if e.r == r => &e.transform,
                _ => {
                    &fresh
                        .insert(Epoch {
                            r,
                            transform: self.epoch_keys(false, r)?,
                        })
                        .transform
                }
            },
        };
        match t {
            Transform::Cm(k) => {
                // MAC over header || payload || ROC: the ROC briefly takes the place of the
                // first 4 octets after the packet (MKI and/or tag; a CM tag is at least 4).
                let roc = ((index >> 16) as u32).to_be_bytes();
                let after = buf.get_mut(body_len..body_len + 4).ok_or(Error::TooShort)?;
                let mut saved = [0u8; 4];
                saved.copy_from_slice(after);
                after.copy_from_slice(&roc);
                let full = buf.get(..body_len + 4).map(|a| k.mac(a));
                if let Some(after) = buf.get_mut(body_len..body_len + 4) {
                    after.copy_from_slice(&saved);
                }
                let tag = buf.get(tag_at..tag_at + tag_len).ok_or(Error::TooShort)?;
                if !full.is_some_and(|f| tag_matches(&f, tag)) {
                    return Err(Error::AuthenticationFailed);
                }
                if let Some(payload) = buf.get_mut(hdr.header_len..body_len) {
                    k.keystream(hdr.ssrc, index, payload);
                }
            }
            Transform::Gcm(k) => {
                let (pkt, tail) = buf.split_at_mut(body_len);
                let tag = tail
                    .get(tag_at - body_len..tag_at - body_len + tag_len)
                    .ok_or(Error::TooShort)?;
                let (hdr_bytes, payload) = pkt.split_at_mut(hdr.header_len);
                let iv = srtp_gcm_iv(&k.salt, hdr.ssrc, index);
                if !k.open(&iv, hdr_bytes, payload, tag) {
                    return Err(Error::AuthenticationFailed);
                }
            }
        }
        let si = match si {
            Some(i) => i,
            None => self.commit_new_stream(hdr.ssrc),
        };
        self.last = si;
        let stream = self.streams.get_mut(si).ok_or(Error::TooManyStreams)?;
        stream.rtp_rx.update(index);
        if let Some(e) = fresh {
            stream.rtp_epoch = Some(Box::new(e));
        }
        Ok(body_len)
    }

    // ---------------------------------------------------------------- SRTCP

    /// Protects the (compound) RTCP packet in `buf[..len]` in place (RFC 3711 §3.4): encrypted
    /// after the first 8 octets, then E flag + SRTCP index, MKI and tag (RFC 7714 §9 order for
    /// AES-GCM: tag, then E + index, then MKI). Returns the SRTCP packet length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize> {
        let hdr = RtcpHeaderView::parse(
            buf.get(..len)
                .ok_or(Error::BufferTooSmall { needed: len })?,
        )?;
        let tag_len = self.srtcp_tag_len;
        let mki_len = self.mki_len();
        let needed = len + 4 + tag_len + mki_len;
        if buf.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let si = self.find_or_create(hdr.ssrc)?;
        let stream = self.streams.get(si).ok_or(Error::TooManyStreams)?;
        let index = stream.rtcp_tx_next;
        if index > 0x7FFF_FFFF {
            return Err(Error::IndexExhausted);
        }
        let eidx = (0x8000_0000 | index).to_be_bytes();
        let mut fresh = None;
        let t = match self.kdr_shift.map(|s| u64::from(index) >> s) {
            None | Some(0) => &self.rtcp,
            Some(r) => match &stream.rtcp_epoch {
                Some(e) if e.r == r => &e.transform,
                _ => {
                    &fresh
                        .insert(Epoch {
                            r,
                            transform: self.epoch_keys(true, r)?,
                        })
                        .transform
                }
            },
        };
        let mki = self.mki.as_deref().unwrap_or(&[]);
        let (pkt, tail) = buf.split_at_mut(len);
        let tail = tail
            .get_mut(..needed - len)
            .ok_or(Error::BufferTooSmall { needed })?;
        match t {
            Transform::Cm(k) => {
                if let Some(payload) = pkt.get_mut(RtcpHeaderView::LEN..) {
                    k.keystream(hdr.ssrc, u64::from(index), payload);
                }
                let (e_out, rest) = tail.split_at_mut(4);
                e_out.copy_from_slice(&eidx);
                let (mki_out, _) = rest.split_at_mut(mki_len);
                mki_out.copy_from_slice(mki);
                // Authenticated portion: header || encrypted payload || E + index, contiguous.
                let full = k.mac(buf.get(..len + 4).ok_or(Error::BufferTooSmall { needed })?);
                let tag_out = buf
                    .get_mut(len + 4 + mki_len..needed)
                    .ok_or(Error::BufferTooSmall { needed })?;
                copy_truncated(&full, tag_out);
            }
            Transform::Gcm(k) => {
                let (head, payload) = pkt.split_at_mut(RtcpHeaderView::LEN);
                let mut aad = [0u8; 12];
                aad.get_mut(..8)
                    .ok_or(Error::TooShort)?
                    .copy_from_slice(head);
                aad.get_mut(8..)
                    .ok_or(Error::TooShort)?
                    .copy_from_slice(&eidx);
                let iv = srtcp_gcm_iv(&k.salt, hdr.ssrc, index);
                let (tag_out, rest) = tail.split_at_mut(16);
                k.seal(&iv, &aad, payload, tag_out);
                let (e_out, mki_out) = rest.split_at_mut(4);
                e_out.copy_from_slice(&eidx);
                mki_out.copy_from_slice(mki);
            }
        }
        let stream = self.streams.get_mut(si).ok_or(Error::TooManyStreams)?;
        stream.rtcp_tx_next = index + 1;
        if let Some(e) = fresh {
            stream.rtcp_epoch = Some(Box::new(e));
        }
        Ok(needed)
    }

    /// Verifies and (when the E flag is set) decrypts the SRTCP packet filling `buf`; returns
    /// the RTCP packet length. On errors, `buf` as for [`SrtpContext::unprotect_rtp`].
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        let tag_len = self.srtcp_tag_len;
        let mki_len = self.mki_len();
        let aead = self.profile.is_aead();
        // Layout (CM):  hdr(8) | payload | E+index(4) | MKI | tag
        // Layout (GCM): hdr(8) | ciphertext | tag(16) | E+index(4) | MKI
        let trailer = 4 + tag_len + mki_len;
        let body_len = len.checked_sub(trailer).ok_or(Error::TooShort)?;
        if body_len < RtcpHeaderView::LEN {
            return Err(Error::TooShort);
        }
        let hdr = RtcpHeaderView::parse(buf.get(..body_len).ok_or(Error::TooShort)?)?;
        let (e_at, mki_at, tag_at) = if aead {
            (body_len + 16, body_len + 20, body_len)
        } else {
            (body_len, body_len + 4, body_len + 4 + mki_len)
        };
        if let Some(m) = self.mki.as_deref()
            && buf.get(mki_at..mki_at + mki_len) != Some(m)
        {
            return Err(Error::MkiMismatch);
        }
        let eword = read_u32(buf, e_at).ok_or(Error::TooShort)?;
        let encrypted = eword & 0x8000_0000 != 0;
        let index = eword & 0x7FFF_FFFF;
        let si = self.find_rx(hdr.ssrc)?;
        let stream = si.and_then(|i| self.streams.get(i));
        if let Some(s) = stream {
            s.rtcp_rx.check(u64::from(index))?;
        }
        let mut fresh = None;
        let t = match self.kdr_shift.map(|s| u64::from(index) >> s) {
            None | Some(0) => &self.rtcp,
            Some(r) => match stream.and_then(|s| s.rtcp_epoch.as_ref()) {
                Some(e) if e.r == r => &e.transform,
                _ => {
                    &fresh
                        .insert(Epoch {
                            r,
                            transform: self.epoch_keys(true, r)?,
                        })
                        .transform
                }
            },
        };
        let eidx = eword.to_be_bytes();
        match t {
            Transform::Cm(k) => {
                // Authenticated portion: header || payload || E + index, contiguous here.
                let full = k.mac(buf.get(..body_len + 4).ok_or(Error::TooShort)?);
                let tag = buf.get(tag_at..).ok_or(Error::TooShort)?;
                if !tag_matches(&full, tag) {
                    return Err(Error::AuthenticationFailed);
                }
                if encrypted {
                    let payload = buf
                        .get_mut(RtcpHeaderView::LEN..body_len)
                        .ok_or(Error::TooShort)?;
                    k.keystream(hdr.ssrc, u64::from(index), payload);
                }
            }
            Transform::Gcm(k) => {
                let iv = srtcp_gcm_iv(&k.salt, hdr.ssrc, index);
                if encrypted {
                    let (pkt, tail) = buf.split_at_mut(body_len);
                    let tag = tail.get(..16).ok_or(Error::TooShort)?;
                    let (head, payload) = pkt.split_at_mut(RtcpHeaderView::LEN);
                    let mut aad = [0u8; 12];
                    aad.get_mut(..8)
                        .ok_or(Error::TooShort)?
                        .copy_from_slice(head);
                    aad.get_mut(8..)
                        .ok_or(Error::TooShort)?
                        .copy_from_slice(&eidx);
                    if !k.open(&iv, &aad, payload, tag) {
                        return Err(Error::AuthenticationFailed);
                    }
                } else {
                    // RFC 7714 §9.2 (E = 0): AAD = whole RTCP packet || E + index; no
                    // ciphertext. Swap tag and E + index so the AAD is contiguous.
                    let region = buf
                        .get_mut(body_len..body_len + 20)
                        .ok_or(Error::TooShort)?;
                    region.rotate_left(16);
                    let (aad, tag) = buf.split_at_mut(body_len + 4);
                    let tag = tag.get(..16).ok_or(Error::TooShort)?;
                    let ok = k.open(&iv, aad, &mut [], tag);
                    if let Some(region) = buf.get_mut(body_len..body_len + 20) {
                        region.rotate_right(16);
                    }
                    if !ok {
                        return Err(Error::AuthenticationFailed);
                    }
                }
            }
        }
        let si = match si {
            Some(i) => i,
            None => self.commit_new_stream(hdr.ssrc),
        };
        self.last = si;
        let stream = self.streams.get_mut(si).ok_or(Error::TooManyStreams)?;
        stream.rtcp_rx.update(u64::from(index));
        if let Some(e) = fresh {
            stream.rtcp_epoch = Some(Box::new(e));
        }
        Ok(body_len)
    }

    // ---------------------------------------------------------------- Vec conveniences

    /// [`SrtpContext::protect_rtp`] on a `Vec` (grows it by the overhead; no allocation when
    /// its capacity already allows).
    pub fn protect_rtp_vec(&mut self, pkt: &mut Vec<u8>) -> Result<()> {
        let len = pkt.len();
        pkt.resize(len + self.srtp_overhead(), 0);
        match self.protect_rtp(pkt, len) {
            Ok(n) => {
                pkt.truncate(n);
                Ok(())
            }
            Err(e) => {
                pkt.truncate(len);
                Err(e)
            }
        }
    }

    /// [`SrtpContext::unprotect_rtp`] on a `Vec` (truncated to the RTP packet).
    pub fn unprotect_rtp_vec(&mut self, pkt: &mut Vec<u8>) -> Result<()> {
        let n = self.unprotect_rtp(pkt)?;
        pkt.truncate(n);
        Ok(())
    }

    /// [`SrtpContext::protect_rtcp`] on a `Vec`.
    pub fn protect_rtcp_vec(&mut self, pkt: &mut Vec<u8>) -> Result<()> {
        let len = pkt.len();
        pkt.resize(len + self.srtcp_overhead(), 0);
        match self.protect_rtcp(pkt, len) {
            Ok(n) => {
                pkt.truncate(n);
                Ok(())
            }
            Err(e) => {
                pkt.truncate(len);
                Err(e)
            }
        }
    }

    /// [`SrtpContext::unprotect_rtcp`] on a `Vec`.
    pub fn unprotect_rtcp_vec(&mut self, pkt: &mut Vec<u8>) -> Result<()> {
        let n = self.unprotect_rtcp(pkt)?;
        pkt.truncate(n);
        Ok(())
    }
}

#[inline]
fn copy_truncated(full: &[u8; 20], out: &mut [u8]) {
    let n = out.len().min(full.len());
    if let (Some(d), Some(s)) = (out.get_mut(..n), full.get(..n)) {
        d.copy_from_slice(s);
    }
}

/// Constant-time comparison of a received (truncated) tag: the differences are OR-ed into one
/// octet without branching, and only that octet is tested (with `subtle`).
#[inline]
fn tag_matches(full: &[u8; 20], tag: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    if tag.is_empty() || tag.len() > full.len() {
        return false;
    }
    let diff = full.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    bool::from(diff.ct_eq(&0))
}
