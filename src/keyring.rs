//! The caller's private keys as one ring: the current key, then the previous ones (during a
//! key rotation, rows not yet rewrapped), each parsed once, tried in order; the one opener of
//! a sealed key, for agents' calls ([`crate::service`]) and key rotation
//! ([`crate::rotation`]), which also reports which key opened it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::envelope::{self, Ciphertext};
use crate::error::{Error, Result};
use crate::rsa_keys::{self, RsaPrivate, RsaPublic};
use crate::secret::{AesKey, PrivatePem, SecretString};

/// Which of the caller's private keys opens a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    Current,
    /// The n-th previous key (0-based, in the configured order).
    Previous(usize),
    /// None of them, or the data key does not open the row's API-key ciphertext.
    Nobody,
}

/// The parsed keys of a [`PrivatePem`]: the current one and the previous ones.
pub struct KeyRing {
    pub(crate) current: Arc<RsaPrivate>,
    /// Each previous key, or why its PEM does not parse (reported when it is reached, see
    /// [`KeyRing::load`]).
    previous: Vec<Result<Arc<RsaPrivate>>>,
    /// Rotation's guess of which key opens the next row: the key that opened the last one.
    /// Rows are rotated in id order, so after an interrupted run the rows come in two runs
    /// (rotated, then not); trying the likely key first saves a failed RSA operation per row
    /// on a re-run. Only the order of the attempts depends on it, never the outcome.
    pub(crate) current_first: AtomicBool,
}

impl KeyRing {
    /// Parse (once per PEM) the current and previous private keys; errors name the variable
    /// or option, never a value.
    pub fn parse(pem: &PrivatePem) -> Result<KeyRing> {
        let ring = KeyRing::load(pem)?;
        if let Some(Err(e)) = ring.previous.iter().find(|k| k.is_err()) {
            return Err(e.clone());
        }
        Ok(ring)
    }

    /// As [`KeyRing::parse`], but a previous key that does not parse is reported only when it
    /// is reached (an agent's call opened by the current key never meets it).
    pub fn load(pem: &PrivatePem) -> Result<KeyRing> {
        Ok(KeyRing {
            current: rsa_keys::private_key_from(pem.expose(), pem.source())?,
            previous: pem
                .previous()
                .map(|p| rsa_keys::previous_private_key_from(p, pem.source()))
                .collect(),
            current_first: AtomicBool::new(false),
        })
    }

    /// Unwrap `encrypted_aes_key` of `group` (see [`envelope::unwrap_aes_key`]) with the first
    /// key that opens it (`previous_first`: the previous keys before the current one), then
    /// open `ct` with that data key. The data
    /// key is returned for caching only because the open succeeded (GCM verified). A wrapped
    /// key that is no base64, or a previous key reached that does not parse, is that error;
    /// no key opening it is `PSPAS_DECRYPT_FAILED`.
    pub fn open(
        &self,
        encrypted_aes_key: &str,
        group: Option<i64>,
        ct: &Ciphertext,
        previous_first: bool,
    ) -> Result<(AesKey, SecretString, Opener)> {
        let current = std::iter::once((Opener::Current, Ok(&self.current)));
        let previous = self
            .previous
            .iter()
            .enumerate()
            .map(|(i, k)| (Opener::Previous(i), k.as_ref()));
        let order: Vec<_> = if previous_first {
            previous.chain(current).collect()
        } else {
            current.chain(previous).collect()
        };
        for (opener, key) in order {
            let key = key.map_err(Clone::clone)?;
            match envelope::unwrap_aes_key(key, encrypted_aes_key, group) {
                Ok(aes) => {
                    let plaintext = envelope::open_with_key(&aes, ct)?;
                    return Ok((aes, plaintext, opener));
                }
                Err(Error::DecryptFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::DecryptFailed)
    }

    /// The public half of the current key.
    pub fn current_public(&self) -> RsaPublic {
        rsa_keys::public_of(&self.current)
    }

    /// The check that a given public key is the current key's (the CLI's `--new-public-key`).
    pub fn is_current_public(&self, public: &RsaPublic) -> bool {
        rsa_keys::is_pair(&self.current, public)
    }
}
