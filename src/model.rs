//! Plain data of the store and the validation of everything that comes from outside.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};

/// Largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
/// The id columns are PostgreSQL `INTEGER`.
pub const MAX_INT4: i64 = i32::MAX as i64;

/// A filter on a nullable id column, as Sequelize read `where`: absent (or `undefined`) adds
/// no filter, `null` is `IS NULL`, a number is equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdFilter {
    #[default]
    Any,
    Null,
    Eq(i64),
}

/// A filter on `is_active`. A NULL `is_active` (legal in PolicySynth's migration) counts as
/// active, the column's default; `null` in the options selects exactly those rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ActiveFilter {
    #[default]
    Any,
    Null,
    Is(bool),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KeyFilter {
    pub ai_model_id: IdFilter,
    pub external_api_id: IdFilter,
    pub is_active: ActiveFilter,
}

/// The documented usage counters. Counters missing from a stored row read as 0.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub daily_use: f64,
    pub monthly_use: f64,
    pub total_use: f64,
}

impl Usage {
    pub fn from_json(text: &str) -> Usage {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let n = |k: &str| match v.get(k) {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) => s.parse().unwrap_or(0.0),
            _ => 0.0,
        };
        Usage {
            daily_use: n("dailyUse"),
            monthly_use: n("monthlyUse"),
            total_use: n("totalUse"),
        }
    }
}

/// A timestamp as epoch milliseconds, the form every result crosses to JavaScript in (the JS
/// entry builds the caller realm's `Date` from it).
pub fn epoch_millis<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    t.map(|t| t.timestamp_millis()).serialize(s)
}

/// One row of `ps_private_access_store`, never with plaintext. Serialized with the documented
/// snake_case attribute names (the record's shape in JavaScript).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    pub id: i64,
    pub group_id: i64,
    pub user_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
    pub configuration: Value,
    pub usage: Usage,
    #[serde(serialize_with = "epoch_millis")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "epoch_millis")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "epoch_millis")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub is_active: bool,
}

/// A validated new row.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub group_id: i64,
    pub user_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
    pub configuration: Value,
}

/// The row the increment picked, with what is needed to open it or to undo the increment.
#[derive(Debug, Clone)]
pub struct Picked {
    pub id: i64,
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
    /// The day and month (configured timezone) the amount was counted in: an undo takes it
    /// off those counters only while they still count that day and month.
    pub day: String,
    pub month: String,
}

/// A text that PostgreSQL stores: no NUL character (U+0000), which its `text` type cannot
/// hold (SQLite's can), so that both backends answer alike.
pub fn no_nul(name: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        Err(Error::invalid_argument(format!(
            "{name} must not contain a NUL character (U+0000)"
        )))
    } else {
        Ok(())
    }
}

/// An id: a safe non-negative integer.
pub fn id(name: &str, value: f64) -> Result<i64> {
    if value.is_finite() && value.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&value) {
        Ok(value as i64)
    } else {
        Err(Error::invalid_argument(format!(
            "{name} must be a non-negative safe integer"
        )))
    }
}

/// An id that is written to an `INTEGER` column.
pub fn stored_id(name: &str, value: f64) -> Result<i64> {
    let v = id(name, value)?;
    if v > MAX_INT4 {
        return Err(Error::invalid_argument(format!(
            "{name} must be at most {MAX_INT4} (an INTEGER column)"
        )));
    }
    Ok(v)
}

/// The largest amount one call may count: 10^15. Every counter then stays far inside the
/// range PostgreSQL's `float8` and Rust's `f64` read back (about 1.8 × 10^308; a counter
/// would need 10^293 calls at the cap to leave it), and whole amounts below 2^53 ≈ 9 × 10^15
/// add exactly.
pub const MAX_AMOUNT: f64 = 1e15;

/// `incrementAmount`: finite, not negative (`PSPAS_INVALID_ARGUMENT`) and at most
/// [`MAX_AMOUNT`] (`PSPAS_INVALID_AMOUNT`).
pub fn amount(value: f64) -> Result<f64> {
    amount_named("incrementAmount", value)
}

/// An amount argument named `name` (`incrementAmount`, `estimate`, `actualAmount`): the rule
/// of [`amount`].
pub fn amount_named(name: &str, value: f64) -> Result<f64> {
    if !(value.is_finite() && value >= 0.0) {
        Err(Error::invalid_argument(format!(
            "{name} must be a finite number >= 0"
        )))
    } else if value > MAX_AMOUNT {
        Err(Error::InvalidAmount(format!(
            "{name} must be at most 1e15 (the cap on one call's amount)"
        )))
    } else {
        Ok(value)
    }
}

/// The longest a reservation may be held: 30 days (`ttlMs` beyond it is
/// `PSPAS_INVALID_ARGUMENT`). A hold pins budget until it expires; a longer one is a leak.
pub const MAX_TTL_MS: f64 = 30.0 * 24.0 * 3600.0 * 1000.0;

/// `ttlMs`: a whole number of milliseconds, at least 1 and at most [`MAX_TTL_MS`].
pub fn ttl_ms(value: f64) -> Result<std::time::Duration> {
    if value.fract() == 0.0 && (1.0..=MAX_TTL_MS).contains(&value) {
        Ok(std::time::Duration::from_millis(value as u64))
    } else {
        Err(Error::invalid_argument(
            "ttlMs must be a whole number of milliseconds from 1 to 2592000000 (30 days)",
        ))
    }
}

/// A reservation id as issued by `reserveUsageAndGetApiKey`: `rsv_` and 32 hex digits. Any
/// other non-empty string of at most 64 characters is accepted as an id that was never issued
/// (so that asking about it says so); anything else is `PSPAS_INVALID_ARGUMENT`.
pub fn reservation_id(value: String) -> Result<String> {
    no_nul("reservationId", &value)?;
    let n = value.chars().count();
    if (1..=64).contains(&n) {
        Ok(value)
    } else {
        Err(Error::invalid_argument(
            "reservationId must be a non-empty string of at most 64 characters",
        ))
    }
}

/// A fresh reservation id: `rsv_` and 128 random bits in hex.
pub fn new_reservation_id() -> String {
    let bits: u128 = rand::random();
    format!("rsv_{bits:032x}")
}

/// A `requestId`: a non-empty string of at most 255 characters (scoped to its group).
pub fn request_id(value: String) -> Result<String> {
    no_nul("requestId", &value)?;
    let n = value.chars().count();
    if (1..=255).contains(&n) {
        Ok(value)
    } else {
        Err(Error::invalid_argument(
            "requestId must be a non-empty string of at most 255 characters",
        ))
    }
}

/// A call made with a `requestId`: the id, and the fingerprint of what it asked for (its
/// amount and filter): a repeat must ask for the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub fingerprint: String,
}

impl Request {
    pub fn new(id: String, amount: f64, filter: &KeyFilter) -> Request {
        let side = |f: IdFilter| match f {
            IdFilter::Any => "any".to_owned(),
            IdFilter::Null => "null".to_owned(),
            IdFilter::Eq(n) => n.to_string(),
        };
        Request {
            id,
            fingerprint: format!(
                "amount={amount:?};model={};api={}",
                side(filter.ai_model_id),
                side(filter.external_api_id)
            ),
        }
    }
}

/// The configuration is stored as given (including the documented `maxBudget.petMonth`
/// spelling), after checking its shape: a plain object; `maxBudget` and
/// `emailNotificationBudgetThresholds`, where present, objects whose documented fields are
/// missing, `null` or finite numbers >= 0.
/// Whether any string (or object key) in `value` holds a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(t) => t.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

pub fn configuration(value: &Value) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidConfiguration(m));
    let Value::Object(map) = value else {
        return bad("configuration must be an object".into());
    };
    // PostgreSQL's jsonb cannot hold a NUL character in a string (SQLite's text can).
    if has_nul(value) {
        return bad("configuration must not contain a NUL character (U+0000) in a string".into());
    }
    for (section, fields) in [
        ("maxBudget", &["perDay", "petMonth", "total"][..]),
        (
            "emailNotificationBudgetThresholds",
            &["daily", "monthly"][..],
        ),
    ] {
        match map.get(section) {
            None | Some(Value::Null) => {}
            Some(Value::Object(inner)) => {
                for f in fields {
                    match inner.get(*f) {
                        None | Some(Value::Null) => {}
                        Some(Value::Number(n))
                            if n.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0) => {}
                        Some(_) => {
                            return bad(format!("{section}.{f} must be a number >= 0 or null"))
                        }
                    }
                }
            }
            Some(_) => return bad(format!("{section} must be an object")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_safe_non_negative_integers() {
        assert_eq!(id("groupId", 0.0).unwrap(), 0);
        assert_eq!(
            id("groupId", 9_007_199_254_740_991.0).unwrap(),
            9_007_199_254_740_991
        );
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, 9_007_199_254_740_992.0] {
            let e = id("groupId", bad).unwrap_err();
            assert_eq!(
                e.coded_message(),
                "PSPAS_INVALID_ARGUMENT: groupId must be a non-negative safe integer"
            );
        }
        assert!(stored_id("userId", 2_147_483_648.0).is_err());
    }

    #[test]
    fn amounts() {
        assert_eq!(amount(0.0).unwrap(), 0.0);
        assert_eq!(amount(2.5).unwrap(), 2.5);
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            assert_eq!(amount(bad).unwrap_err().code(), "PSPAS_INVALID_ARGUMENT");
        }
    }

    #[test]
    fn configuration_shape() {
        configuration(
            &json!({"maxBudget": {"perDay": 1000, "petMonth": 20000, "total": 100000},
            "emailNotificationBudgetThresholds": {"daily": 0.8, "monthly": 0.9}}),
        )
        .unwrap();
        configuration(&json!({})).unwrap();
        configuration(&json!({"maxBudget": {"perDay": null}})).unwrap();
        let e = configuration(&json!({"maxBudget": {"perDay": -1}})).unwrap_err();
        assert_eq!(
            e.coded_message(),
            "PSPAS_INVALID_CONFIGURATION: Invalid configuration: maxBudget.perDay must be a number >= 0 or null"
        );
        assert!(configuration(&json!({"maxBudget": {"total": "10"}})).is_err());
        assert!(configuration(&json!({"maxBudget": 5})).is_err());
        assert!(configuration(&json!([1])).is_err());
        assert!(configuration(&json!(null)).is_err());
    }

    #[test]
    fn usage_tolerates_partial_json() {
        assert_eq!(
            Usage::from_json(r#"{"totalUse": 3}"#),
            Usage {
                daily_use: 0.0,
                monthly_use: 0.0,
                total_use: 3.0
            }
        );
        assert_eq!(Usage::from_json("{}"), Usage::default());
    }
}

/// The bounds on inputs, each refused with `PSPAS_TOO_LARGE` before any work on it (so a
/// huge value cannot hold the JS thread or the database): an API key far longer than any
/// provider issues, the ciphertexts such a key seals to, an RSA-wrapped data key of up to
/// 16384-bit RSA, and a budget configuration.
pub mod bounds {
    use crate::error::{Error, Result};

    /// `encryptApiKey(apiKey)`: bytes of UTF-8.
    pub const API_KEY_BYTES: usize = 8 * 1024;
    /// `encryptedApiKey`: `iv:tag:ciphertext` in hex of an API key of [`API_KEY_BYTES`].
    pub const ENCRYPTED_API_KEY_CHARS: usize = 2 * (16 + 16 + API_KEY_BYTES) + 2;
    /// `encryptedAesKey`: base64 of a 16384-bit RSA ciphertext.
    pub const ENCRYPTED_AES_KEY_CHARS: usize = 2_732;
    /// `configuration`: bytes of its JSON text.
    pub const CONFIGURATION_BYTES: usize = 64 * 1024;

    /// `Ok` when `len` is within `max`, else `PSPAS_TOO_LARGE` naming `what`.
    pub fn check(what: &'static str, len: usize, max: usize, unit: &'static str) -> Result<()> {
        if len <= max {
            Ok(())
        } else {
            Err(Error::TooLarge { what, max, unit })
        }
    }

    pub fn api_key(value: &str) -> Result<()> {
        check("apiKey", value.len(), API_KEY_BYTES, "bytes")
    }
    pub fn encrypted_api_key(value: &str) -> Result<()> {
        check(
            "encryptedApiKey",
            value.len(),
            ENCRYPTED_API_KEY_CHARS,
            "characters",
        )
    }
    /// Counted without the `g1:` of a group-bound key.
    pub fn encrypted_aes_key(value: &str) -> Result<()> {
        let base64 = value
            .strip_prefix(crate::envelope::GROUP_BOUND_PREFIX)
            .unwrap_or(value);
        check(
            "encryptedAesKey",
            base64.len(),
            ENCRYPTED_AES_KEY_CHARS,
            "characters",
        )
    }
    pub fn configuration_json(value: &str) -> Result<()> {
        check(
            "configuration",
            value.len(),
            CONFIGURATION_BYTES,
            "bytes of JSON",
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn each_bound_admits_its_maximum_and_refuses_one_more() {
            for (f, max) in [
                (api_key as fn(&str) -> Result<()>, API_KEY_BYTES),
                (encrypted_api_key, ENCRYPTED_API_KEY_CHARS),
                (encrypted_aes_key, ENCRYPTED_AES_KEY_CHARS),
                (configuration_json, CONFIGURATION_BYTES),
            ] {
                assert!(f(&"a".repeat(max)).is_ok());
                let e = f(&"a".repeat(max + 1)).unwrap_err();
                assert_eq!(e.code(), "PSPAS_TOO_LARGE");
            }
            assert_eq!(
                api_key(&"k".repeat(API_KEY_BYTES + 1))
                    .unwrap_err()
                    .to_string(),
                "apiKey is too large: at most 8192 bytes"
            );
        }
    }
}
