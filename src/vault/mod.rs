//! The vault: the only code that touches key material.
//!
//! Everything tgdesk keeps at rest that would let someone act as a staff
//! member, or read their messages, is sealed here with AES-256-GCM before it
//! reaches `store/`. Each blob carries a small header (format version and the
//! id of the key that sealed it) followed by a random 96-bit nonce and the
//! ciphertext with its tag:
//!
//! ```text
//! [version: 1 byte = 1][key id: 4 bytes BE][nonce: 12 bytes][ciphertext + 16-byte tag]
//! ```
//!
//! The associated data binds a blob to its table, row and purpose (see
//! [`Aad`]) and covers the header, so a blob copied to another row, another
//! column or edited in any bit does not open. The key ring holds several keys:
//! the newest seals, any of them opens. [`rotate`] re-seals stored rows under
//! the newest key; [`check`] verifies at start-up that the configured keys can
//! open what is stored.

pub mod check;
pub mod key;
pub mod rotate;

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

pub use key::{KeyId, VaultKey};

use crate::store::sealed::{self, SealedColumn};

/// Version byte of the blob layout written by this code.
pub const BLOB_VERSION: u8 = 1;
/// Bytes of header (version + key id) in front of every blob.
pub const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Errors of the vault layer. None of them carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no vault key configured: set TGDESK_VAULT_KEYS or TGDESK_VAULT_KEY_FILE (create a key with `tgdesk keys generate`)"
    )]
    NoKeys,
    #[error("invalid vault key: {0}")]
    InvalidKey(String),
    #[error("vault key {0} is configured twice")]
    DuplicateKey(KeyId),
    #[error(
        "vault key {0} is missing: data was sealed with it; add it to TGDESK_VAULT_KEYS (newest key last)"
    )]
    MissingKey(KeyId),
    #[error("sealed data is malformed: {0}")]
    Malformed(&'static str),
    #[error("sealed data has format version {0}, which this tgdesk does not know")]
    UnsupportedVersion(u8),
    #[error(
        "sealed data does not open with vault key {0}: it was altered, moved from another row, or the key is wrong"
    )]
    Refused(KeyId),
    #[error("encryption failed")]
    SealFailed,
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// Associated data: what a sealed blob belongs to. A blob only opens with the
/// exact `Aad` it was sealed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Aad(String);

impl Aad {
    /// The associated data of one row of a sealed column, identified by the
    /// values of the column's key columns (in their declared order).
    pub fn for_row(column: &SealedColumn, key: &[i64]) -> Self {
        let row = key.iter().map(i64::to_string).collect::<Vec<_>>().join(":");
        Aad(format!(
            "tgdesk/v1|{}|{}|{}",
            column.table, row, column.purpose
        ))
    }

    /// An account's MTProto authorisation (home DC, per-DC auth keys, self user).
    pub fn account_auth(account_id: i64) -> Self {
        Self::for_row(&sealed::ACCOUNT_AUTH, &[account_id])
    }

    /// An account's full phone number.
    pub fn account_phone(account_id: i64) -> Self {
        Self::for_row(&sealed::ACCOUNT_PHONE, &[account_id])
    }

    /// One cached peer (access hash and kind) of an account.
    pub fn account_peer(account_id: i64, peer_id: i64) -> Self {
        Self::for_row(&sealed::ACCOUNT_PEER, &[account_id, peer_id])
    }

    /// The payload of one event in an account's event log.
    pub fn event(account_id: i64, cursor: i64) -> Self {
        Self::for_row(&sealed::EVENT_PAYLOAD, &[account_id, cursor])
    }

    /// Associated data for a self-test that is never stored (readiness probe).
    pub fn new_probe() -> Self {
        Aad("tgdesk/v1|probe|0|probe".to_owned())
    }

    /// The associated data as text (it holds no secret).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aad({:?})", self.0)
    }
}

struct RingKey {
    id: KeyId,
    cipher: Aes256Gcm,
}

/// The key ring. Cheap to share behind an `Arc`; sealing and opening are
/// synchronous and take microseconds.
pub struct Vault {
    /// Oldest first, newest last.
    keys: Vec<RingKey>,
    by_id: HashMap<KeyId, usize>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

impl Vault {
    /// A key ring from keys listed oldest first, newest last.
    pub fn new(keys: &[VaultKey]) -> Result<Self> {
        if keys.is_empty() {
            return Err(VaultError::NoKeys);
        }
        let mut ring = Vec::with_capacity(keys.len());
        let mut by_id = HashMap::new();
        for key in keys {
            if by_id.insert(key.id(), ring.len()).is_some() {
                return Err(VaultError::DuplicateKey(key.id()));
            }
            let cipher = Aes256Gcm::new_from_slice(key.material())
                .map_err(|_| VaultError::InvalidKey("key has the wrong length".into()))?;
            ring.push(RingKey {
                id: key.id(),
                cipher,
            });
        }
        Ok(Self { keys: ring, by_id })
    }

    /// The key that seals new data.
    pub fn newest_key_id(&self) -> KeyId {
        // `new` refuses an empty ring.
        self.keys[self.keys.len() - 1].id
    }

    /// Every configured key id, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// Whether a key with this id is configured.
    pub fn has_key(&self, id: KeyId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Encrypts `plaintext` under the newest key, bound to `aad`.
    pub fn seal(&self, aad: &Aad, plaintext: &[u8]) -> Result<Vec<u8>> {
        let key = &self.keys[self.keys.len() - 1];
        let header = header(key.id);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let full_aad = full_aad(&header, aad);
        let ciphertext = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &full_aad,
                },
            )
            .map_err(|_| VaultError::SealFailed)?;
        let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&header);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    /// Decrypts a blob sealed for `aad` by any key of the ring. The plaintext
    /// is wiped from memory when the returned buffer is dropped.
    pub fn open(&self, aad: &Aad, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key_id = blob_key_id(blob)?;
        if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(VaultError::Malformed("shorter than header, nonce and tag"));
        }
        let index = *self
            .by_id
            .get(&key_id)
            .ok_or(VaultError::MissingKey(key_id))?;
        let (header, rest) = blob.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let full_aad = full_aad(header, aad);
        self.keys[index]
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &full_aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Refused(key_id))
    }

    /// Whether a blob was sealed by a key other than the newest.
    pub fn needs_reseal(&self, blob: &[u8]) -> Result<bool> {
        Ok(blob_key_id(blob)? != self.newest_key_id())
    }

    /// Opens a blob and seals its plaintext again under the newest key.
    pub fn reseal(&self, aad: &Aad, blob: &[u8]) -> Result<Vec<u8>> {
        let plaintext = self.open(aad, blob)?;
        self.seal(aad, &plaintext)
    }
}

/// The header written in front of blobs sealed by `key_id`; the store can
/// match it against the first [`HEADER_LEN`] bytes of a column.
pub fn header(key_id: KeyId) -> [u8; HEADER_LEN] {
    let id = key_id.0.to_be_bytes();
    [BLOB_VERSION, id[0], id[1], id[2], id[3]]
}

/// The id of the key that sealed a blob, read from its header.
pub fn blob_key_id(blob: &[u8]) -> Result<KeyId> {
    if blob.len() < HEADER_LEN {
        return Err(VaultError::Malformed("shorter than its header"));
    }
    if blob[0] != BLOB_VERSION {
        return Err(VaultError::UnsupportedVersion(blob[0]));
    }
    Ok(KeyId(u32::from_be_bytes([
        blob[1], blob[2], blob[3], blob[4],
    ])))
}

fn full_aad(header: &[u8], aad: &Aad) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + aad.0.len());
    out.extend_from_slice(header);
    out.extend_from_slice(aad.0.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[&VaultKey]) -> Vault {
        Vault::new(&keys.iter().map(|k| (*k).clone()).collect::<Vec<_>>()).expect("ring")
    }

    #[test]
    fn seal_then_open_returns_the_plaintext() {
        let key = VaultKey::generate().expect("key");
        let vault = ring(&[&key]);
        let aad = Aad::account_auth(7);
        let blob = vault.seal(&aad, b"auth material").expect("seal");
        assert_eq!(blob_key_id(&blob).expect("id"), key.id());
        assert_eq!(&**vault.open(&aad, &blob).expect("open"), b"auth material");
        assert!(!blob.windows(4).any(|w| w == b"auth"));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let vault = ring(&[&VaultKey::generate().expect("key")]);
        let aad = Aad::account_auth(1);
        let a = vault.seal(&aad, b"same").expect("seal");
        let b = vault.seal(&aad, b"same").expect("seal");
        assert_ne!(a, b);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let key = VaultKey::generate().expect("key");
        let vault = ring(&[&key]);
        let aad = Aad::account_auth(7);
        let blob = vault.seal(&aad, b"auth material").expect("seal");
        for byte in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[byte] ^= 0x01;
            let err = vault
                .open(&aad, &tampered)
                .expect_err("tampered blob must not open");
            match (byte, err) {
                (0, VaultError::UnsupportedVersion(_)) => {}
                (1..=4, VaultError::MissingKey(_)) => {}
                (5.., VaultError::Refused(id)) => assert_eq!(id, key.id()),
                (byte, err) => panic!("byte {byte}: unexpected error {err}"),
            }
        }
    }

    #[test]
    fn a_blob_moved_to_another_row_or_purpose_is_refused() {
        let vault = ring(&[&VaultKey::generate().expect("key")]);
        let blob = vault.seal(&Aad::account_auth(7), b"x").expect("seal");
        let err = vault
            .open(&Aad::account_auth(8), &blob)
            .expect_err("other row");
        assert!(matches!(err, VaultError::Refused(_)));
        let err = vault
            .open(&Aad::account_phone(7), &blob)
            .expect_err("other purpose");
        assert!(matches!(err, VaultError::Refused(_)));
        assert_eq!(
            err.to_string(),
            format!(
                "sealed data does not open with vault key {}: it was altered, moved from another row, or the key is wrong",
                vault.newest_key_id()
            )
        );
    }

    #[test]
    fn a_wrong_or_missing_key_is_refused_clearly() {
        let right = VaultKey::generate().expect("key");
        let other = VaultKey::generate().expect("key");
        let blob = ring(&[&right])
            .seal(&Aad::account_auth(1), b"x")
            .expect("seal");
        let err = ring(&[&other])
            .open(&Aad::account_auth(1), &blob)
            .expect_err("missing key");
        assert_eq!(
            err.to_string(),
            format!(
                "vault key {} is missing: data was sealed with it; add it to TGDESK_VAULT_KEYS (newest key last)",
                right.id()
            )
        );
    }

    #[test]
    fn newest_seals_and_all_open() {
        let old = VaultKey::generate().expect("key");
        let new = VaultKey::generate().expect("key");
        let aad = Aad::event(3, 9);
        let old_blob = ring(&[&old]).seal(&aad, b"payload").expect("seal");
        let both = ring(&[&old, &new]);
        assert_eq!(both.newest_key_id(), new.id());
        assert!(both.needs_reseal(&old_blob).expect("header"));
        let resealed = both.reseal(&aad, &old_blob).expect("reseal");
        assert_eq!(blob_key_id(&resealed).expect("id"), new.id());
        assert!(!both.needs_reseal(&resealed).expect("header"));
        assert_eq!(&**both.open(&aad, &old_blob).expect("old"), b"payload");
        assert_eq!(
            &**ring(&[&new]).open(&aad, &resealed).expect("new"),
            b"payload"
        );
    }

    #[test]
    fn ring_refuses_no_keys_and_duplicates() {
        assert!(matches!(Vault::new(&[]), Err(VaultError::NoKeys)));
        let key = VaultKey::generate().expect("key");
        assert!(matches!(
            Vault::new(&[key.clone(), key]),
            Err(VaultError::DuplicateKey(_))
        ));
    }

    #[test]
    fn truncated_blob_is_malformed_not_a_panic() {
        let vault = ring(&[&VaultKey::generate().expect("key")]);
        let aad = Aad::account_auth(1);
        let blob = vault.seal(&aad, b"").expect("seal");
        for len in 0..blob.len() {
            assert!(vault.open(&aad, &blob[..len]).is_err());
        }
    }
}
