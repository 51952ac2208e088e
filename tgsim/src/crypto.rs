//! MTProto 2.0 message encryption, server side: messages from clients are
//! opened with x = 0, messages to clients sealed with x = 8. grammers-crypto
//! keeps the server direction private, so the key derivation is written here
//! over its public AES-IGE functions.

use grammers_crypto::aes;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A registered auth key with its derived identifier.
#[derive(Clone)]
pub struct ServerKey {
    data: [u8; 256],
    id: i64,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("ServerKey").field("id", &self.id).finish()
    }
}

impl ServerKey {
    pub fn new(data: [u8; 256]) -> Self {
        Self {
            id: auth_key_id(&data),
            data,
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }
}

/// Telegram's auth_key_id: the last 8 bytes of SHA-1 of the key, little endian.
pub fn auth_key_id(key: &[u8; 256]) -> i64 {
    let sha = Sha1::digest(key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&sha[12..20]);
    i64::from_le_bytes(id)
}

fn calc_key(key: &[u8; 256], msg_key: &[u8; 16], x: usize) -> ([u8; 32], [u8; 32]) {
    let a = Sha256::new()
        .chain_update(msg_key)
        .chain_update(&key[x..x + 36])
        .finalize();
    let b = Sha256::new()
        .chain_update(&key[40 + x..40 + x + 36])
        .chain_update(msg_key)
        .finalize();
    let mut aes_key = [0u8; 32];
    aes_key[0..8].copy_from_slice(&a[0..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..32].copy_from_slice(&a[24..32]);
    let mut aes_iv = [0u8; 32];
    aes_iv[0..8].copy_from_slice(&b[0..8]);
    aes_iv[8..24].copy_from_slice(&a[8..24]);
    aes_iv[24..32].copy_from_slice(&b[24..32]);
    (aes_key, aes_iv)
}

fn msg_key_for(key: &[u8; 256], plaintext: &[u8], x: usize) -> [u8; 16] {
    let large = Sha256::new()
        .chain_update(&key[88 + x..88 + x + 32])
        .chain_update(plaintext)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&large[8..24]);
    out
}

/// Reads the auth_key_id of an encrypted frame (0 for a plaintext one).
pub fn frame_key_id(frame: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = frame.get(..8)?.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// Why a client's frame could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("encrypted frame has a bad length")]
    BadLength,
    #[error("msg_key does not match the plaintext")]
    BadMsgKey,
}

/// Opens a client→server frame (`auth_key_id ‖ msg_key ‖ ciphertext`) and
/// returns the plaintext (salt, session_id, message, padding).
pub fn open(key: &ServerKey, frame: &[u8]) -> Result<Vec<u8>, OpenError> {
    if frame.len() < 24 + 32 || !(frame.len() - 24).is_multiple_of(16) {
        return Err(OpenError::BadLength);
    }
    let mut msg_key = [0u8; 16];
    msg_key.copy_from_slice(&frame[8..24]);
    let (k, iv) = calc_key(&key.data, &msg_key, 0);
    let mut plain = frame[24..].to_vec();
    aes::ige_decrypt(&mut plain, &k, &iv);
    if msg_key_for(&key.data, &plain, 0) != msg_key {
        return Err(OpenError::BadMsgKey);
    }
    Ok(plain)
}

/// Seals a server→client plaintext (salt, session_id, message) into a frame,
/// adding 12 to 1024 bytes of random padding to a multiple of 16.
pub fn seal(key: &ServerKey, mut plain: Vec<u8>) -> Vec<u8> {
    let pad = 16 + (16 - plain.len() % 16);
    let mut padding = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut padding[..]);
    plain.extend_from_slice(&padding[..pad]);
    let msg_key = msg_key_for(&key.data, &plain, 8);
    let (k, iv) = calc_key(&key.data, &msg_key, 8);
    aes::ige_encrypt(&mut plain, &k, &iv);
    let mut out = Vec::with_capacity(24 + plain.len());
    out.extend_from_slice(&key.id.to_le_bytes());
    out.extend_from_slice(&msg_key);
    out.extend_from_slice(&plain);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_crypto::{AuthKey, DequeBuffer, decrypt_data_v2, encrypt_data_v2};

    fn key() -> [u8; 256] {
        let mut k = [0u8; 256];
        for (i, b) in k.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        k
    }

    #[test]
    fn opens_what_grammers_seals_and_grammers_opens_what_we_seal() {
        let raw = key();
        let server = ServerKey::new(raw);
        let client = AuthKey::from_bytes(raw);

        let body: Vec<u8> = (0..40u8).collect();
        let mut buf = DequeBuffer::with_capacity(body.len(), 32);
        buf.extend(body.iter().copied());
        encrypt_data_v2(&mut buf, &client);
        let frame: Vec<u8> = buf.as_ref().to_vec();
        assert_eq!(frame_key_id(&frame), Some(server.id()));
        let plain = open(&server, &frame).expect("opens");
        assert_eq!(&plain[..40], &body[..]);

        let mut sealed = seal(&server, body.clone());
        let opened = decrypt_data_v2(&mut sealed, &client).expect("grammers opens");
        assert_eq!(&opened[..40], &body[..]);
    }

    #[test]
    fn a_flipped_bit_is_refused() {
        let server = ServerKey::new(key());
        let client = AuthKey::from_bytes(key());
        let mut buf = DequeBuffer::with_capacity(48, 32);
        buf.extend([1u8; 48]);
        encrypt_data_v2(&mut buf, &client);
        let mut frame: Vec<u8> = buf.as_ref().to_vec();
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert_eq!(open(&server, &frame), Err(OpenError::BadMsgKey));
        assert_eq!(open(&server, &frame[..30]), Err(OpenError::BadLength));
    }
}
