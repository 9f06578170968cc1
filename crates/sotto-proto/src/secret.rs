//! Types that hold secrets: zeroized on drop, redacted in `Debug`, compared in constant time.
//!
//! Neither type implements `Display`, `Clone` is explicit (`clone_secret`) so copies are visible
//! in review, and there is no `Deref` to a plain slice: the bytes are reached through
//! [`SecretBytes::expose`], which is easy to grep for.

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A variable-length secret (a DH result, s0, a retained secret, an SRTP master key).
#[derive(Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`. The caller's `Vec` is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret. Zeroize the source yourself if it was secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// A secret of `len` zero bytes, to be filled in place.
    pub fn zeroed(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// The secret bytes. Every use is a place where the secret leaves its box: keep it short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access, for filling a secret in place.
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy.
    pub fn clone_secret(&self) -> Self {
        Self(self.0.clone())
    }

    /// The first `n` bytes (or all of them if shorter), as a new secret (ZRTP truncations).
    pub fn truncated(&self, n: usize) -> Self {
        Self(self.0.get(..n).unwrap_or(&self.0).to_vec())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        // Lengths are not secret; contents are compared in constant time.
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretBytes {}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

/// A fixed-length secret (a 16- or 32-byte key, a 14-byte salt).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretArray<const N: usize>([u8; N]);

impl<const N: usize> SecretArray<N> {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// Copies a slice of exactly `N` bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; N] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// All zeros, to be filled in place.
    pub fn zeroed() -> Self {
        Self([0; N])
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }

    /// Mutable access, for filling in place.
    pub fn expose_mut(&mut self) -> &mut [u8; N] {
        &mut self.0
    }

    /// An explicit copy.
    pub fn clone_secret(&self) -> Self {
        Self(self.0)
    }
}

impl<const N: usize> Default for SecretArray<N> {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl<const N: usize> fmt::Debug for SecretArray<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<const N: usize> ConstantTimeEq for SecretArray<N> {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl<const N: usize> PartialEq for SecretArray<N> {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl<const N: usize> Eq for SecretArray<N> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::from_slice(b"hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s:#?}"), "<redacted>");
        let a = SecretArray::new([0x41u8; 16]);
        assert_eq!(format!("{a:?}"), "<redacted>");
        #[derive(Debug)]
        #[allow(dead_code, reason = "only Debug is exercised")]
        struct Holder {
            key: SecretArray<4>,
        }
        let h = Holder {
            key: SecretArray::new(*b"abcd"),
        };
        assert!(!format!("{h:?}").contains("abcd"));
        assert!(!format!("{h:?}").contains("97"));
    }

    #[test]
    fn zeroize_clears_bytes() {
        let mut s = SecretBytes::from_slice(&[0xaa; 32]);
        s.zeroize();
        assert!(s.expose().iter().all(|&b| b == 0));
        let mut a = SecretArray::new([0x55u8; 16]);
        a.zeroize();
        assert_eq!(a.expose(), &[0u8; 16]);
    }

    #[test]
    fn zeroized_on_drop() {
        // The derive makes both types ZeroizeOnDrop; assert the trait is there so a refactor
        // that loses it fails to compile this test.
        fn assert_zod<T: ZeroizeOnDrop>() {}
        assert_zod::<SecretBytes>();
        assert_zod::<SecretArray<32>>();
    }

    #[test]
    fn equality_is_by_value() {
        let a = SecretBytes::from_slice(b"same");
        assert_eq!(a, SecretBytes::from_slice(b"same"));
        assert_ne!(a, SecretBytes::from_slice(b"diff"));
        assert_ne!(a, SecretBytes::from_slice(b"same-but-longer"));
        assert_eq!(SecretArray::new([1u8; 4]), SecretArray::new([1u8; 4]));
        assert_ne!(SecretArray::new([1u8; 4]), SecretArray::new([2u8; 4]));
        assert!(SecretArray::<4>::from_slice(&[1, 2, 3]).is_none());
        assert_eq!(a.truncated(2).expose(), b"sa");
    }
}
