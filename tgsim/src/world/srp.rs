//! The server half of Telegram's SRP-2048 cloud-password check
//! (<https://core.telegram.org/api/srp>): the verifier `v = g^x mod p` kept per
//! account, the per-challenge `B = k·v + g^b`, and the check of the client's
//! `M1`. The client half is grammers' `calculate_2fa`, unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use num_bigint::BigUint;
use sha2::{Digest, Sha256, Sha512};

/// Telegram's 2048-bit safe prime (the one real Telegram sends in
/// `passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow`).
pub(crate) const P_HEX: &str = "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f\
48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c37\
20fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64\
2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4\
a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754\
fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4\
e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f\
0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b";

pub(crate) const G: i32 = 3;

pub(crate) fn p_bytes() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| hex::decode(P_HEX).unwrap_or_default())
}

fn p() -> &'static BigUint {
    static P: OnceLock<BigUint> = OnceLock::new();
    P.get_or_init(|| BigUint::from_bytes_be(p_bytes()))
}

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn pad256(n: &BigUint) -> [u8; 256] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; 256];
    let len = bytes.len().min(256);
    out[256 - len..].copy_from_slice(&bytes[bytes.len() - len..]);
    out
}

fn g_padded() -> [u8; 256] {
    pad256(&BigUint::from(G as u32))
}

/// `SH(data, salt) = H(salt | data | salt)`.
fn sh(data: &[u8], salt: &[u8]) -> [u8; 32] {
    h(&[salt, data, salt])
}

/// `PH2(password, salt1, salt2)`, as the client derives it.
fn ph2(password: &[u8], salt1: &[u8], salt2: &[u8]) -> [u8; 32] {
    let ph1 = sh(&sh(password, salt1), salt2);
    let mut dk = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(&ph1, salt1, 100_000, &mut dk);
    sh(&dk, salt2)
}

/// The verifier `v = g^PH2(password) mod p`. PBKDF2 with 100,000 rounds is the
/// expensive part, so results are memoised for the whole process: every demo
/// world derives the same salts and pays once.
pub(crate) fn verifier(password: &str, salt1: &[u8], salt2: &[u8]) -> Arc<BigUint> {
    type Memo = Mutex<HashMap<(String, Vec<u8>, Vec<u8>), Arc<BigUint>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let key = (password.to_owned(), salt1.to_vec(), salt2.to_vec());
    if let Some(v) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return v.clone();
    }
    let x = BigUint::from_bytes_be(&ph2(password.as_bytes(), salt1, salt2));
    let v = Arc::new(BigUint::from(G as u32).modpow(&x, p()));
    memo.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, v.clone());
    v
}

/// A fresh challenge: `b` (secret) and `B = (k·v + g^b) mod p`, padded to 256 bytes.
pub(crate) fn challenge(v: &BigUint, b_bytes: &[u8]) -> (BigUint, Vec<u8>) {
    let b = BigUint::from_bytes_be(b_bytes);
    let k = BigUint::from_bytes_be(&h(&[p_bytes(), &g_padded()]));
    let g_b = (k * v + BigUint::from(G as u32).modpow(&b, p())) % p();
    (b, pad256(&g_b).to_vec())
}

/// Checks the client's `A` and `M1` against the challenge. True only for the
/// right password.
pub(crate) fn check(
    v: &BigUint,
    b: &BigUint,
    g_b: &[u8],
    salt1: &[u8],
    salt2: &[u8],
    a_bytes: &[u8],
    m1: &[u8],
) -> bool {
    if a_bytes.len() > 256 || m1.len() != 32 {
        return false;
    }
    let a = BigUint::from_bytes_be(a_bytes);
    let one = BigUint::from(1u32);
    // A must be a proper group element: 1 < A < p - 1.
    if a <= one || a >= p() - &one {
        return false;
    }
    let g_a = pad256(&a);
    let u = BigUint::from_bytes_be(&h(&[&g_a, g_b]));
    let s = (a * v.modpow(&u, p())).modpow(b, p());
    let k_a = h(&[&pad256(&s)]);
    let h_p = h(&[p_bytes()]);
    let h_g = h(&[&g_padded()]);
    let mut p_xor_g = [0u8; 32];
    for (i, out) in p_xor_g.iter_mut().enumerate() {
        *out = h_p[i] ^ h_g[i];
    }
    let expected = h(&[&p_xor_g, &h(&[salt1]), &h(&[salt2]), &g_a, g_b, &k_a]);
    // Constant-time comparison: the simulator should not teach bad habits.
    expected
        .iter()
        .zip(m1)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammers_accepts_the_prime() {
        assert_eq!(p_bytes().len(), 256);
        assert!(grammers_crypto::two_factor_auth::check_p_and_g(
            p_bytes(),
            &G
        ));
    }

    #[test]
    fn right_password_passes_and_wrong_one_fails() {
        let (salt1, salt2) = (vec![7u8; 40], vec![9u8; 16]);
        let v = verifier("hunter2", &salt1, &salt2);
        let (b, g_b) = challenge(&v, &[42u8; 256]);
        let a = vec![5u8; 256];
        let (m1, g_a) = grammers_crypto::two_factor_auth::calculate_2fa(
            &salt1,
            &salt2,
            p_bytes(),
            &G,
            g_b.clone(),
            a.clone(),
            "hunter2",
        );
        assert!(check(&v, &b, &g_b, &salt1, &salt2, &g_a, &m1));
        let (m1, g_a) = grammers_crypto::two_factor_auth::calculate_2fa(
            &salt1,
            &salt2,
            p_bytes(),
            &G,
            g_b.clone(),
            a,
            "hunter3",
        );
        assert!(!check(&v, &b, &g_b, &salt1, &salt2, &g_a, &m1));
    }
}
