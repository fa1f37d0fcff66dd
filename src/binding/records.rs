//! What crosses back to JavaScript, as JSON text: the JS layer parses it in the caller's realm
//! (so its objects, and the `Date`s it builds from the epoch milliseconds here, are the
//! caller's) and wraps records in the exported class. Never a plaintext key.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::budget::{BudgetEvent, BudgetStatus, PeriodStatus};
use crate::model::{KeyRecord, Usage};

fn millis(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

fn text<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail (string keys, finite numbers or null).
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageOut {
    daily_use: f64,
    monthly_use: f64,
    total_use: f64,
}

impl From<Usage> for UsageOut {
    fn from(u: Usage) -> Self {
        UsageOut {
            daily_use: u.daily_use,
            monthly_use: u.monthly_use,
            total_use: u.total_use,
        }
    }
}

/// The documented snake_case attributes; timestamps as epoch milliseconds.
#[derive(Serialize)]
struct RecordOut<'a> {
    id: i64,
    group_id: i64,
    user_id: i64,
    ai_model_id: Option<i64>,
    external_api_id: Option<i64>,
    encrypted_api_key: &'a str,
    encrypted_aes_key: &'a str,
    configuration: &'a Value,
    usage: UsageOut,
    created_at: Option<i64>,
    updated_at: Option<i64>,
    last_used_at: Option<i64>,
    is_active: bool,
}

impl<'a> From<&'a KeyRecord> for RecordOut<'a> {
    fn from(r: &'a KeyRecord) -> Self {
        RecordOut {
            id: r.id,
            group_id: r.group_id,
            user_id: r.user_id,
            ai_model_id: r.ai_model_id,
            external_api_id: r.external_api_id,
            encrypted_api_key: &r.encrypted_api_key,
            encrypted_aes_key: &r.encrypted_aes_key,
            configuration: &r.configuration,
            usage: r.usage.into(),
            created_at: millis(r.created_at),
            updated_at: millis(r.updated_at),
            last_used_at: millis(r.last_used_at),
            is_active: r.is_active,
        }
    }
}

pub fn record(r: &KeyRecord) -> String {
    text(&RecordOut::from(r))
}

pub fn records(rs: &[KeyRecord]) -> String {
    text(&rs.iter().map(RecordOut::from).collect::<Vec<_>>())
}

pub fn usage(u: Usage) -> String {
    text(&UsageOut::from(u))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeriodOut {
    used: f64,
    limit: Option<f64>,
    remaining: Option<f64>,
    period_start: Option<i64>,
}

impl From<PeriodStatus> for PeriodOut {
    fn from(p: PeriodStatus) -> Self {
        PeriodOut {
            used: p.used,
            limit: p.limit,
            remaining: p.remaining,
            period_start: millis(p.period_start),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusOut {
    id: i64,
    is_active: bool,
    enforced: bool,
    daily: PeriodOut,
    monthly: PeriodOut,
    total: PeriodOut,
}

pub fn status(s: BudgetStatus) -> String {
    text(&StatusOut {
        id: s.id,
        is_active: s.is_active,
        enforced: s.enforced,
        daily: s.daily.into(),
        monthly: s.monthly.into(),
        total: s.total.into(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventOut {
    key_id: i64,
    group_id: i64,
    ai_model_id: Option<i64>,
    external_api_id: Option<i64>,
    kind: &'static str,
    used: f64,
    limit: f64,
    period_start: Option<i64>,
}

/// The events of one call, or `None` when there are none (the common case costs nothing).
pub fn events(es: &[BudgetEvent]) -> Option<String> {
    if es.is_empty() {
        return None;
    }
    Some(text(
        &es.iter()
            .map(|e| EventOut {
                key_id: e.key_id,
                group_id: e.group_id,
                ai_model_id: e.ai_model_id,
                external_api_id: e.external_api_id,
                kind: e.kind.as_str(),
                used: e.used,
                limit: e.limit,
                period_start: millis(e.period_start),
            })
            .collect::<Vec<_>>(),
    ))
}
