//! A wrapper for values that must never reach a log line, an error message or
//! a `Debug` dump: Telegram's `api_hash`, vault key material, tokens.
//!
//! `Secret<T>` prints `[redacted]` whichever way it is formatted and wipes its
//! contents from memory when dropped. Reading the value takes an explicit
//! [`Secret::expose`], so every place that uses a secret is easy to find.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A value that is redacted when formatted and zeroized when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value; from here on it is only readable through [`Secret::expose`].
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself. Do not log or format it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

/// Request bodies carry secrets (a 2FA password): they are wrapped as soon
/// as they are read.
impl<'de, T: Zeroize + serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret::new)
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let secret = Secret::new(String::from("0123456789abcdef"));
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "0123456789abcdef");
    }
}
