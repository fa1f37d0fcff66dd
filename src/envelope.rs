//! # The envelope format
//!
//! Byte-for-byte the format of PolicySynth's Sequelize `PsPrivateAccessStore`, so existing rows
//! keep working and either side can open what the other sealed.
//!
//! Sealing an API key (UTF-8 text, non-empty):
//! 1. a fresh random 32-byte AES key and a fresh random **16-byte** IV;
//! 2. AES-256-GCM over the UTF-8 bytes, no associated data, 16-byte tag;
//! 3. the AES key wrapped with RSA-OAEP, SHA-256 for both the OAEP hash and MGF1, empty label.
//!
//! Stored as two strings:
//! - `encrypted_api_key` = `hex(iv) ":" hex(tag) ":" hex(ciphertext)`, lowercase hex;
//! - `encrypted_aes_key` = standard base64, with padding, of the RSA ciphertext.
//!
//! Opening accepts uppercase hex and a 12-byte IV as well (both decode in Node), but only a
//! full 16-byte tag: Node would verify a truncated tag, which weakens authentication, so a
//! shorter one is rejected as `Invalid encrypted key format`. A wrong key, a tampered or a
//! foreign ciphertext is `PSPAS_DECRYPT_FAILED`, one error for all so it is no oracle.
//!
//! ## Group-bound keys (opt-in, `groupBinding`)
//!
//! A bound row differs in its wrapped data key only: the AES key is wrapped with the OAEP
//! label `policysynth-private-access-store/group/<groupId>` (the group's id in decimal), and
//! the stored string is `g1:` followed by the base64 of that RSA ciphertext. The API-key
//! ciphertext is the same, so binding (or rotating) a row rewraps only its data key. OAEP
//! authenticates the label: a bound pair copied into another group, or stripped of its `g1:`
//! to pass as unbound, does not unwrap (`PSPAS_DECRYPT_FAILED`). The prefix only says which
//! label to use, so an unbound row costs no trial decryption. Without a group (the static
//! `decryptApiKey`) a bound pair is `PSPAS_GROUP_BOUND`. The original model, which knows no
//! label, cannot open bound rows.
//!
//! The golden vectors in `tests/fixtures/golden.json` were made with Node's own `crypto`
//! (`scripts/make-golden.mjs`) and pin this format in `cargo test` and in jest.

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::rsa_keys::{RsaPrivate, RsaPublic};
use crate::secret::{AesKey, SecretString};

pub const IV_LEN: usize = 16;
pub const TAG_LEN: usize = 16;

/// The two stored strings of a sealed API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
}

/// The parsed `iv:tag:ciphertext` triple.
pub struct Ciphertext {
    iv: Vec<u8>,
    tag: [u8; TAG_LEN],
    body: Vec<u8>,
}

/// Non-empty, even length, only hex digits (either case).
pub fn is_valid_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Canonical standard base64: decoding and re-encoding gives the same string (the original's
/// test). The empty string passes this test, as in the original.
pub fn is_valid_base64(s: &str) -> bool {
    match STANDARD.decode(s) {
        Ok(bytes) => STANDARD.encode(bytes) == s,
        Err(_) => false,
    }
}

/// The original's format check: exactly three `:`-separated parts, each non-empty hex (any
/// length). Whether the parts can be opened is decided only when opening.
pub fn is_valid_encrypted_format(s: &str) -> bool {
    let mut n = 0;
    s.split(':').all(|part| {
        n += 1;
        is_valid_hex(part)
    }) && n == 3
}

/// Parse `iv:tag:ciphertext`; any deviation is `InvalidFormat`.
pub fn parse_encrypted_api_key(s: &str) -> Result<Ciphertext> {
    crate::model::bounds::encrypted_api_key(s)?;
    let mut parts = s.split(':');
    let (Some(iv), Some(tag), Some(body), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::InvalidFormat);
    };
    let even = |p: &str| is_valid_hex(p) && p.len().is_multiple_of(2);
    if !(even(iv) && even(tag) && even(body)) {
        return Err(Error::InvalidFormat);
    }
    let iv = hex::decode(iv).map_err(|_| Error::InvalidFormat)?;
    let tag: [u8; TAG_LEN] = hex::decode(tag)
        .map_err(|_| Error::InvalidFormat)?
        .try_into()
        .map_err(|_| Error::InvalidFormat)?;
    if iv.len() != IV_LEN && iv.len() != 12 {
        return Err(Error::InvalidFormat);
    }
    let body = hex::decode(body).map_err(|_| Error::InvalidFormat)?;
    Ok(Ciphertext { iv, tag, body })
}

/// The marker of a wrapped data key bound to its group (see the module doc).
pub const GROUP_BOUND_PREFIX: &str = "g1:";

/// The OAEP label binding a data key to group `group_id`.
pub fn group_label(group_id: i64) -> Vec<u8> {
    format!("policysynth-private-access-store/group/{group_id}").into_bytes()
}

/// Whether a stored `encrypted_aes_key` is bound to its group.
pub fn is_group_bound(encrypted_aes_key: &str) -> bool {
    encrypted_aes_key.starts_with(GROUP_BOUND_PREFIX)
}

/// Decode the wrapped AES key (bound or not): canonical, non-empty base64.
pub fn decode_encrypted_aes_key(s: &str) -> Result<Vec<u8>> {
    crate::model::bounds::encrypted_aes_key(s)?;
    let s = s.strip_prefix(GROUP_BOUND_PREFIX).unwrap_or(s);
    if s.is_empty() || !is_valid_base64(s) {
        return Err(Error::InvalidFormat);
    }
    STANDARD.decode(s).map_err(|_| Error::InvalidFormat)
}

/// What `addPreEncryptedKey` accepts: exactly the original's format-only check (three
/// non-empty hex parts, canonical base64 — the empty string included). A pair that passes but
/// can never be opened (PolicySynth's own unit test stores `"aa:bb:cc"` with `"AQIDBA=="`) is
/// stored, and fails when a call tries to open it, counting nothing.
pub fn validate_sealed(encrypted_api_key: &str, encrypted_aes_key: &str) -> Result<()> {
    crate::model::bounds::encrypted_api_key(encrypted_api_key)?;
    crate::model::bounds::encrypted_aes_key(encrypted_aes_key)?;
    let wrapped_ok = match encrypted_aes_key.strip_prefix(GROUP_BOUND_PREFIX) {
        // A bound key is new in this package: it must be a real, non-empty wrapping.
        Some(b64) => !b64.is_empty() && is_valid_base64(b64),
        None => is_valid_base64(encrypted_aes_key),
    };
    if is_valid_encrypted_format(encrypted_api_key) && wrapped_ok {
        Ok(())
    } else {
        Err(Error::InvalidFormat)
    }
}

/// Whether a pair that passed [`validate_sealed`] has the shape of a real envelope (a 12- or
/// 16-byte IV, a 16-byte tag, a wrapped key of at least 64 bytes): only such a pair can ever
/// be opened, so only such a pair is refused as a copy of a stored one (junk pairs the
/// original accepts, such as PolicySynth's own `"aa:bb:cc"` / `"AQIDBA=="`, may repeat).
pub fn is_envelope_shaped(encrypted_api_key: &str, encrypted_aes_key: &str) -> bool {
    parse_encrypted_api_key(encrypted_api_key).is_ok()
        && decode_encrypted_aes_key(encrypted_aes_key).is_ok_and(|w| w.len() >= 64)
}

type Gcm16 = AesGcm<Aes256, U16>;
type Gcm12 = AesGcm<Aes256, U12>;

/// Seal an API key with a fresh AES key wrapped by `public`, bound to `group` when given.
pub fn seal(public: &RsaPublic, api_key: &str, group: Option<i64>) -> Result<SealedKey> {
    if api_key.is_empty() {
        return Err(Error::EmptyApiKey);
    }
    crate::model::bounds::api_key(api_key)?;
    let key = AesKey::random();
    let mut iv = [0u8; IV_LEN];
    rand::fill(&mut iv);
    let mut buf = Zeroizing::new(api_key.as_bytes().to_vec());
    let nonce: Nonce<U16> = iv.into();
    let tag = Gcm16::new(key.expose().into())
        .encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into())
        .map_err(|_| Error::Internal("AES-GCM encryption failed".into()))?;
    let encrypted_aes_key = wrap_aes_key(public, &key, group)?;
    Ok(SealedKey {
        encrypted_api_key: format!(
            "{}:{}:{}",
            hex::encode(iv),
            hex::encode(tag),
            hex::encode(&buf[..])
        ),
        encrypted_aes_key,
    })
}

/// Wrap an AES data key with the RSA public key (the stored `encrypted_aes_key`), bound to
/// `group` when given.
pub fn wrap_aes_key(public: &RsaPublic, key: &AesKey, group: Option<i64>) -> Result<String> {
    Ok(match group {
        None => STANDARD.encode(public.encrypt_oaep_sha256(key.expose(), None)?),
        Some(g) => format!(
            "{GROUP_BOUND_PREFIX}{}",
            STANDARD.encode(public.encrypt_oaep_sha256(key.expose(), Some(&group_label(g)))?)
        ),
    })
}

/// Unwrap the AES data key with the RSA private key. A bound key opens only with the group it
/// is bound to (`group`, the group of the row or call); without one it is
/// [`Error::GroupBound`]. An unbound key opens whatever `group` is.
pub fn unwrap_aes_key(
    private: &RsaPrivate,
    encrypted_aes_key: &str,
    group: Option<i64>,
) -> Result<AesKey> {
    let wrapped = decode_encrypted_aes_key(encrypted_aes_key)?;
    let label = match (is_group_bound(encrypted_aes_key), group) {
        (false, _) => None,
        (true, Some(g)) => Some(group_label(g)),
        (true, None) => return Err(Error::GroupBound),
    };
    let raw = private.decrypt_oaep_sha256(&wrapped, label.as_deref())?;
    AesKey::from_slice(&raw).ok_or(Error::DecryptFailed)
}

/// Open the API key ciphertext with an unwrapped AES key.
pub fn open_with_key(key: &AesKey, ct: &Ciphertext) -> Result<SecretString> {
    let mut buf = ct.body.clone();
    let tag: Tag = ct.tag.into();
    let ok = if ct.iv.len() == IV_LEN {
        let nonce: Nonce<U16> = <[u8; 16]>::try_from(&ct.iv[..])
            .map_err(|_| Error::InvalidFormat)?
            .into();
        Gcm16::new(key.expose().into()).decrypt_inout_detached(
            &nonce,
            b"",
            buf.as_mut_slice().into(),
            &tag,
        )
    } else {
        let nonce: Nonce<U12> = <[u8; 12]>::try_from(&ct.iv[..])
            .map_err(|_| Error::InvalidFormat)?
            .into();
        Gcm12::new(key.expose().into()).decrypt_inout_detached(
            &nonce,
            b"",
            buf.as_mut_slice().into(),
            &tag,
        )
    };
    if ok.is_err() {
        buf.zeroize();
        return Err(Error::DecryptFailed);
    }
    String::from_utf8(buf).map(SecretString::new).map_err(|e| {
        e.into_bytes().zeroize();
        Error::DecryptFailed
    })
}

/// Open a sealed API key of `group` (`None`: unbound keys only): unwrap the AES key, then
/// decrypt.
pub fn open(
    private: &RsaPrivate,
    encrypted_api_key: &str,
    encrypted_aes_key: &str,
    group: Option<i64>,
) -> Result<SecretString> {
    let ct = parse_encrypted_api_key(encrypted_api_key)?;
    let key = unwrap_aes_key(private, encrypted_aes_key, group)?;
    open_with_key(&key, &ct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_validation() {
        assert!(is_valid_hex("00ff"));
        assert!(is_valid_hex("00FF"));
        assert!(!is_valid_hex(""));
        assert!(
            is_valid_hex("abc"),
            "the original's regex accepts odd lengths"
        );
        assert!(!is_valid_hex("-1"));
        assert!(!is_valid_hex("zz"));
        assert!(is_valid_base64("aGVsbG8="));
        assert!(
            !is_valid_base64("aGVsbG8"),
            "missing padding is not canonical"
        );
        assert!(
            !is_valid_base64("aGVsbG9="),
            "non-zero trailing bits are not canonical"
        );
        assert!(!is_valid_base64("aGVs bG8="));
        assert!(is_valid_base64(""));
        assert!(matches!(
            decode_encrypted_aes_key(""),
            Err(Error::InvalidFormat)
        ));
    }

    #[test]
    fn encrypted_format_rules() {
        let iv = "00".repeat(16);
        let tag = "11".repeat(16);
        // The stored-format check is the original's: three non-empty hex parts, any length.
        assert!(is_valid_encrypted_format(&format!("{iv}:{tag}:abcd")));
        assert!(is_valid_encrypted_format("aa:bb:cc"));
        assert!(is_valid_encrypted_format("a:B:c"));
        assert!(!is_valid_encrypted_format(&format!("{iv}:{tag}:")));
        assert!(!is_valid_encrypted_format(&format!("{iv}:{tag}:abcd:ef")));
        assert!(!is_valid_encrypted_format(&format!("{iv}:{tag}")));
        assert!(!is_valid_encrypted_format("not-hex:at:all"));
        assert!(validate_sealed("aa:bb:cc", "AQIDBA==").is_ok());
        assert!(
            validate_sealed("aa:bb:cc", "").is_ok(),
            "btoa(atob('')) === ''"
        );
        assert!(matches!(
            validate_sealed("aa:bb:cc", "AQIDBA"),
            Err(Error::InvalidFormat)
        ));
        // Opening is strict: full 16-byte tag, 12- or 16-byte IV, whole bytes.
        assert!(parse_encrypted_api_key(&format!("{iv}:{tag}:abcd")).is_ok());
        assert!(parse_encrypted_api_key(&format!("{}:{tag}:ABCD", "00".repeat(12))).is_ok());
        for bad in [
            "aa:bb:cc".to_string(),
            format!("{iv}:{}:abcd", "11".repeat(15)),
            format!("{}:{tag}:abcd", "00".repeat(8)),
            format!("{iv}:{tag}:abc"),
        ] {
            assert!(matches!(
                parse_encrypted_api_key(&bad),
                Err(Error::InvalidFormat)
            ));
        }
    }
}
