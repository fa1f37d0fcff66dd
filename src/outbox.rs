//! The budget event outbox: every budget event, written by the transaction that decides it
//! (the increment and reservation statements, a settle), into `ps_private_access_events`
//! (migrations `postgres/0005`, `sqlite/0004`), once per key, period and kind. Any process
//! consumes it: [`Claim`] leases the oldest pending events to a consumer, an ack marks them
//! done, an event claimed [`Claim::max_attempts`] times without an ack is parked (kept and
//! shown, never dropped) until an operator retries it. Acked events are pruned after
//! [`Claim::retention`]; nothing else is ever pruned. See docs/events.md.
//!
//! Delivery is at least once: a consumer that handles an event and dies before its ack sees it
//! handled again after the lease; two consumers never hold one event's lease at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::budget::{BudgetEvent, Period};
use crate::error::{Error, Result};

/// The most events one claim, list or ack takes.
pub const MAX_BATCH: i64 = 1_000;
/// The most attempts before parking that may be configured.
pub const MAX_ATTEMPTS: i64 = 1_000;

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// Not acked yet (claimable unless leased).
    Pending,
    /// Claimed `max_attempts` times without an ack: kept for an operator.
    Parked,
    /// Handled; pruned after the retention.
    Acked,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Parked => "parked",
            EventState::Acked => "acked",
        }
    }

    /// A state as stored or as an operator names it.
    pub fn parse(text: &str) -> Result<EventState> {
        match text {
            "pending" => Ok(EventState::Pending),
            "parked" => Ok(EventState::Parked),
            "acked" => Ok(EventState::Acked),
            _ => Err(Error::invalid_argument(
                "state must be one of 'pending', 'parked', 'acked'",
            )),
        }
    }
}

/// One budget event as the outbox is written: the event and the period it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub key_id: i64,
    pub group_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    pub kind: &'static str,
    /// The period the event fired in, as in `usage.notified`: 'YYYY-MM-DD', 'YYYY-MM' or
    /// 'total'.
    pub period_key: String,
    pub used: f64,
    pub limit: f64,
    pub period_start: Option<DateTime<Utc>>,
}

impl NewEvent {
    pub fn of(event: &BudgetEvent, period: &Period) -> NewEvent {
        NewEvent {
            key_id: event.key_id,
            group_id: event.group_id,
            ai_model_id: event.ai_model_id,
            external_api_id: event.external_api_id,
            kind: event.kind.as_str(),
            period_key: event.kind.period_key(period),
            used: event.used,
            limit: event.limit,
            period_start: event.period_start,
        }
    }
}

/// An event as a consumer or an operator sees it (serialized for the JS entry, which makes
/// its `Date`s: times are epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    /// The row's id; serialized as a decimal string (a BIGSERIAL may pass 2^53).
    #[serde(serialize_with = "as_decimal_string")]
    pub event_id: i64,
    pub key_id: i64,
    pub group_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    pub kind: String,
    pub used: f64,
    pub limit: f64,
    pub period_start: Option<i64>,
    pub state: EventState,
    /// How many times it has been claimed.
    pub attempts: i64,
    pub consumer: Option<String>,
    pub leased_until: Option<i64>,
    pub created_at: i64,
    pub acked_at: Option<i64>,
}

fn as_decimal_string<S: serde::Serializer>(id: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Claimed events oldest first (an `UPDATE … RETURNING` has no order).
pub fn oldest_first(mut events: Vec<OutboxEvent>) -> Vec<OutboxEvent> {
    events.sort_by_key(|e| e.event_id);
    events
}

/// A claim: who claims, how many events at most, for how long, and the rules it applies on
/// the way (parking, pruning).
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub consumer: String,
    pub limit: i64,
    pub lease: Duration,
    /// An event claimed this many times whose lease ran out without an ack is parked.
    pub max_attempts: i64,
    /// Acked events older than this are pruned.
    pub retention: Duration,
}

/// A consumer's name: a non-empty string of at most 255 characters.
pub fn consumer(value: String) -> Result<String> {
    crate::model::no_nul("consumer", &value)?;
    if (1..=255).contains(&value.chars().count()) {
        Ok(value)
    } else {
        Err(Error::invalid_argument(
            "consumer must be a non-empty string of at most 255 characters",
        ))
    }
}

/// A whole number from 1 to `max`, named for its error.
pub fn count(name: &str, value: f64, max: i64) -> Result<i64> {
    if value.fract() == 0.0 && value >= 1.0 && value <= max as f64 {
        Ok(value as i64)
    } else {
        Err(Error::invalid_argument(format!(
            "{name} must be a whole number from 1 to {max}"
        )))
    }
}

/// An event id as the JS entry hands it over: the decimal string of a positive 64-bit id.
pub fn event_id(value: &str) -> Result<i64> {
    let digits = !value.is_empty()
        && value.len() <= 19
        && value.bytes().all(|b| b.is_ascii_digit())
        && !value.starts_with('0');
    match value.parse::<i64>() {
        Ok(id) if digits => Ok(id),
        _ => Err(Error::invalid_argument(
            "eventId must be the decimal string of an event id (as claimBudgetEvents returns it)",
        )),
    }
}

/// The ids of an ack: at most [`MAX_BATCH`], each an [`event_id`].
pub fn event_ids(values: &[String]) -> Result<Vec<i64>> {
    if values.len() as i64 > MAX_BATCH {
        return Err(Error::invalid_argument(format!(
            "eventIds must hold at most {MAX_BATCH} ids"
        )));
    }
    values.iter().map(|v| event_id(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_positive_decimal_strings() {
        assert_eq!(event_id("1").unwrap(), 1);
        assert_eq!(event_id("9223372036854775807").unwrap(), i64::MAX);
        for bad in [
            "",
            "0",
            "01",
            "-1",
            "1.5",
            " 1",
            "9223372036854775808",
            "abc",
            "1e3",
        ] {
            let e = event_id(bad).unwrap_err();
            assert_eq!(e.code(), "PSPAS_INVALID_ARGUMENT", "{bad:?}");
        }
        assert!(event_ids(&vec!["1".to_owned(); 1_001]).is_err());
        assert_eq!(event_ids(&["2".into(), "3".into()]).unwrap(), vec![2, 3]);
    }

    #[test]
    fn counts_and_consumers() {
        assert_eq!(count("limit", 100.0, MAX_BATCH).unwrap(), 100);
        for bad in [0.0, -1.0, 1.5, 1_001.0, f64::NAN, f64::INFINITY] {
            let e = count("limit", bad, MAX_BATCH).unwrap_err();
            assert_eq!(e.to_string(), "limit must be a whole number from 1 to 1000");
        }
        assert!(consumer(String::new()).is_err());
        assert!(consumer("x".repeat(256)).is_err());
        assert_eq!(consumer("mailer-1".into()).unwrap(), "mailer-1");
        assert_eq!(EventState::parse("parked").unwrap(), EventState::Parked);
        assert!(EventState::parse("done").is_err());
    }
}
