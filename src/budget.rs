//! Budgets: periods, limits, the grant/refuse decision and the events it produces.
//! (Over 400 lines: one rule set — stored values, decimal arithmetic, periods, the decision,
//! events, status, undo — about 560 lines, with its unit tests beside it.)
//!
//! Bookkeeping lives beside the documented counters inside the `usage` JSON, so existing
//! tables need no schema change:
//!
//! ```json
//! {"dailyUse": 12, "monthlyUse": 340, "totalUse": 5000,
//!  "periodDay": "2026-11-24", "periodMonth": "2026-11",
//!  "notified": {"dailyThreshold": "2026-11-24", "monthlyLimit": "2026-11", "totalLimit": "total"}}
//! ```
//!
//! - `dailyUse` counts the current day and `monthlyUse` the current month of the configured
//!   timezone (UTC by default). A counter whose `periodDay` / `periodMonth` is not the current
//!   one reads as 0 and restarts at the next increment (rows written before this bookkeeping
//!   existed have none, so their never-reset counters restart too).
//! - `maxBudget.perDay`, `.petMonth`, `.total`: a missing or `null` limit is no limit; a number
//!   ≥ 0 is a limit. A call is granted only if, after adding its amount, every counter is within
//!   its limit. A refused key counts nothing; the call moves on to the next key.
//! - `notified` records, per event kind, the period for which its event was emitted, which
//!   makes each event exactly-once per key, period and kind.
//!
//! The PostgreSQL backend states these same rules in SQL inside its single increment
//! statement; the SQLite backend runs [`decide`] inside a write transaction. The shared
//! integration tests hold both to the same behaviour.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{epoch_millis, Usage};

/// Validate an IANA timezone name. The error does not repeat the value (a misplaced secret
/// must not end up in a log).
pub fn parse_timezone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::Config("timezone must be an IANA name such as UTC or Europe/Paris".into())
    })
}

/// The current day and month of a timezone, and the instants they started.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub day: String,
    pub month: String,
    pub day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
}

impl Period {
    /// The period containing `now` in `tz`.
    pub fn at(now: DateTime<Utc>, tz: Tz) -> Period {
        let local = now.with_timezone(&tz).date_naive();
        let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local);
        let start = |d: NaiveDate| {
            let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(now)
        };
        Period {
            day: local.format("%Y-%m-%d").to_string(),
            month: local.format("%Y-%m").to_string(),
            day_start: start(local),
            month_start: start(first),
        }
    }
}

/// A stored counter, limit or threshold as the rules read it. The rule is the same on both
/// backends (the PostgreSQL statements state it in `key_budget.sql` and
/// `increment_lean.sql`):
/// - missing or `null`: unset (a counter reads 0, a limit or threshold is none);
/// - a JSON number within the range of a double: that number;
/// - anything else (a string — even `"5"` —, a boolean, an object, an array, a number beyond
///   the range of a double): unreadable. It is never read as 0 or as "no limit": a key with
///   an unreadable counter, or (when enforced) an unreadable limit, refuses every call, and
///   the status reports the field. Only a hand edit of the table can store one:
///   `addPreEncryptedKey` and `setConfiguration` check the configuration, and amounts are
///   capped so that counters stay numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Unset,
    Number(Dec),
    Unreadable,
}

/// The largest magnitude a stored number may have: `f64::MAX` written out
/// (`1.7976931348623157e308`), the constant the PostgreSQL statements compare with. The
/// comparison is on the exact decimal: a number just above it that a double would round down
/// to `f64::MAX` is beyond the range on both backends.
pub const MAX_STORED: &str = "1.7976931348623157e308";

static MAX_STORED_DEC: std::sync::LazyLock<Dec> =
    std::sync::LazyLock::new(|| Dec::from_str(MAX_STORED).unwrap_or_default());

pub fn stored(v: Option<&Value>) -> Stored {
    match v {
        None | Some(Value::Null) => Stored::Unset,
        // The number's own text (serde_json keeps it): exact, as PostgreSQL's numeric reads it.
        // (An exponent beyond what PostgreSQL's numeric holds is unreadable before any
        // comparison, which would otherwise work with that many digits.)
        Some(Value::Number(n)) => match Dec::from_str(&n.to_string()) {
            Ok(d)
                if (-16383..=16383).contains(&d.fractional_digit_count())
                    && d.abs() <= *MAX_STORED_DEC =>
            {
                Stored::Number(d)
            }
            _ => Stored::Unreadable,
        },
        Some(_) => Stored::Unreadable,
    }
}

/// Budget arithmetic is decimal on both backends: exact sums and comparisons, as PostgreSQL's
/// `numeric` does them, so `0.1 + 0.2` fits a limit of `0.3` on SQLite as on PostgreSQL.
pub type Dec = bigdecimal::BigDecimal;

/// An amount as the budget rules count it: the double rounded to 15 significant digits, as
/// PostgreSQL's `float8::numeric` cast (`%.15g`) does in the statements (`0.1` is exactly
/// `0.1`).
pub fn amount_decimal(x: f64) -> Dec {
    Dec::from_str(&format!("{x:.14e}"))
        .map(|d| d.normalized())
        .unwrap_or_default()
}

/// A decimal as a double (the value crossing to JavaScript), correctly rounded.
pub fn to_f64(d: &Dec) -> f64 {
    d.to_string().parse().unwrap_or(f64::NAN)
}

/// A decimal as a JSON number, exact.
pub fn json_number(d: &Dec) -> Value {
    serde_json::Number::from_str(&d.normalized().to_string())
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// What a usage or configuration text that does not parse as JSON reads as (SQLite stores
/// text): every counter, limit and threshold unreadable.
pub fn unreadable_json() -> Value {
    serde_json::json!({
        "dailyUse": "unreadable", "monthlyUse": "unreadable", "totalUse": "unreadable",
        "maxBudget": {"perDay": "unreadable", "petMonth": "unreadable", "total": "unreadable"},
        "emailNotificationBudgetThresholds": {"daily": "unreadable", "monthly": "unreadable"},
    })
}

/// The counters as they stand in `period` (a counter of another period reads 0); `None`: an
/// unreadable counter (see [`Stored`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    pub day: Option<Dec>,
    pub month: Option<Dec>,
    pub total: Option<Dec>,
}

impl Counters {
    pub fn of(usage: &Value, period: &Period) -> Counters {
        let same =
            |key: &str, current: &str| usage.get(key).and_then(Value::as_str) == Some(current);
        let count = |key: &str| match stored(usage.get(key)) {
            Stored::Unset => Some(Dec::from(0)),
            Stored::Number(x) => Some(x),
            Stored::Unreadable => None,
        };
        Counters {
            day: if same("periodDay", &period.day) {
                count("dailyUse")
            } else {
                Some(Dec::from(0))
            },
            month: if same("periodMonth", &period.month) {
                count("monthlyUse")
            } else {
                Some(Dec::from(0))
            },
            total: count("totalUse"),
        }
    }

    pub fn readable(&self) -> bool {
        self.day.is_some() && self.month.is_some() && self.total.is_some()
    }
}

/// The counters as they stand in `period`, as reported (`getUsage`, records): an unreadable
/// counter is NaN, which crosses to JavaScript as `null` (never as 0).
pub fn effective_usage(usage: &Value, period: &Period) -> Usage {
    let c = Counters::of(usage, period);
    let f = |d: Option<Dec>| d.map_or(f64::NAN, |d| to_f64(&d));
    Usage {
        daily_use: f(c.day),
        monthly_use: f(c.month),
        total_use: f(c.total),
    }
}

/// Limits and notification thresholds read from a stored configuration (see [`Stored`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub per_day: Option<Dec>,
    pub per_month: Option<Dec>,
    pub total: Option<Dec>,
    pub daily_threshold: Option<Dec>,
    pub monthly_threshold: Option<Dec>,
    /// The fields that are set but unreadable (`maxBudget.perDay`, …): a limit among them
    /// refuses every call while budgets are enforced; a threshold among them fires nothing.
    pub unreadable: Vec<&'static str>,
}

impl Limits {
    pub fn from_configuration(c: &Value) -> Limits {
        let mut l = Limits::default();
        let b = c.get("maxBudget");
        let t = c.get("emailNotificationBudgetThresholds");
        for (section, field, name, slot) in [
            (b, "perDay", "maxBudget.perDay", &mut l.per_day),
            (b, "petMonth", "maxBudget.petMonth", &mut l.per_month),
            (b, "total", "maxBudget.total", &mut l.total),
            (
                t,
                "daily",
                "emailNotificationBudgetThresholds.daily",
                &mut l.daily_threshold,
            ),
            (
                t,
                "monthly",
                "emailNotificationBudgetThresholds.monthly",
                &mut l.monthly_threshold,
            ),
        ] {
            match stored(section.and_then(|s| s.get(field))) {
                Stored::Unset => {}
                Stored::Number(x) => *slot = Some(x),
                Stored::Unreadable => l.unreadable.push(name),
            }
        }
        l
    }

    /// Whether a limit (not a threshold) is unreadable.
    pub fn limit_unreadable(&self) -> bool {
        self.unreadable.iter().any(|f| f.starts_with("maxBudget."))
    }
}

/// The live holds on a key: `usage.holds`, one entry per reservation,
/// `{"<reservationId>": {"amount": <estimate>, "expiresAt": <epoch ms>}}`. A hold counts against
/// admission in the current day, month and total (it stands for spend that will be charged
/// when it is settled, in the period of the settle) until it is settled, released or expires.
/// Entries whose `expiresAt` has passed are dropped at the key's next write. An entry that is
/// not of that form (a hand edit) makes the holds unreadable: the key refuses, and the status
/// reports `usage.holds`. The PostgreSQL statements state the same rule (`key_budget.sql`).
#[derive(Debug, Clone, PartialEq)]
pub struct Holds {
    /// The sum of the live holds; `None`: unreadable.
    pub reserved: Option<Dec>,
    /// The live entries (expired ones dropped); what a write keeps.
    pub live: serde_json::Map<String, Value>,
}

impl Holds {
    pub fn of(usage: &Value, now_ms: i64) -> Holds {
        let mut out = Holds {
            reserved: Some(Dec::from(0)),
            live: serde_json::Map::new(),
        };
        let entries = match usage.get("holds") {
            None | Some(Value::Null) => return out,
            Some(Value::Object(entries)) => entries,
            Some(_) => {
                out.reserved = None;
                return out;
            }
        };
        let now = Dec::from(now_ms);
        for (id, entry) in entries {
            match (stored(entry.get("amount")), stored(entry.get("expiresAt"))) {
                (Stored::Number(amount), Stored::Number(expires)) => {
                    if expires > now {
                        if let Some(sum) = &mut out.reserved {
                            *sum += amount;
                        }
                        out.live.insert(id.clone(), entry.clone());
                    }
                }
                _ => out.reserved = None,
            }
        }
        out
    }
}

/// `usage` with its holds replaced by `live` (the key removed when none is left, so that the
/// lean statement counts on the key again).
fn set_holds(usage: &mut Value, live: serde_json::Map<String, Value>) {
    if let Value::Object(map) = usage {
        if live.is_empty() {
            map.remove("holds");
        } else {
            map.insert("holds".into(), Value::Object(live));
        }
    }
}

/// A hold to place instead of counting (a reservation).
#[derive(Debug, Clone, PartialEq)]
pub struct NewHold {
    pub reservation_id: String,
    /// When it stops counting, in epoch milliseconds.
    pub expires_at_ms: i64,
}

/// The kinds of budget event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    DailyThreshold,
    MonthlyThreshold,
    DailyLimit,
    MonthlyLimit,
    TotalLimit,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DailyThreshold => "dailyThreshold",
            EventKind::MonthlyThreshold => "monthlyThreshold",
            EventKind::DailyLimit => "dailyLimit",
            EventKind::MonthlyLimit => "monthlyLimit",
            EventKind::TotalLimit => "totalLimit",
        }
    }
    /// The `notified` value that marks this kind as emitted for `period`.
    pub fn period_key(self, period: &Period) -> String {
        match self {
            EventKind::DailyThreshold | EventKind::DailyLimit => period.day.clone(),
            EventKind::MonthlyThreshold | EventKind::MonthlyLimit => period.month.clone(),
            EventKind::TotalLimit => "total".into(),
        }
    }
    pub fn period_start(self, period: &Period) -> Option<DateTime<Utc>> {
        match self {
            EventKind::DailyThreshold | EventKind::DailyLimit => Some(period.day_start),
            EventKind::MonthlyThreshold | EventKind::MonthlyLimit => Some(period.month_start),
            EventKind::TotalLimit => None,
        }
    }
}

/// A budget event, emitted exactly once per key, period and kind (serialized as the
/// documented `PsBudgetEvent`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetEvent {
    pub key_id: i64,
    pub group_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    pub kind: EventKind,
    /// The counter after the granted call (threshold), or before the refused one (limit).
    pub used: f64,
    /// The budget limit of that counter.
    pub limit: f64,
    /// Start of the day or month; `None` for the total budget.
    #[serde(serialize_with = "epoch_millis")]
    pub period_start: Option<DateTime<Utc>>,
}

/// One candidate key as the decision sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: i64,
    pub group_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    pub usage: Value,
    pub configuration: Value,
}

fn notified(usage: &Value, kind: EventKind, period: &Period) -> bool {
    usage
        .get("notified")
        .and_then(|n| n.get(kind.as_str()))
        .and_then(Value::as_str)
        == Some(&kind.period_key(period))
}

/// What to write for one key.
#[derive(Debug, Clone)]
pub struct Write {
    pub id: i64,
    pub usage: Value,
}

/// The outcome of [`decide`]: the granted key (if any), the rows to write and the events.
#[derive(Debug, Default)]
pub struct Decision {
    pub granted: Option<i64>,
    pub writes: Vec<Write>,
    pub events: Vec<BudgetEvent>,
}

fn event(c: &Candidate, kind: EventKind, used: &Dec, limit: &Dec, period: &Period) -> BudgetEvent {
    BudgetEvent {
        key_id: c.id,
        group_id: c.group_id,
        ai_model_id: c.ai_model_id,
        external_api_id: c.external_api_id,
        kind,
        used: to_f64(used),
        limit: to_f64(limit),
        period_start: kind.period_start(period),
    }
}

fn mark(usage: &mut Value, kind: EventKind, period: &Period) {
    if !usage.is_object() {
        *usage = Value::Object(Default::default());
    }
    if let Value::Object(map) = usage {
        let n = map
            .entry("notified")
            .or_insert_with(|| Value::Object(Default::default()));
        if !n.is_object() {
            *n = Value::Object(Default::default());
        }
        if let Value::Object(n) = n {
            n.insert(kind.as_str().into(), Value::String(kind.period_key(period)));
        }
    }
}

/// Decide a call over the candidates (the group's active matching keys, in id order): grant
/// the first with room for `amount` on top of its committed use and live holds, count it (or,
/// with `hold`, place the hold instead), and flag first refusals and threshold crossings. With
/// `enforce` off every key has room (the original's count-only behaviour).
///
/// A refused key fires its limit event only when its committed use alone leaves no room for
/// the amount (the budget is spent); a refusal caused by live holds fires none, as the holds
/// may yet be released or settle lower. A hold fires no threshold event (holds are not use).
pub fn decide(
    candidates: &[Candidate],
    amount: f64,
    period: &Period,
    enforce: bool,
    now_ms: i64,
    hold: Option<&NewHold>,
) -> Decision {
    let mut d = Decision::default();
    for c in candidates {
        let counters = Counters::of(&c.usage, period);
        let holds = Holds::of(&c.usage, now_ms);
        let l = Limits::from_configuration(&c.configuration);
        // Fail closed: a key whose counters or holds (or, when enforced, limits) cannot be
        // read refuses the call, with no event (there is no counter or limit to report).
        let Some(reserved) = holds.reserved.clone() else {
            continue;
        };
        if !counters.readable() || (enforce && l.limit_unreadable()) {
            continue;
        }
        let amount = amount_decimal(amount);
        let zero = Dec::from(0);
        let (day, month, total) = (
            counters.day.unwrap_or_default(),
            counters.month.unwrap_or_default(),
            counters.total.unwrap_or_default(),
        );
        let spent = |used: &Dec, limit: &Option<Dec>| {
            enforce && limit.as_ref().is_some_and(|lim| used + &amount > *lim)
        };
        let over = |used: &Dec, limit: &Option<Dec>| {
            enforce
                && limit
                    .as_ref()
                    .is_some_and(|lim| used + &reserved + &amount > *lim)
        };
        let overs = [
            (EventKind::DailyLimit, &day, &l.per_day),
            (EventKind::MonthlyLimit, &month, &l.per_month),
            (EventKind::TotalLimit, &total, &l.total),
        ];
        if overs.iter().any(|(_, used, lim)| over(used, lim)) {
            let mut usage = c.usage.clone();
            let mut flagged = false;
            for (kind, used, lim) in overs {
                if spent(used, lim) && !notified(&c.usage, kind, period) {
                    let limit = lim.as_ref().unwrap_or(&zero);
                    d.events.push(event(c, kind, used, limit, period));
                    mark(&mut usage, kind, period);
                    flagged = true;
                }
            }
            if flagged {
                d.writes.push(Write { id: c.id, usage });
            }
            continue;
        }
        let mut usage = c.usage.clone();
        if !usage.is_object() {
            usage = Value::Object(Default::default());
        }
        let mut live = holds.live;
        if let Some(hold) = hold {
            let mut entry = serde_json::Map::new();
            entry.insert("amount".into(), json_number(&amount));
            entry.insert("expiresAt".into(), Value::from(hold.expires_at_ms));
            live.insert(hold.reservation_id.clone(), Value::Object(entry));
        } else {
            let counted = [&day, &month, &total];
            count(
                c,
                &mut usage,
                &l,
                counted,
                &amount,
                period,
                false,
                &mut d.events,
            );
        }
        set_holds(&mut usage, live);
        d.writes.push(Write { id: c.id, usage });
        d.granted = Some(c.id);
        break;
    }
    d
}

/// Count `amount` on top of the committed counters `[day, month, total]` of candidate `c`
/// into `usage` (a counter of an ended period restarts), and fire the thresholds it reaches
/// first in this period. With `limit_events` (a settle's real spend, which is never refused,
/// while budgets are enforced), the limit events of the counters it takes over their limits
/// fire too, with the counter after it.
#[allow(clippy::too_many_arguments)]
fn count(
    c: &Candidate,
    usage: &mut Value,
    l: &Limits,
    [day, month, total]: [&Dec; 3],
    amount: &Dec,
    period: &Period,
    limit_events: bool,
    events: &mut Vec<BudgetEvent>,
) {
    let (daily, monthly, total) = (day + amount, month + amount, total + amount);
    let before = usage.clone();
    if let Value::Object(map) = usage {
        map.insert("dailyUse".into(), json_number(&daily));
        map.insert("monthlyUse".into(), json_number(&monthly));
        map.insert("totalUse".into(), json_number(&total));
        map.insert("periodDay".into(), period.day.clone().into());
        map.insert("periodMonth".into(), period.month.clone().into());
    }
    for (kind, used, lim, thr) in [
        (
            EventKind::DailyThreshold,
            &daily,
            &l.per_day,
            &l.daily_threshold,
        ),
        (
            EventKind::MonthlyThreshold,
            &monthly,
            &l.per_month,
            &l.monthly_threshold,
        ),
    ] {
        if let (Some(lim), Some(thr)) = (lim, thr) {
            if *used >= threshold_amount(thr, lim) && !notified(&before, kind, period) {
                events.push(event(c, kind, used, lim, period));
                mark(usage, kind, period);
            }
        }
    }
    for (kind, used, lim) in [
        (EventKind::DailyLimit, &daily, &l.per_day),
        (EventKind::MonthlyLimit, &monthly, &l.per_month),
        (EventKind::TotalLimit, &total, &l.total),
    ] {
        if let Some(lim) = lim.as_ref().filter(|_| limit_events) {
            if used > lim && !notified(&before, kind, period) {
                events.push(event(c, kind, used, lim, period));
                mark(usage, kind, period);
            }
        }
    }
}

/// What settling a hold writes and says: the key's new usage (the charge counted, the hold's
/// entry and expired ones dropped) and the events the charge fires.
#[derive(Debug)]
pub struct Settle {
    pub usage: Value,
    pub events: Vec<BudgetEvent>,
}

/// Settle hold `reservation_id` of key `c` at `actual`: the charge is counted like an
/// increment's (never refused: real spend is never dropped), the hold's entry leaves the key.
/// With `actual` `None` (a release), nothing is counted. The events are the thresholds the
/// charge reaches first, and the limits it takes the committed use over.
///
/// A limit or holds value that cannot be read is left as it is. (A charge on unreadable
/// counters never gets here: `reservation::step` refuses it, so the spend is not lost.)
pub fn settle(
    c: &Candidate,
    reservation_id: &str,
    actual: Option<f64>,
    period: &Period,
    enforce: bool,
    now_ms: i64,
) -> Settle {
    let mut usage = if c.usage.is_object() {
        c.usage.clone()
    } else {
        Value::Object(Default::default())
    };
    let mut events = Vec::new();
    let holds = Holds::of(&c.usage, now_ms);
    if holds.reserved.is_some() {
        let mut live = holds.live;
        live.remove(reservation_id);
        set_holds(&mut usage, live);
    }
    if let Some(actual) = actual {
        let counters = Counters::of(&c.usage, period);
        if let (Some(day), Some(month), Some(total)) =
            (counters.day, counters.month, counters.total)
        {
            let l = Limits::from_configuration(&c.configuration);
            count(
                c,
                &mut usage,
                &l,
                [&day, &month, &total],
                &amount_decimal(actual),
                period,
                enforce,
                &mut events,
            );
        }
    }
    Settle { usage, events }
}

/// `usage` with one increment of `amount`, counted in `day` and `month`, taken back (its key
/// could not be opened): off a day or month counter only while it still counts that day or
/// month, off the total always. The rule of PostgreSQL's `undo_increment.sql`, in decimal.
pub fn undo(usage: &Value, amount: f64, day: &str, month: &str) -> Value {
    let amount = amount_decimal(amount);
    let counter = |key: &str| match stored(usage.get(key)) {
        Stored::Number(d) => d,
        _ => Dec::from(0),
    };
    let same = |key: &str, current: &str| usage.get(key).and_then(Value::as_str) == Some(current);
    let mut out = if usage.is_object() {
        usage.clone()
    } else {
        Value::Object(Default::default())
    };
    if let Value::Object(map) = &mut out {
        for (counter_key, period_key, period) in [
            ("dailyUse", Some("periodDay"), day),
            ("monthlyUse", Some("periodMonth"), month),
            ("totalUse", None, ""),
        ] {
            let applies = period_key.is_none_or(|k| same(k, period));
            let value = if applies {
                counter(counter_key) - &amount
            } else {
                counter(counter_key)
            };
            map.insert(counter_key.into(), json_number(&value));
        }
    }
    out
}

/// The counter value at which a notification threshold fires. PolicySynth documents both
/// forms: a fraction of the limit (`daily: 0.8` next to `perDay: 1000`) and an absolute amount
/// (`daily: 800` next to `perDay: 1000`). A threshold of at most 1 is a fraction; above 1 it is
/// an amount in the counter's units. (So an absolute threshold of exactly 1 unit reads as 100%.)
pub fn threshold_amount(threshold: &Dec, limit: &Dec) -> Dec {
    if threshold <= &Dec::from(1) {
        threshold * limit
    } else {
        threshold.clone()
    }
}

/// One period of [`BudgetStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodStatus {
    /// Committed spend (holds are not use).
    pub used: f64,
    /// The live holds, which count against admission in every period until settled,
    /// released or expired (NaN, `null` in JavaScript: unreadable).
    pub reserved: f64,
    pub limit: Option<f64>,
    /// What a call may still be admitted for: the limit less use and live holds (never < 0).
    pub remaining: Option<f64>,
    #[serde(serialize_with = "epoch_millis")]
    pub period_start: Option<DateTime<Utc>>,
}

/// Why a key may be refused: its counters against its limits now (serialized as the
/// documented `PsBudgetStatus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    pub id: i64,
    pub is_active: bool,
    pub enforced: bool,
    pub daily: PeriodStatus,
    pub monthly: PeriodStatus,
    pub total: PeriodStatus,
    /// Stored fields that cannot be read (`usage.dailyUse`, `maxBudget.total`, …; see
    /// [`Stored`]): empty unless the row was edited by hand. A counter among them, or a limit
    /// while budgets are enforced, makes the key refuse every call.
    pub unreadable: Vec<&'static str>,
}

pub fn status(
    id: i64,
    is_active: bool,
    enforced: bool,
    usage: &Value,
    configuration: &Value,
    period: &Period,
    now_ms: i64,
) -> BudgetStatus {
    let l = Limits::from_configuration(configuration);
    let c = Counters::of(usage, period);
    let reserved = Holds::of(usage, now_ms).reserved;
    let mut unreadable = Vec::new();
    for (field, readable) in [
        ("usage.dailyUse", c.day.is_some()),
        ("usage.monthlyUse", c.month.is_some()),
        ("usage.totalUse", c.total.is_some()),
        ("usage.holds", reserved.is_some()),
    ] {
        if !readable {
            unreadable.push(field);
        }
    }
    unreadable.extend(l.unreadable.iter().copied());
    let zero = Dec::from(0);
    let p = |used: &Option<Dec>, limit: &Option<Dec>, start| PeriodStatus {
        used: used.as_ref().map_or(f64::NAN, to_f64),
        reserved: reserved.as_ref().map_or(f64::NAN, to_f64),
        limit: limit.as_ref().map(to_f64),
        remaining: match (used, &reserved, limit) {
            (Some(used), Some(reserved), Some(lim)) => {
                Some(to_f64(&(lim - used - reserved).max(zero.clone())))
            }
            _ => None,
        },
        period_start: start,
    };
    BudgetStatus {
        id,
        is_active,
        enforced,
        daily: p(&c.day, &l.per_day, Some(period.day_start)),
        monthly: p(&c.month, &l.per_month, Some(period.month_start)),
        total: p(&c.total, &l.total, None),
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn period() -> Period {
        Period::at("2026-11-24T23:30:00Z".parse().unwrap(), Tz::UTC)
    }

    fn cand(id: i64, usage: Value, per_day: Value) -> Candidate {
        Candidate {
            id,
            group_id: 1,
            ai_model_id: Some(3),
            external_api_id: None,
            usage,
            configuration: json!({"maxBudget": {"perDay": per_day, "petMonth": null}, "emailNotificationBudgetThresholds": {"daily": 0.5}}),
        }
    }

    #[test]
    fn periods_follow_the_timezone() {
        let now: DateTime<Utc> = "2026-11-30T23:30:00Z".parse().unwrap();
        let utc = Period::at(now, Tz::UTC);
        assert_eq!(
            (utc.day.as_str(), utc.month.as_str()),
            ("2026-11-30", "2026-11")
        );
        let paris = Period::at(now, parse_timezone("Europe/Paris").unwrap());
        assert_eq!(
            (paris.day.as_str(), paris.month.as_str()),
            ("2026-12-01", "2026-12")
        );
        assert_eq!(
            paris.day_start,
            "2026-11-30T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(paris.month_start, paris.day_start);
        assert_eq!(
            parse_timezone("Mars/Olympus").unwrap_err().code(),
            "PSPAS_CONFIG"
        );
    }

    #[test]
    fn counters_of_another_period_read_zero() {
        let p = period();
        let u = json!({"dailyUse": 5, "monthlyUse": 7, "totalUse": 9, "periodDay": "2026-11-23", "periodMonth": "2026-11"});
        assert_eq!(
            effective_usage(&u, &p),
            Usage {
                daily_use: 0.0,
                monthly_use: 7.0,
                total_use: 9.0
            }
        );
        let legacy = json!({"dailyUse": 5, "monthlyUse": 7, "totalUse": 9});
        assert_eq!(
            effective_usage(&legacy, &p),
            Usage {
                daily_use: 0.0,
                monthly_use: 0.0,
                total_use: 9.0
            }
        );
    }

    #[test]
    fn exact_boundary_then_refusal_then_failover() {
        let p = period();
        let a = cand(
            1,
            json!({"dailyUse": 9, "periodDay": "2026-11-24"}),
            json!(10),
        );
        let b = cand(2, json!({}), json!(null));
        let d = decide(&[a.clone(), b.clone()], 1.0, &p, true, 0, None);
        assert_eq!(
            d.granted,
            Some(1),
            "landing exactly on the limit is granted"
        );
        assert_eq!(d.writes[0].usage["dailyUse"].as_f64(), Some(10.0));
        let kinds: Vec<_> = d.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::DailyThreshold]);

        let a_full = cand(1, d.writes[0].usage.clone(), json!(10));
        let d = decide(&[a_full.clone(), b.clone()], 1.0, &p, true, 0, None);
        assert_eq!(d.granted, Some(2), "over the limit: the next key serves");
        assert_eq!(
            d.events
                .iter()
                .map(|e| (e.key_id, e.kind))
                .collect::<Vec<_>>(),
            vec![(1, EventKind::DailyLimit)]
        );
        assert_eq!(
            d.writes.iter().find(|w| w.id == 1).unwrap().usage["dailyUse"].as_f64(),
            Some(10.0),
            "refused counts nothing"
        );

        let a_flagged = cand(1, d.writes[0].usage.clone(), json!(10));
        let d = decide(std::slice::from_ref(&a_flagged), 1.0, &p, true, 0, None);
        assert_eq!(
            (d.granted, d.events.len(), d.writes.len()),
            (None, 0, 0),
            "the limit event is emitted once"
        );

        let d = decide(&[a_flagged], 1.0, &p, false, 0, None);
        assert_eq!(d.granted, Some(1), "enforcement off: count only");
    }

    #[test]
    fn zero_limit_allows_nothing_and_status_reports_why() {
        let p = period();
        let c = cand(1, json!({}), json!(0));
        assert_eq!(
            decide(std::slice::from_ref(&c), 1.0, &p, true, 0, None).granted,
            None
        );
        let s = status(
            1,
            true,
            true,
            &json!({"dailyUse": 3, "periodDay": "2026-11-24", "totalUse": 3}),
            &c.configuration,
            &p,
            0,
        );
        assert_eq!(
            (s.daily.used, s.daily.limit, s.daily.remaining),
            (3.0, Some(0.0), Some(0.0))
        );
        assert_eq!((s.monthly.limit, s.monthly.remaining), (None, None));
        assert_eq!(s.daily.period_start, Some(p.day_start));
    }

    #[test]
    fn thresholds_in_both_documented_forms() {
        let t = |thr: &str, lim: &str| {
            to_f64(&threshold_amount(
                &Dec::from_str(thr).unwrap(),
                &Dec::from_str(lim).unwrap(),
            ))
        };
        assert_eq!(t("0.8", "1000"), 800.0);
        assert_eq!(t("800", "1000"), 800.0);
        assert_eq!(t("1", "1000"), 1000.0);
        assert_eq!(t("0", "1000"), 0.0);
    }

    #[test]
    fn decimal_arithmetic_as_postgresql_numeric() {
        // Amounts are rounded to 15 significant digits, as float8::numeric does.
        assert_eq!(amount_decimal(0.1).to_string(), "0.1");
        assert_eq!(
            amount_decimal(1.0 / 3.0),
            Dec::from_str("0.333333333333333").unwrap()
        );
        // 0.1 + 0.2 fits a limit of 0.3 (it would not in doubles).
        let p = period();
        let c = Candidate {
            configuration: json!({"maxBudget": {"perDay": 0.3}}),
            ..cand(1, json!({}), json!(null))
        };
        let first = decide(std::slice::from_ref(&c), 0.1, &p, true, 0, None);
        let c = Candidate {
            usage: first.writes[0].usage.clone(),
            ..c
        };
        let second = decide(std::slice::from_ref(&c), 0.2, &p, true, 0, None);
        assert_eq!(second.granted, Some(1));
        assert_eq!(second.writes[0].usage["dailyUse"].to_string(), "0.3");
        let c = Candidate {
            usage: second.writes[0].usage.clone(),
            ..c
        };
        assert_eq!(decide(&[c], 0.1, &p, true, 0, None).granted, None);
        // An undo takes back exactly what was counted.
        let back = undo(&second.writes[0].usage, 0.2, &p.day, &p.month);
        assert_eq!(back["dailyUse"].to_string(), "0.1");
        assert_eq!(back["totalUse"].to_string(), "0.1");
    }

    /// The clock of the holds tests (epoch ms), and an instant after it.
    const NOW: i64 = 1_800_000_000_000;
    const LATER: i64 = NOW + 3_600_000;

    fn reserved(usage: Value) -> Option<f64> {
        Holds::of(&usage, NOW).reserved.as_ref().map(to_f64)
    }

    #[test]
    fn holds_sum_the_live_entries() {
        assert_eq!(reserved(json!({})), Some(0.0));
        assert_eq!(reserved(json!({"holds": null})), Some(0.0));
        assert_eq!(reserved(json!({"holds": {}})), Some(0.0));
        let usage = json!({"holds": {
            "rsv_a": {"amount": 2, "expiresAt": LATER},
            "rsv_b": {"amount": 0.1, "expiresAt": NOW + 1},
            // Expired: `expiresAt` at or before now.
            "rsv_c": {"amount": 5, "expiresAt": NOW},
            "rsv_d": {"amount": 5, "expiresAt": 1000},
        }});
        let h = Holds::of(&usage, NOW);
        assert_eq!(h.reserved, Some(Dec::from_str("2.1").unwrap()));
        assert_eq!(
            h.live.keys().collect::<Vec<_>>(),
            ["rsv_a", "rsv_b"],
            "a write keeps the live entries only"
        );
        // The same holds a moment later: rsv_b has expired too.
        assert_eq!(Holds::of(&usage, NOW + 1).reserved, Some(Dec::from(2)));
    }

    #[test]
    fn holds_of_another_form_are_unreadable() {
        // Beyond a double's range (serde_json keeps the number's text).
        let huge: Value = serde_json::from_str("1e400").unwrap();
        for holds in [
            json!("x"),
            json!(5),
            json!(true),
            json!([{"amount": 1, "expiresAt": LATER}]),
            json!({"rsv_a": 3}),
            json!({"rsv_a": {"amount": "5", "expiresAt": LATER}}),
            json!({"rsv_a": {"amount": null, "expiresAt": LATER}}),
            json!({"rsv_a": {"amount": 1}}),
            json!({"rsv_a": {"expiresAt": LATER}}),
            json!({"rsv_a": {"amount": 1, "expiresAt": "soon"}}),
            json!({"rsv_a": {"amount": huge.clone(), "expiresAt": LATER}}),
            json!({"rsv_a": {"amount": 1, "expiresAt": huge.clone()}}),
            // Unreadable even once expired, and next to readable entries.
            json!({"rsv_a": {"amount": true, "expiresAt": 1000}}),
            json!({
                "rsv_a": {"amount": 1, "expiresAt": LATER},
                "rsv_b": {"amount": "1", "expiresAt": LATER}
            }),
        ] {
            assert_eq!(reserved(json!({ "holds": holds })), None, "{holds}");
        }
        // f64::MAX as JavaScript writes it is a number (a hand edit's negative amount too).
        let max: Value = serde_json::from_str("1.7976931348623157e308").unwrap();
        assert_eq!(
            reserved(json!({"holds": {"rsv_a": {"amount": 1, "expiresAt": max}}})),
            Some(1.0)
        );
        assert_eq!(
            reserved(json!({"holds": {"rsv_a": {"amount": -2, "expiresAt": LATER}}})),
            Some(-2.0)
        );
    }

    /// Key 1 with 4 used today (daily limit 10, threshold at 5) and `holds`; key 2 without
    /// limits.
    fn held(holds: Value) -> [Candidate; 2] {
        let usage = json!({
            "dailyUse": 4, "monthlyUse": 4, "totalUse": 4,
            "periodDay": "2026-11-24", "periodMonth": "2026-11", "holds": holds
        });
        [cand(1, usage, json!(10)), cand(2, json!({}), json!(null))]
    }

    #[test]
    fn holds_count_against_admission_without_a_limit_event() {
        let p = period();
        let keys = held(json!({"rsv_a": {"amount": 5, "expiresAt": LATER}}));
        // 4 used + 5 held + 1 lands exactly on the limit.
        let d = decide(&keys, 1.0, &p, true, NOW, None);
        assert_eq!(d.granted, Some(1));
        assert_eq!(d.writes[0].usage["dailyUse"].as_f64(), Some(5.0));
        assert_eq!(d.writes[0].usage["holds"]["rsv_a"]["amount"], json!(5));
        // 4 + 5 + 1.5 does not fit: refused for the holds alone (4 + 1.5 fits the limit),
        // so no limit event and nothing written on key 1; key 2 serves.
        let d = decide(&keys, 1.5, &p, true, NOW, None);
        assert_eq!(d.granted, Some(2));
        assert!(d.events.is_empty(), "{:?}", d.events);
        assert_eq!(d.writes.iter().map(|w| w.id).collect::<Vec<_>>(), [2]);
        // 4 + 7 goes over the limit on use alone: the budget is spent, its event fires.
        let d = decide(&keys, 7.0, &p, true, NOW, None);
        assert_eq!(d.granted, Some(2));
        assert_eq!(
            d.events
                .iter()
                .map(|e| (e.key_id, e.kind, e.used, e.limit))
                .collect::<Vec<_>>(),
            [(1, EventKind::DailyLimit, 4.0, 10.0)]
        );
        // Not enforced: the holds refuse nothing.
        assert_eq!(decide(&keys, 1.5, &p, false, NOW, None).granted, Some(1));
        // Expired holds do not count.
        let d = decide(&keys, 6.0, &p, true, LATER, None);
        assert_eq!(d.granted, Some(1));
    }

    #[test]
    fn a_reserve_places_a_hold_and_counts_nothing() {
        let p = period();
        let keys = held(json!({
            "rsv_a": {"amount": 2, "expiresAt": LATER},
            "rsv_old": {"amount": 3, "expiresAt": NOW - 1}
        }));
        let hold = NewHold {
            reservation_id: "rsv_new".into(),
            expires_at_ms: LATER + 5,
        };
        // 4 used + 2 held + 3.5 fits 10; the holds (5.5) are over the threshold (5) and the
        // use would be too had it been counted: a hold fires no threshold.
        let d = decide(&keys, 3.5, &p, true, NOW, Some(&hold));
        assert_eq!(d.granted, Some(1));
        assert!(d.events.is_empty(), "{:?}", d.events);
        let usage = &d.writes[0].usage;
        assert_eq!(usage["dailyUse"], json!(4));
        assert_eq!(usage["totalUse"], json!(4));
        assert_eq!(
            usage["holds"],
            json!({
                "rsv_a": {"amount": 2, "expiresAt": LATER},
                "rsv_new": {"amount": 3.5, "expiresAt": LATER + 5}
            }),
            "the new hold joins the live ones; the expired one leaves"
        );
        assert_eq!(
            Holds::of(usage, NOW).reserved,
            Some(Dec::from_str("5.5").unwrap())
        );
        // One more hold of 0.5 fills the limit exactly; then nothing fits (no event).
        let next = |id: &str| NewHold {
            reservation_id: id.into(),
            expires_at_ms: LATER,
        };
        let keys = [cand(1, usage.clone(), json!(10))];
        let d = decide(&keys, 0.5, &p, true, NOW, Some(&next("rsv_fill")));
        assert_eq!(d.granted, Some(1));
        let keys = [cand(1, d.writes[0].usage.clone(), json!(10))];
        let d = decide(&keys, 0.125, &p, true, NOW, Some(&next("rsv_more")));
        assert_eq!((d.granted, d.events.len(), d.writes.len()), (None, 0, 0));
    }

    #[test]
    fn a_write_drops_expired_holds() {
        let p = period();
        let keys = held(json!({"rsv_old": {"amount": 3, "expiresAt": NOW}}));
        let d = decide(&keys, 1.0, &p, true, NOW, None);
        assert_eq!(d.granted, Some(1));
        assert_eq!(
            d.writes[0].usage.get("holds"),
            None,
            "no live hold left: the key leaves `holds` out"
        );
        assert_eq!(d.writes[0].usage["dailyUse"].as_f64(), Some(5.0));
    }

    #[test]
    fn unreadable_holds_refuse_without_an_event() {
        let p = period();
        for enforce in [true, false] {
            for hold in [
                None,
                Some(NewHold {
                    reservation_id: "rsv_new".into(),
                    expires_at_ms: LATER,
                }),
            ] {
                let keys = held(json!({"rsv_a": {"amount": "5", "expiresAt": LATER}}));
                // 4 + 7 would spend the budget: still no event (nothing can be read).
                let d = decide(&keys, 7.0, &p, enforce, NOW, hold.as_ref());
                assert_eq!(d.granted, Some(2), "enforce {enforce}, hold {hold:?}");
                assert!(d.events.is_empty());
                assert_eq!(d.writes.iter().map(|w| w.id).collect::<Vec<_>>(), [2]);
            }
        }
    }

    #[test]
    fn settle_charges_the_actual_amount_and_drops_the_hold() {
        let p = period();
        let [key, _] = held(json!({
            "rsv_a": {"amount": 3, "expiresAt": LATER},
            "rsv_b": {"amount": 1, "expiresAt": LATER},
            "rsv_old": {"amount": 2, "expiresAt": 1000}
        }));
        // An overrun: 4 + 7.5 is over the daily limit of 10. Never refused; the threshold
        // and, enforced, the limit fire with the counter after the charge.
        let s = settle(&key, "rsv_a", Some(7.5), &p, true, NOW);
        assert_eq!(s.usage["dailyUse"].as_f64(), Some(11.5));
        assert_eq!(s.usage["totalUse"].as_f64(), Some(11.5));
        assert_eq!(
            s.usage["holds"],
            json!({"rsv_b": {"amount": 1, "expiresAt": LATER}}),
            "the settled hold and the expired one leave"
        );
        assert_eq!(
            s.events
                .iter()
                .map(|e| (e.kind, e.used, e.limit))
                .collect::<Vec<_>>(),
            [
                (EventKind::DailyThreshold, 11.5, 10.0),
                (EventKind::DailyLimit, 11.5, 10.0)
            ]
        );
        // Each event once per period: the next settle over the limit fires nothing.
        let key = Candidate {
            usage: s.usage.clone(),
            ..key.clone()
        };
        let s = settle(&key, "rsv_b", Some(1.0), &p, true, NOW);
        assert_eq!(s.usage["dailyUse"].as_f64(), Some(12.5));
        assert!(s.events.is_empty(), "{:?}", s.events);
        assert_eq!(s.usage.get("holds"), None);
    }

    #[test]
    fn settle_not_enforced_fires_thresholds_only() {
        let p = period();
        let [key, _] = held(json!({"rsv_a": {"amount": 3, "expiresAt": LATER}}));
        let s = settle(&key, "rsv_a", Some(7.5), &p, false, NOW);
        assert_eq!(
            s.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::DailyThreshold]
        );
        assert_eq!(s.usage["dailyUse"].as_f64(), Some(11.5));
    }

    #[test]
    fn settle_in_a_new_day_restarts_the_day_counter() {
        // The hold was placed yesterday (day counter 4 of 2026-11-23): the charge counts in
        // the settle's day.
        let p = period();
        let usage = json!({
            "dailyUse": 4, "monthlyUse": 4, "totalUse": 4,
            "periodDay": "2026-11-23", "periodMonth": "2026-11",
            "holds": {"rsv_a": {"amount": 3, "expiresAt": LATER}}
        });
        let s = settle(
            &cand(1, usage, json!(10)),
            "rsv_a",
            Some(2.0),
            &p,
            true,
            NOW,
        );
        assert_eq!(
            (
                s.usage["dailyUse"].as_f64(),
                s.usage["monthlyUse"].as_f64(),
                s.usage["periodDay"].as_str()
            ),
            (Some(2.0), Some(6.0), Some("2026-11-24"))
        );
    }

    #[test]
    fn release_drops_the_hold_and_counts_nothing() {
        let p = period();
        let [key, _] = held(json!({
            "rsv_a": {"amount": 3, "expiresAt": LATER},
            "rsv_b": {"amount": 1, "expiresAt": LATER}
        }));
        let s = settle(&key, "rsv_a", None, &p, true, NOW);
        assert!(s.events.is_empty());
        assert_eq!(s.usage["dailyUse"], json!(4));
        assert_eq!(
            s.usage["holds"],
            json!({"rsv_b": {"amount": 1, "expiresAt": LATER}})
        );
        // A hold already gone (expired, or never on this key): nothing else changes.
        let s = settle(&key, "rsv_gone", None, &p, true, NOW);
        assert_eq!(s.usage, key.usage);
    }

    #[test]
    fn settle_leaves_unreadable_holds_as_they_are() {
        let p = period();
        let holds = json!({
            "rsv_a": {"amount": 3, "expiresAt": LATER},
            "rsv_hand": {"amount": "5", "expiresAt": LATER}
        });
        let [key, _] = held(holds.clone());
        let s = settle(&key, "rsv_a", Some(2.0), &p, true, NOW);
        assert_eq!(
            s.usage["holds"], holds,
            "not rewritten: the key keeps refusing"
        );
        assert_eq!(s.usage["dailyUse"].as_f64(), Some(6.0), "the charge counts");
        let s = settle(&key, "rsv_a", None, &p, true, NOW);
        assert_eq!(s.usage, key.usage);
    }

    #[test]
    fn status_reports_the_live_holds_in_every_period() {
        let p = period();
        let [key, _] = held(json!({
            "rsv_a": {"amount": 2.5, "expiresAt": LATER},
            "rsv_old": {"amount": 9, "expiresAt": 1000}
        }));
        let configuration = json!({"maxBudget": {"perDay": 10, "petMonth": 5, "total": null}});
        let s = status(1, true, true, &key.usage, &configuration, &p, NOW);
        assert!(s.unreadable.is_empty());
        for period in [&s.daily, &s.monthly, &s.total] {
            assert_eq!((period.used, period.reserved), (4.0, 2.5));
        }
        // Remaining: the limit less use and live holds, never below 0.
        assert_eq!(
            (s.daily.remaining, s.monthly.remaining, s.total.remaining),
            (Some(3.5), Some(0.0), None)
        );
        // After the hold expires.
        let s = status(1, true, true, &key.usage, &configuration, &p, LATER);
        assert_eq!((s.daily.reserved, s.daily.remaining), (0.0, Some(6.0)));

        let [key, _] = held(json!("x"));
        let s = status(1, true, true, &key.usage, &configuration, &p, NOW);
        assert_eq!(s.unreadable, ["usage.holds"]);
        assert!(s.daily.reserved.is_nan() && s.total.reserved.is_nan());
        assert_eq!(s.daily.used, 4.0, "the counters stay readable");
        assert_eq!((s.daily.remaining, s.monthly.remaining), (None, None));
    }
}
