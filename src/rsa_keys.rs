//! RSA behind one small module, so the backend (today the `rsa` crate, 0.10: constant-time
//! private operations on crypto-bigint, blinded with the OS RNG) can be swapped for another
//! without touching the envelope code.
//!
//! Keys are PEM text: private keys as PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
//! (`BEGIN RSA PRIVATE KEY`), public keys as SPKI (`BEGIN PUBLIC KEY`) or PKCS#1
//! (`BEGIN RSA PUBLIC KEY`). `.env` files often hold a PEM on one line with the two characters
//! `\n` for each newline; those are accepted. Each distinct PEM is parsed once and cached,
//! keyed by its SHA-256 digest (the PEM text itself is not kept).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretString;

/// A parsed RSA private key (zeroized on drop by the backend).
pub struct RsaPrivate(rsa::PrivateKey);
/// A parsed RSA public key.
pub struct RsaPublic(rsa::PublicKey);

impl std::fmt::Debug for RsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPrivate([REDACTED])")
    }
}

impl std::fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPublic")
    }
}

impl RsaPrivate {
    /// RSA-OAEP decryption (blinded: the `getrandom` feature), SHA-256 for both the OAEP hash
    /// and MGF1, with `label` (`None`: the empty label of the original's format).
    pub fn decrypt_oaep_sha256(
        &self,
        ciphertext: &[u8],
        label: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.0
            .decrypt(oaep_sha256(label), ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| Error::DecryptFailed)
    }
}

impl RsaPublic {
    /// RSA-OAEP encryption, SHA-256 for both the OAEP hash and MGF1, with `label` (`None`:
    /// the empty label of the original's format).
    pub fn encrypt_oaep_sha256(&self, plaintext: &[u8], label: Option<&[u8]>) -> Result<Vec<u8>> {
        self.0
            .encrypt(&mut rand::rng(), oaep_sha256(label), plaintext)
            .map_err(|e| Error::Internal(format!("RSA encryption failed: {e}")))
    }
}

/// The one OAEP padding of the envelope: SHA-256 for the hash and MGF1, `label` or none.
fn oaep_sha256(label: Option<&[u8]>) -> rsa::Oaep<Sha256> {
    match label {
        None => rsa::Oaep::new(),
        Some(label) => rsa::Oaep::new_with_label(label),
    }
}

/// Where a PEM came from, so that a parse error names it (never its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeySource {
    /// `RSA_API_ENCRYPTION_PRIVATE_KEY` / `RSA_API_ENCRYPTION_PUBLIC_KEY`.
    #[default]
    Environment,
    /// `configure({ privateKey })` / `configure({ publicKey })`.
    Configured,
}

impl KeySource {
    fn previous_private_name(self) -> &'static str {
        match self {
            KeySource::Environment => "RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS",
            KeySource::Configured => "The previousPrivateKeys option",
        }
    }
    fn private_name(self) -> &'static str {
        match self {
            KeySource::Environment => "RSA_API_ENCRYPTION_PRIVATE_KEY",
            KeySource::Configured => "The privateKey option",
        }
    }
    fn public_name(self) -> &'static str {
        match self {
            KeySource::Environment => "RSA_API_ENCRYPTION_PUBLIC_KEY",
            KeySource::Configured => "The publicKey option",
        }
    }
}
/// Distinct PEMs kept parsed; more than this clears the cache (key rotation is rare).
const CACHE_LIMIT: usize = 16;

type Cache<T> = Mutex<HashMap<[u8; 32], Arc<T>>>;

fn cached<T>(
    cache: &'static OnceLock<Cache<T>>,
    pem: &str,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<Arc<T>> {
    let digest: [u8; 32] = Sha256::digest(pem.as_bytes()).into();
    let cache = cache.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&digest) {
        return Ok(hit.clone());
    }
    let parsed = Arc::new(parse(pem)?);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
    map.insert(digest, parsed.clone());
    Ok(parsed)
}

/// Undo the one-line `.env` spelling: literal `\n` (and `\r\n`) become newlines.
fn normalize_pem(pem: &str) -> Zeroizing<String> {
    // Each step's copy of the PEM is zeroized when dropped, the intermediate one included.
    let crlf = Zeroizing::new(pem.trim().replace("\\r\\n", "\n"));
    Zeroizing::new(crlf.replace("\\n", "\n"))
}

/// Parse (once) a private key PEM from the environment, PKCS#8 or PKCS#1.
pub fn private_key(pem: &str) -> Result<Arc<RsaPrivate>> {
    private_key_from(pem, KeySource::Environment)
}

/// Parse (once) a public key PEM from the environment, SPKI or PKCS#1.
pub fn public_key(pem: &str) -> Result<Arc<RsaPublic>> {
    public_key_from(pem, KeySource::Environment)
}

/// Parse (once) a private key PEM, PKCS#8 or PKCS#1; an error names `source`.
pub fn private_key_from(pem: &str, source: KeySource) -> Result<Arc<RsaPrivate>> {
    private_key_named(pem, source.private_name())
}

/// Parse (once) one of the previous private keys; an error names the variable or option.
pub fn previous_private_key_from(pem: &str, source: KeySource) -> Result<Arc<RsaPrivate>> {
    private_key_named(pem, source.previous_private_name())
}

fn private_key_named(pem: &str, name: &str) -> Result<Arc<RsaPrivate>> {
    static CACHE: OnceLock<Cache<RsaPrivate>> = OnceLock::new();
    cached(&CACHE, pem, |pem| {
        let pem = normalize_pem(pem);
        rsa::PrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&pem))
            .map(RsaPrivate)
            .map_err(|_| {
                Error::InvalidRsaKey(format!(
                    "{name} is not a valid RSA private key (PEM, PKCS#8 or PKCS#1)"
                ))
            })
    })
}

/// The PEMs of a variable holding several (`RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS`): PEM
/// blocks one after another, in any spacing, on separate lines or on one line with `\n`
/// escapes; commas between blocks are ignored. Text that holds no PEM block is an error
/// naming `source`, never showing the value.
pub fn split_private_pems(text: &str, source: KeySource) -> Result<Vec<SecretString>> {
    let invalid = || {
        Error::InvalidRsaKey(format!(
            "{} must hold PEM private keys (-----BEGIN … -----END …-----), one after another",
            source.previous_private_name()
        ))
    };
    let between = |s: &str| {
        s.trim_matches(|c: char| c == ',' || c.is_whitespace())
            .is_empty()
    };
    let text = normalize_pem(text);
    let mut pems = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let end = start + rest[start..].find("-----END ").ok_or_else(invalid)? + 9;
        let close = end + rest[end..].find("-----").ok_or_else(invalid)? + 5;
        if !between(&rest[..start]) {
            return Err(invalid());
        }
        pems.push(SecretString::new(rest[start..close].to_owned()));
        rest = &rest[close..];
    }
    if pems.is_empty() || !between(rest) {
        return Err(invalid());
    }
    Ok(pems)
}

/// Whether `public` is the public half of `private` (same modulus and exponent).
pub fn is_pair(private: &RsaPrivate, public: &RsaPublic) -> bool {
    private.0.to_public_key() == public.0
}

/// The public half of a private key.
pub fn public_of(private: &RsaPrivate) -> RsaPublic {
    RsaPublic(private.0.to_public_key())
}

/// Parse (once) a public key PEM, SPKI or PKCS#1; an error names `source`.
pub fn public_key_from(pem: &str, source: KeySource) -> Result<Arc<RsaPublic>> {
    static CACHE: OnceLock<Cache<RsaPublic>> = OnceLock::new();
    cached(&CACHE, pem, |pem| {
        let pem = normalize_pem(pem);
        rsa::PublicKey::from_public_key_pem(&pem)
            .or_else(|_| rsa::PublicKey::from_pkcs1_pem(&pem))
            .map(RsaPublic)
            .map_err(|_| {
                Error::InvalidRsaKey(format!(
                    "{} is not a valid RSA public key (PEM, SPKI or PKCS#1)",
                    source.public_name()
                ))
            })
    })
}
