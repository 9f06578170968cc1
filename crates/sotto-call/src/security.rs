//! The security state a user sees, and the gate that keeps clear media off the wire.
//!
//! Three states, as Jitsi shows them, and never a silent fourth:
//!
//! | state | shown as | media |
//! |---|---|---|
//! | [`SecurityState::Connecting`] | red, open lock | none sent, none played |
//! | [`SecurityState::Secure`] | orange, "zrtp", closed lock, SAS | SRTP both ways |
//! | [`SecurityState::Verified`] | green | SRTP both ways |
//!
//! plus [`SecurityState::Insecure`] (red, for the whole call) only when the user asked for clear
//! media with `allow_insecure`, and [`SecurityState::Failed`] when ZRTP could not finish: the call
//! ends with that reason.
//!
//! Reaching `Secure` needs a [`ZrtpSecure`] proof, which only the ZRTP engine's success output
//! can provide (its constructor takes the SAS the engine rendered); there is no other path.

use core::fmt;

/// What the user sees about the call's encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityState {
    /// Signalling is up, ZRTP runs; no media is sent or played.
    Connecting,
    /// SRTP keys agreed by ZRTP; the SAS must be compared aloud.
    Secure {
        /// The short authentication string to read aloud.
        sas: String,
    },
    /// The user confirmed the SAS, now or on an earlier call with the same peer.
    Verified {
        /// The short authentication string (still shown, for re-checking).
        sas: String,
    },
    /// Clear media, because the user explicitly allowed it. Shown red for the whole call.
    Insecure,
    /// ZRTP did not finish; the call is ended with this reason.
    Failed {
        /// Why, in words a user can act on.
        reason: String,
    },
}

impl SecurityState {
    /// May media be sent and played in this state?
    pub fn media_allowed(&self) -> bool {
        matches!(
            self,
            Self::Secure { .. } | Self::Verified { .. } | Self::Insecure
        )
    }

    /// May media be sent *encrypted* in this state (false for `Insecure`)?
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Self::Secure { .. } | Self::Verified { .. })
    }

    /// The colour the UI shows.
    pub fn colour(&self) -> Colour {
        match self {
            Self::Connecting | Self::Insecure | Self::Failed { .. } => Colour::Red,
            Self::Secure { .. } => Colour::Orange,
            Self::Verified { .. } => Colour::Green,
        }
    }
}

impl fmt::Display for SecurityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting (not encrypted yet, nothing sent)"),
            Self::Secure { sas } => {
                write!(f, "zrtp: encrypted, compare \"{sas}\" with your partner")
            }
            Self::Verified { sas } => write!(f, "verified ({sas})"),
            Self::Insecure => f.write_str("NOT ENCRYPTED (you allowed an insecure call)"),
            Self::Failed { reason } => write!(f, "not connected: {reason}"),
        }
    }
}

/// The lock colours of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Open lock or failure.
    Red,
    /// Encrypted, SAS not confirmed.
    Orange,
    /// Encrypted and verified.
    Green,
}

/// Proof that ZRTP reached SECURE: only code holding the engine's success output builds it.
#[derive(Debug)]
pub struct ZrtpSecure {
    sas: String,
    cached_verified: bool,
    cache_mismatch: bool,
}

impl ZrtpSecure {
    /// Built by the call when the ZRTP engine reports SECURE with its rendered SAS, whether the
    /// ZID cache says the peer was verified before, and whether the cached secret mismatched.
    pub fn new(sas: String, cached_verified: bool, cache_mismatch: bool) -> Self {
        Self {
            sas,
            cached_verified,
            cache_mismatch,
        }
    }
}

/// Something the user must be told, beyond the state itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The peer's cached secret did not match: someone may be in the middle, or the peer reset
    /// its identity. "Verified" was cleared; compare the SAS again.
    KeyChanged,
    /// The user said the SAS does not match: the call is ended.
    SasMismatch,
}

/// The security state machine of one call.
#[derive(Debug)]
pub struct Security {
    state: SecurityState,
    allow_insecure: bool,
}

impl Security {
    /// A new call. With `allow_insecure`, the call is `Insecure` from the start and stays so for
    /// the whole call, even if ZRTP later succeeds, because clear media may already have been
    /// sent: the user must never mistake such a call for a private one.
    pub fn new(allow_insecure: bool) -> Self {
        Self {
            state: if allow_insecure {
                SecurityState::Insecure
            } else {
                SecurityState::Connecting
            },
            allow_insecure,
        }
    }

    /// The current state.
    pub fn state(&self) -> &SecurityState {
        &self.state
    }

    /// ZRTP reached SECURE. Returns a warning to show loudly on a cache mismatch.
    pub fn zrtp_secure(&mut self, proof: ZrtpSecure) -> Option<Warning> {
        if self.allow_insecure || !matches!(self.state, SecurityState::Connecting) {
            return proof.cache_mismatch.then_some(Warning::KeyChanged);
        }
        let ZrtpSecure {
            sas,
            cached_verified,
            cache_mismatch,
        } = proof;
        self.state = if cached_verified && !cache_mismatch {
            SecurityState::Verified { sas }
        } else {
            SecurityState::Secure { sas }
        };
        cache_mismatch.then_some(Warning::KeyChanged)
    }

    /// ZRTP failed: the call ends with the reason (unless the user allowed clear media, in which
    /// case it stays `Insecure`).
    pub fn zrtp_failed(&mut self, reason: impl Into<String>) {
        if !self.allow_insecure {
            self.state = SecurityState::Failed {
                reason: reason.into(),
            };
        }
    }

    /// The user confirmed the SAS matches.
    pub fn confirm_sas(&mut self) -> bool {
        match &self.state {
            SecurityState::Secure { sas } => {
                self.state = SecurityState::Verified { sas: sas.clone() };
                true
            }
            _ => false,
        }
    }

    /// The user said the SAS does not match: the call fails.
    pub fn reject_sas(&mut self) -> Option<Warning> {
        match self.state {
            SecurityState::Secure { .. } | SecurityState::Verified { .. } => {
                self.state = SecurityState::Failed {
                    reason: "the security code did not match: someone may be listening".into(),
                };
                Some(Warning::SasMismatch)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connecting_sends_nothing_until_zrtp_is_secure() {
        let mut s = Security::new(false);
        assert_eq!(s.state(), &SecurityState::Connecting);
        assert!(!s.state().media_allowed());
        assert_eq!(s.state().colour(), Colour::Red);
        assert!(!s.confirm_sas(), "nothing to confirm yet");
        assert_eq!(
            s.zrtp_secure(ZrtpSecure::new("ab3d".into(), false, false)),
            None
        );
        assert_eq!(s.state(), &SecurityState::Secure { sas: "ab3d".into() });
        assert!(s.state().media_allowed() && s.state().is_encrypted());
        assert_eq!(s.state().colour(), Colour::Orange);
        assert!(s.confirm_sas());
        assert_eq!(s.state().colour(), Colour::Green);
    }

    #[test]
    fn cached_verification_goes_green_and_mismatch_clears_it_loudly() {
        let mut s = Security::new(false);
        s.zrtp_secure(ZrtpSecure::new("x".into(), true, false));
        assert!(matches!(s.state(), SecurityState::Verified { .. }));

        let mut s = Security::new(false);
        let w = s.zrtp_secure(ZrtpSecure::new("x".into(), true, true));
        assert_eq!(w, Some(Warning::KeyChanged));
        assert!(matches!(s.state(), SecurityState::Secure { .. }));
    }

    #[test]
    fn failure_ends_the_call_without_media() {
        let mut s = Security::new(false);
        s.zrtp_failed("the other phone does not support ZRTP");
        assert!(!s.state().media_allowed());
        assert!(s.state().to_string().contains("does not support ZRTP"));
    }

    #[test]
    fn reject_sas_fails_the_call() {
        let mut s = Security::new(false);
        s.zrtp_secure(ZrtpSecure::new("x".into(), false, false));
        assert_eq!(s.reject_sas(), Some(Warning::SasMismatch));
        assert!(!s.state().media_allowed());
    }

    #[test]
    fn insecure_is_sticky_for_the_whole_call() {
        let mut s = Security::new(true);
        assert_eq!(s.state(), &SecurityState::Insecure);
        assert!(s.state().media_allowed() && !s.state().is_encrypted());
        s.zrtp_secure(ZrtpSecure::new("x".into(), true, false));
        assert_eq!(s.state(), &SecurityState::Insecure);
        s.zrtp_failed("whatever");
        assert_eq!(s.state(), &SecurityState::Insecure);
        assert!(s.state().to_string().contains("NOT ENCRYPTED"));
    }
}
