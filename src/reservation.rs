//! Reservations: spend known only after the call. `reserveUsageAndGetApiKey` admits a call for
//! an `estimate` and places a hold (see [`crate::budget::Holds`]) instead of counting;
//! `settleUsage` charges the actual amount and removes the hold; `releaseUsage` removes it
//! without charging. A hold stops counting at its `expiresAt`, so a crashed holder never pins
//! a budget; settling it later still charges (real spend is never dropped).
//!
//! Both backends run the same steps here on the rows they lock: the reservation's row in
//! `ps_private_access_holds` first, then its key's row.
//!
//! - `settle` of a held (or expired, or released) reservation charges the actual amount on the
//!   key like an increment (a counter of an ended period restarts; thresholds and, when
//!   enforced, the limits the charge goes over fire their events once per period), even above
//!   the estimate or the limit; `overrun` is what it charged beyond the estimate. A second
//!   settle charges nothing and returns the first one's result (`alreadySettled`).
//! - `release` of a held reservation drops its hold: `true`; of a settled or released one, or
//!   an id never issued: `false`. (A released reservation can still be settled: the spend it
//!   stood for happened after all, and real spend is never dropped.)

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::budget::{self, BudgetEvent, Candidate, Dec, Period};
use crate::error::{Error, Result};
use crate::model::Picked;

/// A reservation placed: the hold's id, the key it holds on and what it holds.
#[derive(Debug, Clone)]
pub struct Hold {
    pub reservation_id: String,
    pub picked: Picked,
    /// The estimate held (as the budget rules count it).
    pub amount: f64,
    pub expires_at: DateTime<Utc>,
}

impl Hold {
    /// What the caller is told of it (serialized as `reserveUsageAndGetApiKey`'s result,
    /// without the key).
    pub fn view(&self) -> Reservation {
        Reservation {
            reservation_id: self.reservation_id.clone(),
            key_id: self.picked.id,
            amount: self.amount,
            expires_at: Some(self.expires_at),
        }
    }
}

/// A reservation as the caller sees it (`expiresAt` in epoch ms; the JS layer makes a `Date`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub reservation_id: String,
    pub key_id: i64,
    pub amount: f64,
    #[serde(serialize_with = "crate::model::epoch_millis")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The outcome of one reserve: the hold (`None`: no key had room), the budget events of the
/// keys that refused it, and whether it was a repeat of a `requestId` (nothing new held).
#[derive(Debug, Default)]
pub struct Reserve {
    pub hold: Option<Hold>,
    pub events: Vec<BudgetEvent>,
    pub replayed: bool,
}

/// What a settle did (serialized as `settleUsage`'s result).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub reservation_id: String,
    pub key_id: i64,
    /// The amount charged (the actual amount, as the budget rules count it).
    pub charged: f64,
    /// What was charged beyond the estimate (0 when within it).
    pub overrun: f64,
    /// A repeat: nothing was charged now; the first settle's result.
    pub already_settled: bool,
}

/// A settle's result and the budget events its charge fired.
#[derive(Debug)]
pub struct Settled {
    pub settlement: Settlement,
    pub events: Vec<BudgetEvent>,
}

/// What settling or releasing a reservation came to.
#[derive(Debug)]
pub enum Finished {
    /// No such reservation (never issued, pruned, or its key was deleted).
    Unknown,
    /// Settled now, or before (`already_settled`).
    Settled(Settled),
    /// Released: `true` when a held reservation's hold was dropped now.
    Released(bool),
}

impl Finished {
    /// The outcome of `step` once written.
    pub fn of(step: Step) -> Finished {
        match step {
            Step::Nothing(Some(settlement)) => Finished::Settled(Settled {
                settlement,
                events: Vec::new(),
            }),
            Step::Nothing(None) => Finished::Released(false),
            Step::Write {
                settled: Some(settled),
                ..
            } => Finished::Settled(settled),
            Step::Write { settled: None, .. } => Finished::Released(true),
        }
    }
}

/// The states of a reservation's row.
pub const HELD: &str = "held";
pub const SETTLED: &str = "settled";
pub const RELEASED: &str = "released";

/// A reservation's row as read under its lock (amounts as decimal text).
#[derive(Debug, Clone)]
pub struct HoldRow {
    pub reservation_id: String,
    pub key_id: i64,
    pub amount: String,
    pub state: String,
    pub charged: Option<String>,
    pub overrun: Option<String>,
}

/// What to write after reading a reservation and its key under their locks.
#[derive(Debug)]
pub enum Step {
    /// Nothing to write: settled before (its result), or nothing to release.
    Nothing(Option<Settlement>),
    /// Write the key's usage and the reservation's new state.
    Write {
        usage: serde_json::Value,
        state: &'static str,
        charged: Option<String>,
        overrun: Option<String>,
        settled: Option<Settled>,
    },
}

fn decimal(text: &str) -> Dec {
    text.parse::<Dec>().unwrap_or_default()
}

/// The step for settling (`actual` set) or releasing (`None`) the reservation `hold` of key
/// `key`, in `period` at `now_ms`. A charge on counters that cannot be read (a hand edit) is
/// `PSPAS_UNREADABLE_USAGE`: nothing is written, the spend is not lost, the settle can be
/// repeated once the row is mended.
pub fn step(
    hold: &HoldRow,
    key: &Candidate,
    actual: Option<f64>,
    period: &Period,
    enforce: bool,
    now_ms: i64,
) -> Result<Step> {
    if actual.is_some()
        && hold.state != SETTLED
        && !budget::Counters::of(&key.usage, period).readable()
    {
        return Err(Error::UnreadableUsage(key.id));
    }
    Ok(match (actual, hold.state.as_str()) {
        (Some(_), SETTLED) => {
            let charged = decimal(hold.charged.as_deref().unwrap_or("0"));
            let overrun = decimal(hold.overrun.as_deref().unwrap_or("0"));
            Step::Nothing(Some(Settlement {
                reservation_id: hold.reservation_id.clone(),
                key_id: hold.key_id,
                charged: budget::to_f64(&charged),
                overrun: budget::to_f64(&overrun),
                already_settled: true,
            }))
        }
        (None, state) if state != HELD => Step::Nothing(None),
        (Some(actual), _) => {
            let s = budget::settle(
                key,
                &hold.reservation_id,
                Some(actual),
                period,
                enforce,
                now_ms,
            );
            let charged = budget::amount_decimal(actual);
            let overrun = (&charged - decimal(&hold.amount)).max(Dec::from(0));
            Step::Write {
                usage: s.usage,
                state: SETTLED,
                charged: Some(charged.normalized().to_string()),
                overrun: Some(overrun.normalized().to_string()),
                settled: Some(Settled {
                    settlement: Settlement {
                        reservation_id: hold.reservation_id.clone(),
                        key_id: hold.key_id,
                        charged: budget::to_f64(&charged),
                        overrun: budget::to_f64(&overrun),
                        already_settled: false,
                    },
                    events: s.events,
                }),
            }
        }
        (None, _) => {
            let s = budget::settle(key, &hold.reservation_id, None, period, enforce, now_ms);
            Step::Write {
                usage: s.usage,
                state: RELEASED,
                charged: None,
                overrun: None,
                settled: None,
            }
        }
    })
}
