//! Vault keys as an operator sees them: one line, `<key id>:<base64 key>`.
//!
//! The key id is derived from the key material (the first four bytes of a
//! SHA-256 over it), so two different keys practically never share an id, a
//! mistyped key is caught when it is parsed, and `tgdesk keys generate` needs
//! no knowledge of the keys already in use. The id is stored beside every
//! ciphertext, which is how a start-up can name the key it is missing.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::VaultError;

/// Length of an AES-256 key in bytes.
pub const KEY_LEN: usize = 32;

/// Identifies a vault key; stored in every sealed blob's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

impl KeyId {
    /// The id of the given key material.
    pub fn derive(material: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tgdesk vault key id v1\0")
            .chain_update(material)
            .finalize();
        KeyId(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl FromStr for KeyId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 8 {
            return Err(());
        }
        u32::from_str_radix(s, 16).map(KeyId).map_err(|_| ())
    }
}

/// One AES-256 key and its id. The material is wiped from memory on drop and
/// never formatted.
#[derive(Clone)]
pub struct VaultKey {
    id: KeyId,
    material: Zeroizing<[u8; KEY_LEN]>,
}

impl VaultKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, VaultError> {
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng
            .try_fill_bytes(material.as_mut())
            .map_err(|e| VaultError::Random(e.to_string()))?;
        Ok(Self::from_material(material))
    }

    /// Wraps existing key material.
    pub fn from_material(material: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            id: KeyId::derive(&material),
            material,
        }
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(super) fn material(&self) -> &[u8; KEY_LEN] {
        &self.material
    }

    /// The one-line form printed by `tgdesk keys generate` and accepted in
    /// `TGDESK_VAULT_KEYS` and key files. It contains the key itself: never log it.
    pub fn to_line(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}:{}", self.id, BASE64.encode(*self.material)))
    }

    /// Parses one key written as `<key id>:<base64 key>`. Errors never repeat
    /// the input, since it may be a real key with a typo in it.
    pub fn parse(line: &str) -> Result<Self, VaultError> {
        let line = line.trim();
        let Some((id, encoded)) = line.split_once(':') else {
            return Err(VaultError::InvalidKey(
                "expected '<key id>:<base64 key>' as printed by `tgdesk keys generate`".into(),
            ));
        };
        let id: KeyId = id.parse().map_err(|()| {
            VaultError::InvalidKey(
                "the key id before ':' must be 8 hexadecimal digits, as printed by `tgdesk keys generate`"
                    .into(),
            )
        })?;
        let decoded = Zeroizing::new(BASE64.decode(encoded.trim()).map_err(|_| {
            VaultError::InvalidKey("the part after ':' is not valid base64".into())
        })?);
        if decoded.len() != KEY_LEN {
            return Err(VaultError::InvalidKey(format!(
                "the key must be {KEY_LEN} bytes, this one decodes to {} bytes",
                decoded.len()
            )));
        }
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        material.copy_from_slice(&decoded);
        let key = Self::from_material(material);
        if key.id != id {
            return Err(VaultError::InvalidKey(format!(
                "key id {id} does not match the key material (was the key mistyped or truncated?)"
            )));
        }
        Ok(key)
    }

    /// Parses a list of keys, oldest first, newest last: separated by commas
    /// or newlines, with blank lines and `#` comments ignored (key files).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, VaultError> {
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for item in line.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let key = Self::parse(item).map_err(|e| match e {
                    VaultError::InvalidKey(msg) => {
                        VaultError::InvalidKey(format!("key #{}: {msg}", keys.len() + 1))
                    }
                    other => other,
                })?;
                keys.push(key);
            }
        }
        Ok(keys)
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("id", &self.id)
            .field("material", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_its_line() {
        let key = VaultKey::generate().expect("generate");
        let line = key.to_line();
        let parsed = VaultKey::parse(&line).expect("parse");
        assert_eq!(parsed.id(), key.id());
        assert_eq!(parsed.material(), key.material());
    }

    #[test]
    fn mistyped_key_is_refused_without_echoing_it() {
        let key = VaultKey::generate().expect("generate");
        let line = key.to_line();
        // Change one base64 character of the key material.
        let mut chars: Vec<char> = line.chars().collect();
        let pos = 12;
        chars[pos] = if chars[pos] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        let err = VaultKey::parse(&typo).expect_err("typo must be refused");
        let msg = err.to_string();
        assert!(msg.contains("does not match"), "{msg}");
        assert!(
            !msg.contains(&typo[9..]),
            "error must not echo the key: {msg}"
        );
    }

    #[test]
    fn list_accepts_commas_newlines_and_comments() {
        let a = VaultKey::generate().expect("generate");
        let b = VaultKey::generate().expect("generate");
        let text = format!("# demo key\n{}\n\n{} , \n", *a.to_line(), *b.to_line());
        let keys = VaultKey::parse_list(&text).expect("parse");
        assert_eq!(
            keys.iter().map(VaultKey::id).collect::<Vec<_>>(),
            [a.id(), b.id()]
        );
        let joined = format!("{},{}", *a.to_line(), *b.to_line());
        assert_eq!(VaultKey::parse_list(&joined).expect("parse").len(), 2);
    }

    #[test]
    fn bad_key_names_its_position_and_problem() {
        let a = VaultKey::generate().expect("generate");
        let err =
            VaultKey::parse_list(&format!("{},nonsense", *a.to_line())).expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "invalid vault key: key #2: expected '<key id>:<base64 key>' as printed by `tgdesk keys generate`"
        );
        let err = VaultKey::parse("0000000g:AAAA").expect_err("must fail");
        assert!(err.to_string().contains("8 hexadecimal digits"));
        let err = VaultKey::parse("00000000:AAAA").expect_err("must fail");
        assert!(err.to_string().contains("must be 32 bytes"), "{err}");
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = VaultKey::generate().expect("generate");
        let dbg = format!("{key:?}");
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains(&key.to_line()[9..]));
    }
}
