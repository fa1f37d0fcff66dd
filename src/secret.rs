//! Secret newtypes: no `Clone`, a redacting `Debug`, zeroized on drop.

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// A secret text (a plaintext API key or a PEM private key).
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(Zeroizing::new(value))
    }
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

/// The private keys a caller decrypts with: the current PEM and, during a key rotation, the
/// previous ones (`RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS`), with one SHA-256 digest of them
/// all, computed once: the data-key cache and the parsed-key cache are keyed by digests, so a
/// caller that keeps one of these (the JS layer keeps one per set of PEMs it has seen) pays
/// for hashing the PEMs once, not per call.
pub struct PrivatePem {
    pem: SecretString,
    previous: Vec<SecretString>,
    digest: [u8; 32],
    source: crate::rsa_keys::KeySource,
}

impl PrivatePem {
    /// A PEM from `RSA_API_ENCRYPTION_PRIVATE_KEY`.
    pub fn new(pem: SecretString) -> Self {
        PrivatePem::from_source(pem, crate::rsa_keys::KeySource::Environment)
    }
    /// A PEM whose parse error names `source`.
    pub fn from_source(pem: SecretString, source: crate::rsa_keys::KeySource) -> Self {
        PrivatePem::with_previous(pem, Vec::new(), source)
    }
    /// The current PEM and the previous ones, each tried in order after it. Errors name
    /// `source` (the environment variables or the `configure()` options).
    pub fn with_previous(
        pem: SecretString,
        previous: Vec<SecretString>,
        source: crate::rsa_keys::KeySource,
    ) -> Self {
        use rsa::sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(pem.expose().as_bytes());
        for p in &previous {
            // A separator no PEM contains, so [a, b] and [ab] differ.
            hash.update(b"\0previous\0");
            hash.update(p.expose().as_bytes());
        }
        PrivatePem {
            pem,
            previous,
            digest: hash.finalize().into(),
            source,
        }
    }
    pub fn source(&self) -> crate::rsa_keys::KeySource {
        self.source
    }
    /// The current private key PEM.
    pub fn expose(&self) -> &str {
        self.pem.expose()
    }
    /// The previous private key PEMs, in the order they are tried.
    pub fn previous(&self) -> impl Iterator<Item = &str> {
        self.previous.iter().map(SecretString::expose)
    }
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
    /// A second copy for work moved to another thread (explicit: secrets are not `Clone`).
    pub(crate) fn copy(&self) -> PrivatePem {
        PrivatePem {
            pem: SecretString::new(self.pem.expose().to_owned()),
            previous: self
                .previous
                .iter()
                .map(|p| SecretString::new(p.expose().to_owned()))
                .collect(),
            digest: self.digest,
            source: self.source,
        }
    }
}

impl From<SecretString> for PrivatePem {
    fn from(pem: SecretString) -> Self {
        PrivatePem::new(pem)
    }
}

impl fmt::Debug for PrivatePem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivatePem([REDACTED])")
    }
}

/// A 256-bit AES data key.
pub struct AesKey(Zeroizing<[u8; 32]>);

impl AesKey {
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let key = AesKey(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }
    /// A key copied straight from `bytes` into its zeroizing buffer (no copy left behind on
    /// the stack); `None` unless `bytes` is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = AesKey(Zeroizing::new([0u8; 32]));
        (bytes.len() == 32).then(|| {
            key.0.copy_from_slice(bytes);
            key
        })
    }
    pub fn random() -> Self {
        let mut key = AesKey(Zeroizing::new([0u8; 32]));
        rand::fill(&mut key.0[..]);
        key
    }
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey([REDACTED])")
    }
}

/// Mark the process as not dumpable (Linux `prctl(PR_SET_DUMPABLE, 0)`): no core file is written
/// on a crash, so none holds the cached data keys or the parsed RSA keys (which live on
/// ordinary heap pages, too small and scattered for `MADV_DONTDUMP` per page). `Ok(false)` on
/// other platforms.
pub fn exclude_from_core_dumps() -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_DUMPABLE takes integer arguments only; no memory is passed.
        let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        if rc == 0 {
            Ok(true)
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(false)
    }
}

/// Whether the process is excluded from core dumps (see [`exclude_from_core_dumps`]).
pub fn core_dumps_excluded() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_GET_DUMPABLE takes no pointer; it returns the flag.
        (unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }) == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let s = SecretString::new("sk-live-123456".into());
        assert_eq!(format!("{s:?}"), "SecretString([REDACTED])");
        let k = AesKey::from_bytes([7u8; 32]);
        assert_eq!(format!("{k:?}"), "AesKey([REDACTED])");
    }
}
