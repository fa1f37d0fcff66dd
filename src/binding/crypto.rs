//! The synchronous envelope functions, as the original (which ran them on the JS thread).
//! The PEMs are passed in by the JS layer, read from the caller's `process.env` at call time.

use napi_derive::napi;

use super::to_js;
use crate::error::Error;
use crate::rsa_keys::{self, KeySource};
use crate::secret::{PrivatePem, SecretString};
use crate::{envelope, service};

/// The two stored strings of a sealed API key.
#[napi(object)]
pub struct NativeSealed {
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
}

fn source(configured: Option<bool>) -> KeySource {
    if configured == Some(true) {
        KeySource::Configured
    } else {
        KeySource::Environment
    }
}

/// Seal `apiKey` under `publicKeyPem` (SPKI or PKCS#1; PEMs written on one line, as in
/// `.env` files, are accepted). `null`: the variable is not set (the original's error).
/// `configured`: the PEM came from `configure({ publicKey })` (errors name that option).
#[napi(catch_unwind)]
pub fn seal(
    public_key_pem: Option<String>,
    api_key: String,
    configured: Option<bool>,
) -> napi::Result<NativeSealed> {
    let api_key = SecretString::new(api_key);
    let pem = public_key_pem
        .map(SecretString::new)
        .ok_or(Error::MissingPublicKey)
        .map_err(to_js)?;
    let sealed =
        service::encrypt_with(&pem, source(configured), api_key.expose()).map_err(to_js)?;
    Ok(NativeSealed {
        encrypted_api_key: sealed.encrypted_api_key,
        encrypted_aes_key: sealed.encrypted_aes_key,
    })
}

/// The private keys as the JS layer last read them (the current PEM and, during a rotation,
/// the previous ones), digested once so that calls do not hash the PEMs again (the data-key
/// cache is keyed by the digest). Parsed on first use.
#[napi]
pub struct NativePrivateKey {
    pub(crate) pem: std::sync::Arc<PrivatePem>,
}

#[napi]
impl NativePrivateKey {
    /// `previous`: `RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS` or the `previousPrivateKeys`
    /// option (PEMs one after another), tried in order after the current key. `configured`:
    /// the PEMs came from `configure()` (errors name those options).
    #[napi(constructor, catch_unwind)]
    pub fn new(
        pem: String,
        configured: Option<bool>,
        previous: Option<String>,
    ) -> napi::Result<Self> {
        let source = source(configured);
        let previous = match previous {
            Some(text) => rsa_keys::split_private_pems(&text, source).map_err(to_js)?,
            None => Vec::new(),
        };
        Ok(NativePrivateKey {
            pem: std::sync::Arc::new(PrivatePem::with_previous(
                SecretString::new(pem),
                previous,
                source,
            )),
        })
    }
}

/// Parse the PEMs given to `configure()` now, so a bad one is reported there, naming the
/// option and never its value.
#[napi(catch_unwind)]
pub fn check_configured_keys(
    public_key_pem: Option<String>,
    private_key_pem: Option<String>,
    previous_private_keys: Option<String>,
) -> napi::Result<()> {
    if let Some(pem) = public_key_pem {
        rsa_keys::public_key_from(SecretString::new(pem).expose(), KeySource::Configured)
            .map_err(to_js)?;
    }
    if let Some(pem) = private_key_pem {
        rsa_keys::private_key_from(SecretString::new(pem).expose(), KeySource::Configured)
            .map_err(to_js)?;
    }
    if let Some(text) = previous_private_keys {
        for pem in rsa_keys::split_private_pems(&text, KeySource::Configured).map_err(to_js)? {
            rsa_keys::previous_private_key_from(pem.expose(), KeySource::Configured)
                .map_err(to_js)?;
        }
    }
    Ok(())
}

/// The original's format check of a stored `encrypted_api_key`: three non-empty hex parts.
#[napi(catch_unwind)]
pub fn is_valid_encrypted_format(value: String) -> bool {
    envelope::is_valid_encrypted_format(&value)
}

/// Non-empty hexadecimal, as the original's `/^[0-9A-Fa-f]+$/`.
#[napi(catch_unwind)]
pub fn is_valid_hex(value: String) -> bool {
    envelope::is_valid_hex(&value)
}

/// Canonical standard base64 (re-encoding gives the same string; `""` passes, as in the
/// original).
#[napi(catch_unwind)]
pub fn is_valid_base64(value: String) -> bool {
    envelope::is_valid_base64(&value)
}

/// Throws the original's rejection for a blocked Sequelize finder (`findAll`, `findOne`,
/// `findByPk`); the JS layer warns on the caller's console first.
#[napi(catch_unwind)]
pub fn blocked_method(name: String) -> napi::Result<()> {
    let name = match name.as_str() {
        "findAll" => "findAll",
        "findOne" => "findOne",
        _ => "findByPk",
    };
    Err(to_js(Error::NotAllowed(name)))
}
