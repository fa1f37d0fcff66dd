//! Differential test: the budget rules exist twice — in Rust (`budget::decide`, the SQLite
//! path) and in SQL (`sql/postgres/increment_lean.sql` and `increment_budget.sql`). The same
//! random sequences of amounts, limits, thresholds, period changes, key (de)activations,
//! configuration edits (an operator changing a key's budget in the table) and reservations
//! (reserve, settle, settle again, release, a hold's expiry, hand-edited holds) are driven
//! through both, and after every step the grants, the events (kind, key, counter, limit),
//! every key's counters, live holds (`reserved`), remaining room and stored holds, and each
//! settle's or release's result must be equal.
//!
//! Reservations are compared by their logical index (the n-th reserve of the sequence), never
//! by id: ids are random. Holds are placed for an hour, so none expires by itself during a
//! run; a hold expires when the sequence rewrites its entry's `expiresAt` into the past.
//!
//! Amounts and limits are multiples of 1/8, whole numbers, and decimals a double cannot hold
//! (0.1, 0.3 …): both backends add in decimal (PostgreSQL's `numeric`, the Rust rules'
//! `BigDecimal`), so they agree at every boundary. Time is moved forward the way the clock would: the day
//! (or month) a key's bookkeeping was written in is rewritten to an earlier one, counters'
//! period markers and exactly-once marks alike.
//!
//! `PSPAS_DIFFERENTIAL_SEEDS` sets how many seeds run (default 12); each seed runs a sequence
//! without reservations and one with them.
//!
//! (Over 400 lines: one harness, the random step generator and the fixed sequences belong
//! together; splitting them would scatter one comparison.)

use std::sync::Arc;
use std::time::Duration;

use policysynth_private_access_store::budget::{BudgetEvent, EventKind};
use policysynth_private_access_store::model::{IdFilter, KeyFilter, NewKey};
use policysynth_private_access_store::secret::SecretString;
use policysynth_private_access_store::service::Service;
use policysynth_private_access_store::settings::{self as setting, Settings};
use policysynth_private_access_store::store::AnyStore;
use serde_json::{json, Value};

mod common;
use common::{private, PgDb, TempDir};

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A multiple of 1/8 in (0, max].
    fn eighths(&mut self, max: u64) -> f64 {
        (1 + self.below(max * 8)) as f64 / 8.0
    }
}

/// A limit: null (no limit), zero (refuses everything) or a number.
fn random_limit(rng: &mut Rng, max: u64) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => json!(0),
        // Whole numbers, so that counters land exactly on limits and thresholds.
        2..=4 => json!(2 * (1 + rng.below(max / 2))),
        // Decimal limits that doubles cannot hold exactly (0.3, 0.9, 2.3 …): both backends add
        // in decimal, so 0.1 + 0.2 lands exactly on 0.3.
        5 => json!([0.3, 0.6, 0.9, 1.1, 2.3][rng.below(5) as usize]),
        _ => json!(rng.eighths(max)),
    }
}

/// A threshold: unset, a fraction of the limit (<= 1) or an amount (> 1).
fn random_threshold(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => Value::Null,
        1 => json!(1 + rng.below(12)),
        2 => json!((1 + rng.below(4)) as f64 / 4.0),
        _ => json!((1 + rng.below(8)) as f64 / 8.0),
    }
}

fn random_configuration(rng: &mut Rng) -> Value {
    let mut max_budget = serde_json::Map::new();
    for (field, max) in [("perDay", 12), ("petMonth", 30), ("total", 60)] {
        if rng.chance(80) {
            max_budget.insert(field.into(), random_limit(rng, max));
        }
    }
    let mut config = json!({ "maxBudget": max_budget });
    if rng.chance(70) {
        config["emailNotificationBudgetThresholds"] =
            json!({"daily": random_threshold(rng), "monthly": random_threshold(rng)});
    }
    config
}

/// One step of a sequence.
#[derive(Debug, Clone)]
enum Step {
    Spend(f64),
    /// A spend made with request id `req-<n>` (a small pool, so ids repeat: with the same
    /// amount a repeat counts nothing; with another it is a conflict).
    SpendOnce(f64, u64),
    /// The day ends (and, when true, the month too).
    NewDay {
        month: bool,
    },
    Activate {
        key: usize,
        active: bool,
    },
    /// An operator writes a new configuration into the table (or the same one again).
    Reconfigure {
        key: usize,
        configuration: Value,
    },
    /// A hand edit stores an unreadable value (a string, a boolean, an object) at `pointer` of
    /// the usage (`usage`) or configuration JSON: both backends must fail closed alike.
    Corrupt {
        key: usize,
        usage: bool,
        pointer: &'static str,
        value: Value,
    },
    /// A reservation of `estimate` (with requestId `rsv-req-<n>` when `request` is set: a
    /// small pool, so ids repeat), held for `ttl` (`None`: the configured default, 10 minutes;
    /// either is longer than a run). Every reserve, granted or not, is the next logical
    /// reservation of the sequence.
    Reserve {
        estimate: f64,
        request: Option<u64>,
        ttl: Option<Duration>,
    },
    /// Settle logical reservation `which` at `actual` (a refused one has no id: a settle of
    /// an id never issued).
    Settle {
        which: usize,
        actual: f64,
    },
    /// Release logical reservation `which`.
    Release {
        which: usize,
    },
    /// Settle again a reservation an earlier `Settle` step settled (idempotency: the first
    /// settle's result, nothing charged), at another amount.
    SettleAgain {
        which: usize,
        actual: f64,
    },
    /// Rewrite the `expiresAt` of logical reservation `which`'s hold entry (if its key still
    /// has it) into the past, as the clock would after its time to live.
    ExpireHold {
        which: usize,
    },
    /// A hand edit of a key's `usage.holds`.
    EditHolds {
        key: usize,
        edit: HoldsEdit,
    },
}

/// How a hand edit changes a key's `usage.holds`.
#[derive(Debug, Clone)]
enum HoldsEdit {
    /// `usage.holds` becomes this value (unreadable unless null or an object of entries).
    Replace(Value),
    /// An entry `rsv_hand` with this value joins the key's holds (an object made if missing).
    Entry(Value),
    /// The hand edit mended: the entry `rsv_hand` removed, or `usage.holds` when it is not
    /// an object.
    Mend,
}

/// Far in the future (2100-01-01), as an `expiresAt` that stays live.
const FAR: i64 = 4_102_444_800_000;
/// Long past (1970), as an expired `expiresAt`.
const PAST: i64 = 1_000;

fn random_holds_edit(rng: &mut Rng) -> HoldsEdit {
    // A number beyond a double's range (serde_json keeps it with `arbitrary_precision`).
    let huge: Value = serde_json::from_str("1e400").expect("a JSON number");
    match rng.below(12) {
        0 => HoldsEdit::Replace(json!("x")),
        1 => HoldsEdit::Replace(json!(5)),
        2 => HoldsEdit::Replace(json!([{"amount": 1, "expiresAt": FAR}])),
        3 => HoldsEdit::Replace(json!(null)),
        4 => HoldsEdit::Entry(json!({"amount": "5", "expiresAt": FAR})),
        5 => HoldsEdit::Entry(json!({"amount": 1})),
        6 => HoldsEdit::Entry(json!({"amount": 1, "expiresAt": "soon"})),
        7 => HoldsEdit::Entry(json!({"amount": huge, "expiresAt": FAR})),
        // An unreadable entry is unreadable even once expired.
        8 => HoldsEdit::Entry(json!({"amount": true, "expiresAt": PAST})),
        9 => HoldsEdit::Entry(json!(3)),
        // Readable hand edits: a live hold and an expired one.
        10 => HoldsEdit::Entry(json!({"amount": 1.5, "expiresAt": FAR})),
        _ => HoldsEdit::Entry(json!({"amount": 4, "expiresAt": PAST})),
    }
}

/// An amount as the sequences draw them: eighths, decimals a double cannot hold, whole ones.
fn random_amount(rng: &mut Rng) -> f64 {
    match rng.below(4) {
        0 => rng.eighths(6),
        1 => [0.1, 0.2, 0.3, 0.7, 1.1][rng.below(5) as usize],
        _ => (1 + rng.below(2)) as f64,
    }
}

/// The actual cost of a reservation of `estimate`: the estimate, less, nothing, more (an
/// overrun) or unrelated.
fn random_actual(rng: &mut Rng, estimate: f64) -> f64 {
    match rng.below(6) {
        0 | 1 => estimate,
        2 => estimate / 2.0,
        3 => 0.0,
        4 => estimate + 1.0 + rng.eighths(8),
        _ => random_amount(rng),
    }
}

fn random_corruption(rng: &mut Rng, keys: usize) -> Step {
    let key = rng.below(keys as u64) as usize;
    let value = match rng.below(4) {
        0 => json!("10"),
        1 => json!("NaN"),
        2 => json!(true),
        _ => json!({"n": 1}),
    };
    let (usage, pointer) = match rng.below(6) {
        0 => (true, "/dailyUse"),
        1 => (true, "/monthlyUse"),
        2 => (true, "/totalUse"),
        3 => (false, "/maxBudget/perDay"),
        4 => (false, "/maxBudget/total"),
        _ => (false, "/emailNotificationBudgetThresholds/daily"),
    };
    Step::Corrupt {
        key,
        usage,
        pointer,
        value,
    }
}

/// The steps of one sequence: of 150 draws, 100 are the spends, period changes and edits the
/// budget rules had before reservations (the same draws as then), 50 reservation steps (none
/// with `reservations` false: the sequence is the one drawn before reservations existed).
/// Settles, releases and expiries mostly take one of the latest reservations not settled or
/// released yet, and a hand edit of a key's holds is mended a few steps later (a key whose
/// holds cannot be read refuses every call).
fn random_steps(rng: &mut Rng, keys: usize, n: usize, reservations: bool) -> Vec<Step> {
    // The estimate of each logical reservation so far, and the ones a `Settle` step targets.
    let mut estimates: Vec<f64> = Vec::new();
    let mut settled: Vec<usize> = Vec::new();
    // The reservations no settle or release has taken yet.
    let mut open: Vec<usize> = Vec::new();
    // Mends due: (at which step, of which key).
    let mut mends: Vec<(usize, usize)> = Vec::new();
    let mut steps = Vec::with_capacity(n);
    while steps.len() < n {
        if let Some(due) = mends.iter().position(|&(at, _)| at <= steps.len()) {
            let (_, key) = mends.remove(due);
            steps.push(Step::EditHolds {
                key,
                edit: HoldsEdit::Mend,
            });
            continue;
        }
        let draw = rng.below(if reservations { 150 } else { 100 });
        // Mostly one of the latest three open reservations, else any.
        let which = |rng: &mut Rng, open: &mut Vec<usize>, of: usize| {
            if rng.chance(80) {
                open.remove(open.len() - 1 - rng.below(open.len().min(3) as u64) as usize)
            } else {
                rng.below(of as u64) as usize
            }
        };
        if draw < 100 {
            steps.push(random_budget_step(rng, keys, draw));
            continue;
        }
        let step = match rng.below(30) {
            // Settling, releasing, expiring need a reservation: without an open one, reserve.
            kind if kind <= 9 || open.is_empty() => {
                let request = rng.chance(40).then(|| rng.below(2));
                // Repeats of a requestId ask for 1 or 2 (the same one or a conflict).
                let estimate = match request {
                    Some(_) => (1 + rng.below(2)) as f64,
                    None => random_amount(rng),
                };
                let ttl = (!rng.chance(20)).then_some(Duration::from_secs(3600));
                open.push(estimates.len());
                estimates.push(estimate);
                Step::Reserve {
                    estimate,
                    request,
                    ttl,
                }
            }
            10..=17 => {
                let which = which(rng, &mut open, estimates.len());
                settled.push(which);
                Step::Settle {
                    which,
                    actual: random_actual(rng, estimates[which]),
                }
            }
            18..=21 => Step::Release {
                which: which(rng, &mut open, estimates.len()),
            },
            22..=23 if !settled.is_empty() => {
                let which = settled[rng.below(settled.len() as u64) as usize];
                Step::SettleAgain {
                    which,
                    actual: random_actual(rng, estimates[which]),
                }
            }
            // The hold expires; the reservation stays open (a settle still charges).
            22..=26 => Step::ExpireHold {
                which: open[open.len() - 1 - rng.below(open.len().min(3) as u64) as usize],
            },
            _ => {
                let key = rng.below(keys as u64) as usize;
                let edit = random_holds_edit(rng);
                if !matches!(&edit, HoldsEdit::Replace(Value::Null)) {
                    mends.push((steps.len() + 2 + rng.below(6) as usize, key));
                }
                Step::EditHolds { key, edit }
            }
        };
        steps.push(step);
    }
    steps
}

/// One of the steps of the budget rules before reservations (`draw` in 0..100).
fn random_budget_step(rng: &mut Rng, keys: usize, draw: u64) -> Step {
    match draw {
        0..=19 => Step::Spend(rng.eighths(6)),
        20..=29 => Step::Spend([0.1, 0.2, 0.3, 0.7, 1.1][rng.below(5) as usize]),
        30..=39 => Step::SpendOnce((1 + rng.below(2)) as f64, rng.below(4)),
        40..=79 => Step::Spend((1 + rng.below(2)) as f64),
        80..=89 => Step::NewDay {
            month: rng.chance(40),
        },
        90..=95 => Step::Activate {
            key: rng.below(keys as u64) as usize,
            active: rng.chance(60),
        },
        96..=97 => random_corruption(rng, keys),
        _ => Step::Reconfigure {
            key: rng.below(keys as u64) as usize,
            configuration: random_configuration(rng),
        },
    }
}

/// Raw access to a backend's table, for moving the clock and editing rows by hand.
/// One connection, opened at first use and kept for the run (opening one to PostgreSQL per
/// edit cost about 100 ms here).
enum Raw {
    Pg(String, tokio::sync::Mutex<Option<sqlx::PgConnection>>),
    Sqlite(String, tokio::sync::Mutex<Option<sqlx::SqliteConnection>>),
}

impl Raw {
    fn pg(url: &str) -> Raw {
        Raw::Pg(url.to_owned(), Default::default())
    }

    fn sqlite(url: &str) -> Raw {
        Raw::Sqlite(url.to_owned(), Default::default())
    }

    async fn usage(&self, id: i64) -> Value {
        self.json(id, "usage").await
    }

    /// A JSON column of one row, read directly.
    async fn json(&self, id: i64, column: &str) -> Value {
        let text: String = match self {
            Raw::Pg(url, conn) => {
                let mut conn = conn.lock().await;
                let c = open(&mut conn, url).await;
                let sql =
                    format!("SELECT {column}::text FROM ps_private_access_store WHERE id = $1");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(c)
                    .await
                    .expect("a JSON column")
            }
            Raw::Sqlite(url, conn) => {
                let mut conn = conn.lock().await;
                let c = open(&mut conn, url).await;
                let sql = format!("SELECT {column} FROM ps_private_access_store WHERE id = ?1");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(c)
                    .await
                    .expect("a JSON column")
            }
        };
        serde_json::from_str(&text).expect("the column is JSON")
    }

    async fn set_usage(&self, id: i64, usage: &Value) {
        self.set_json(id, "usage", usage).await
    }

    async fn set_configuration(&self, id: i64, configuration: &Value) {
        self.set_json(id, "configuration", configuration).await
    }

    /// Write a JSON column of one row directly, as an operator's SQL would.
    async fn set_json(&self, id: i64, column: &str, value: &Value) {
        let text = value.to_string();
        match self {
            Raw::Pg(url, conn) => {
                let mut conn = conn.lock().await;
                let c = open(&mut conn, url).await;
                let sql = format!(
                    "UPDATE ps_private_access_store SET {column} = $2::jsonb WHERE id = $1"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(&text)
                    .execute(c)
                    .await
                    .expect("set a JSON column");
            }
            Raw::Sqlite(url, conn) => {
                let mut conn = conn.lock().await;
                let c = open(&mut conn, url).await;
                let sql = format!("UPDATE ps_private_access_store SET {column} = ?2 WHERE id = ?1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(&text)
                    .execute(c)
                    .await
                    .expect("set a JSON column");
            }
        }
    }

    /// Move one key's bookkeeping back by a day (and a month): every day-valued mark becomes
    /// an earlier day, so the rules see the period as ended, as they would tomorrow.
    async fn new_day(&self, id: i64, month: bool) {
        let mut usage = self.usage(id).await;
        let past = |v: &mut Value, earlier: &str| {
            if v.is_string() {
                *v = json!(earlier);
            }
        };
        if let Some(obj) = usage.as_object_mut() {
            if let Some(v) = obj.get_mut("periodDay") {
                past(v, "2000-01-01");
            }
            if month {
                if let Some(v) = obj.get_mut("periodMonth") {
                    past(v, "2000-01");
                }
            }
            if let Some(Value::Object(n)) = obj.get_mut("notified") {
                for (kind, earlier, applies) in [
                    ("dailyThreshold", "2000-01-01", true),
                    ("dailyLimit", "2000-01-01", true),
                    ("monthlyThreshold", "2000-01", month),
                    ("monthlyLimit", "2000-01", month),
                ] {
                    if applies {
                        if let Some(v) = n.get_mut(kind) {
                            past(v, earlier);
                        }
                    }
                }
            }
        }
        self.set_usage(id, &usage).await;
    }

    /// Move the hold `reservation_id` of key `id` past its expiry: its entry's `expiresAt`
    /// becomes [`PAST`]. Nothing when the key no longer holds it.
    async fn expire_hold(&self, id: i64, reservation_id: &str) {
        let mut usage = self.usage(id).await;
        let entry = usage
            .get_mut("holds")
            .and_then(|h| h.get_mut(reservation_id))
            .and_then(Value::as_object_mut);
        if let Some(entry) = entry {
            entry.insert("expiresAt".into(), json!(PAST));
            self.set_usage(id, &usage).await;
        }
    }

    /// Edit key `id`'s `usage.holds` by hand.
    async fn edit_holds(&self, id: i64, edit: &HoldsEdit) {
        let mut usage = self.usage(id).await;
        let Some(map) = usage.as_object_mut() else {
            return;
        };
        match edit {
            HoldsEdit::Replace(value) => {
                map.insert("holds".into(), value.clone());
            }
            HoldsEdit::Entry(value) => {
                let holds = map.entry("holds").or_insert_with(|| json!({}));
                if !holds.is_object() {
                    *holds = json!({});
                }
                holds
                    .as_object_mut()
                    .expect("an object")
                    .insert("rsv_hand".into(), value.clone());
            }
            HoldsEdit::Mend => match map.get_mut("holds") {
                Some(Value::Object(holds)) => {
                    holds.remove("rsv_hand");
                }
                _ => {
                    map.remove("holds");
                }
            },
        }
        self.set_usage(id, &usage).await;
    }
}

/// The connection in `slot`, opened to `url` if there is none yet.
async fn open<'c, C: sqlx::Connection>(slot: &'c mut Option<C>, url: &str) -> &'c mut C {
    if slot.is_none() {
        *slot = Some(C::connect(url).await.expect("a raw connection"));
    }
    slot.as_mut().expect("opened")
}

/// A key's stored `usage.holds` as both backends can be compared on: reservation ids replaced
/// by their logical index (`#n`; a hand-made entry keeps its name), an `amount` as a double
/// (the backends may spell one number differently), an `expiresAt` still ahead of `now_ms` as
/// `"live"` (its instant is each run's own clock). `"absent"` when the key has none.
fn comparable_holds(usage: &Value, ids: &[Option<(String, i64)>], now_ms: i64) -> Value {
    let Some(holds) = usage.get("holds") else {
        return json!("absent");
    };
    let Some(entries) = holds.as_object() else {
        return holds.clone();
    };
    let mut out = std::collections::BTreeMap::new();
    for (id, entry) in entries {
        let name = ids
            .iter()
            .position(|r| r.as_ref().is_some_and(|(r, _)| r == id))
            .map_or_else(|| id.clone(), |n| format!("#{n}"));
        let mut entry = entry.clone();
        if let Some(e) = entry.as_object_mut() {
            if let Some(a) = e.get_mut("amount").filter(|a| a.is_number()) {
                *a = json!(a.as_f64());
            }
            if let Some(t) = e.get_mut("expiresAt").filter(|t| t.is_number()) {
                if t.as_f64().is_some_and(|t| t > now_ms as f64) {
                    *t = json!("live");
                }
            }
        }
        out.insert(name, entry);
    }
    json!(out)
}

/// What one step showed: the key granted (by position), the events (by key position), and
/// every key's counters, holds and budget status afterwards.
#[derive(Debug, PartialEq)]
struct Observed {
    granted: Option<usize>,
    /// Per key, the stored fields the status reports unreadable.
    unreadable: Vec<Vec<&'static str>>,
    /// The error code of a call that failed (a request-id conflict, a settle of an id never
    /// issued).
    error: Option<&'static str>,
    events: Vec<(usize, EventKind, f64, f64)>,
    counters: Vec<(Option<f64>, Option<f64>, Option<f64>)>,
    /// Per key, the status's live holds (`reserved`) of the day, month and total (`None`:
    /// unreadable holds).
    reserved: Vec<(Option<f64>, Option<f64>, Option<f64>)>,
    /// Per key, the status's `remaining` of the day, month and total.
    remaining: Vec<(Option<f64>, Option<f64>, Option<f64>)>,
    /// Per key, the stored holds (see [`comparable_holds`]).
    holds: Vec<Value>,
    /// A reserve: the amount held, and the logical reservation it repeats (a requestId
    /// repeat returns the first reserve's hold).
    reservation: Option<(f64, Option<usize>)>,
    /// A settle: the key (by position), charged, overrun, alreadySettled.
    settlement: Option<(usize, f64, f64, bool)>,
    /// A release: whether a held reservation's hold was dropped now.
    released: Option<bool>,
}

/// The position of the key a call served (its plaintext is `key-<position>`).
fn served(key: SecretString) -> usize {
    key.expose()
        .trim_start_matches("key-")
        .parse::<usize>()
        .expect("key-N")
}

async fn run(svc: &Service, raw: &Raw, configs: &[Value], steps: &[Step]) -> Vec<Observed> {
    let filter = KeyFilter {
        ai_model_id: IdFilter::Eq(7),
        ..KeyFilter::default()
    };
    let mut ids = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let mut key: NewKey = common::new_key(1, Some(7), &format!("key-{i}"), config.clone());
        key.user_id = 1;
        ids.push(svc.add_pre_encrypted_key(key).await.expect("add").id);
    }
    let position = |id: i64| ids.iter().position(|&k| k == id).expect("a known key");
    let events_of = |evs: &[BudgetEvent]| -> Vec<(usize, EventKind, f64, f64)> {
        evs.iter()
            .map(|e| (position(e.key_id), e.kind, e.used, e.limit))
            .collect()
    };
    // The logical reservations of this run: (id, key id) of each reserve, `None` when refused
    // (settled as an id never issued).
    let mut reservations: Vec<Option<(String, i64)>> = Vec::new();
    let id_of = |reservations: &[Option<(String, i64)>], which: usize| {
        reservations[which]
            .as_ref()
            .map_or_else(|| "rsv_never_issued".to_owned(), |(id, _)| id.clone())
    };
    let mut seen = Vec::new();
    for step in steps {
        let mut granted = None;
        let mut events = Vec::new();
        let mut error = None;
        let (mut reservation, mut settlement, mut released) = (None, None, None);
        match step {
            Step::SpendOnce(amount, n) => {
                let served_call = svc
                    .serve(1, filter, *amount, Some(format!("req-{n}")), private())
                    .await;
                match served_call {
                    Ok(s) => {
                        granted = s.key.expect("opened").map(served);
                        events = events_of(&s.events);
                    }
                    Err(e) => error = Some(e.code()),
                }
            }
            Step::Spend(amount) => {
                let (key, evs) = svc
                    .increment_usage_and_get_api_key(1, filter, *amount, private())
                    .await
                    .expect("increment");
                granted = key.map(served);
                events = events_of(&evs);
            }
            Step::Reserve {
                estimate,
                request,
                ttl,
            } => {
                let request = request.map(|n| format!("rsv-req-{n}"));
                match svc
                    .reserve(1, filter, *estimate, *ttl, request, private())
                    .await
                {
                    Ok(r) => {
                        events = events_of(&r.events);
                        match r.hold.expect("opened") {
                            Some((hold, key)) => {
                                granted = Some(served(key));
                                assert_eq!(hold.picked.id, ids[granted.unwrap()]);
                                let repeats = reservations.iter().position(|r| {
                                    r.as_ref().is_some_and(|(id, _)| *id == hold.reservation_id)
                                });
                                reservation = Some((hold.amount, repeats));
                                reservations.push(Some((hold.reservation_id, hold.picked.id)));
                            }
                            None => reservations.push(None),
                        }
                    }
                    Err(e) => {
                        error = Some(e.code());
                        reservations.push(None);
                    }
                }
            }
            Step::Settle { which, actual } | Step::SettleAgain { which, actual } => {
                let id = id_of(&reservations, *which);
                match svc.settle_usage(&id, *actual).await {
                    Ok(s) => {
                        let t = &s.settlement;
                        assert_eq!(t.reservation_id, id);
                        settlement =
                            Some((position(t.key_id), t.charged, t.overrun, t.already_settled));
                        events = events_of(&s.events);
                    }
                    Err(e) => error = Some(e.code()),
                }
            }
            Step::Release { which } => {
                let id = id_of(&reservations, *which);
                released = Some(svc.release_usage(&id).await.expect("release"));
            }
            Step::ExpireHold { which } => {
                if let Some((id, key)) = &reservations[*which] {
                    raw.expire_hold(*key, id).await;
                }
            }
            Step::EditHolds { key, edit } => raw.edit_holds(ids[*key], edit).await,
            Step::NewDay { month } => {
                for &id in &ids {
                    raw.new_day(id, *month).await;
                }
            }
            Step::Activate { key, active } => {
                svc.set_key_status(ids[*key], *active)
                    .await
                    .expect("set status");
            }
            Step::Reconfigure { key, configuration } => {
                raw.set_configuration(ids[*key], configuration).await;
            }
            Step::Corrupt {
                key,
                usage,
                pointer,
                value,
            } => {
                let column = if *usage { "usage" } else { "configuration" };
                let mut doc = raw.json(ids[*key], column).await;
                // Create the path's objects where missing, then store the value.
                let mut at = &mut doc;
                for part in pointer.trim_start_matches('/').split('/') {
                    if !at.is_object() {
                        *at = json!({});
                    }
                    at = at
                        .as_object_mut()
                        .expect("an object")
                        .entry(part)
                        .or_insert(Value::Null);
                }
                *at = value.clone();
                raw.set_json(ids[*key], column, &doc).await;
            }
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64;
        let mut o = Observed {
            granted,
            unreadable: Vec::new(),
            error,
            events,
            counters: Vec::new(),
            reserved: Vec::new(),
            remaining: Vec::new(),
            holds: Vec::new(),
            reservation,
            settlement,
            released,
        };
        // An unreadable counter is NaN (null in JavaScript): compared as None.
        let known = |x: f64| (!x.is_nan()).then_some(x);
        for &id in &ids {
            let u = svc.get_usage(id).await.expect("usage").expect("row");
            o.counters
                .push((known(u.daily_use), known(u.monthly_use), known(u.total_use)));
            let status = svc
                .get_budget_status(id)
                .await
                .expect("status")
                .expect("row");
            let (d, m, t) = (&status.daily, &status.monthly, &status.total);
            o.reserved
                .push((known(d.reserved), known(m.reserved), known(t.reserved)));
            o.remaining.push((d.remaining, m.remaining, t.remaining));
            o.unreadable.push(status.unreadable);
            o.holds.push(comparable_holds(
                &raw.usage(id).await,
                &reservations,
                now_ms,
            ));
        }
        seen.push(o);
    }
    seen
}

fn service(url: &str, enforce: bool) -> Arc<Service> {
    Arc::new(Service::new(
        Settings::default()
            .with(&setting::DATABASE_URL, url)
            .with(&setting::ENFORCE_BUDGETS, enforce),
    ))
}

/// Run `steps` on a fresh PostgreSQL database and a fresh SQLite file, assert that every step
/// showed the same on both, and return PostgreSQL's observations with its statement counts
/// (increments the lean statement counted, full statements sent).
async fn both_agree(
    configs: &[Value],
    steps: &[Step],
    enforce: bool,
    name: &str,
) -> (Vec<Observed>, (u64, u64, u64)) {
    let pg = PgDb::fresh("differential").await;
    let dir = TempDir::new();
    let sqlite_url = format!("sqlite:{}", dir.path().join("d.sqlite").display());

    let pg_svc = service(&pg.url, enforce);
    let on_pg = run(&pg_svc, &Raw::pg(&pg.url), configs, steps).await;
    let mut counts = (0, 0);
    if let AnyStore::Postgres(store) = &*pg_svc.store().await.expect("store") {
        counts = store.statement_counts();
    }
    pg_svc.close().await;
    let sqlite_svc = service(&sqlite_url, enforce);
    let on_sqlite = run(&sqlite_svc, &Raw::sqlite(&sqlite_url), configs, steps).await;
    let lean_counted = match &*sqlite_svc.store().await.expect("store") {
        AnyStore::Sqlite(store) => store.lean_counted(),
        _ => unreachable!("a SQLite URL opens SQLite"),
    };
    sqlite_svc.close().await;
    // SQLite's two paths: the same steps with every increment in a transaction.
    let full_url = format!("sqlite:{}", dir.path().join("full.sqlite").display());
    let full_svc = service(&full_url, enforce);
    if let AnyStore::Sqlite(store) = &*full_svc.store().await.expect("store") {
        store.set_lean_path(false);
    }
    let on_full = run(&full_svc, &Raw::sqlite(&full_url), configs, steps).await;
    full_svc.close().await;
    pg.drop().await;

    for (i, (lean, full)) in on_sqlite.iter().zip(&on_full).enumerate() {
        assert_eq!(
            lean, full,
            "{name}, step {i} ({:?}), enforce {enforce}, configurations {configs:?}\n\
             SQLite, one-statement path on: {lean:?}\nSQLite, every call in a transaction: {full:?}",
            steps[i]
        );
    }

    for (i, (p, s)) in on_pg.iter().zip(&on_sqlite).enumerate() {
        assert_eq!(
            p, s,
            "{name}, step {i} ({:?}), enforce {enforce}, configurations {configs:?}\n\
             PostgreSQL: {p:?}\nSQLite: {s:?}",
            steps[i]
        );
    }
    (on_pg, (counts.0, counts.1, lean_counted))
}

/// Counters that land exactly on every threshold and limit while the lean statement holds a
/// hint for the group: whole amounts, a daily threshold at half the daily limit, a monthly
/// threshold as an amount. Each boundary call must go to the full statement (and its event
/// or refusal) and each call just below it must be counted by the lean one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_boundaries_agree() {
    let configs = [json!({
        "maxBudget": {"perDay": 6, "petMonth": 12, "total": 15},
        "emailNotificationBudgetThresholds": {"daily": 0.5, "monthly": 8}
    })];
    let spend = |n| vec![Step::Spend(1.0); n];
    let day = || vec![Step::NewDay { month: false }];
    let month = || vec![Step::NewDay { month: true }];
    let steps: Vec<Step> = [
        spend(7),
        day(),
        spend(6),
        day(),
        spend(1),
        month(),
        spend(4),
    ]
    .concat();
    let (seen, (lean, full, sqlite_lean)) = both_agree(&configs, &steps, true, "boundaries").await;
    let events: Vec<(usize, EventKind, f64)> = seen
        .iter()
        .enumerate()
        .flat_map(|(i, o)| o.events.iter().map(move |e| (i, e.1, e.2)))
        .collect();
    assert_eq!(
        events,
        vec![
            (2, EventKind::DailyThreshold, 3.0),
            (6, EventKind::DailyLimit, 6.0),
            (9, EventKind::MonthlyThreshold, 8.0),
            (10, EventKind::DailyThreshold, 3.0),
            (15, EventKind::MonthlyLimit, 12.0),
            (19, EventKind::DailyThreshold, 3.0),
            (20, EventKind::TotalLimit, 15.0),
        ]
    );
    let granted: Vec<usize> = (0..steps.len())
        .filter(|&i| seen[i].granted.is_some())
        .collect();
    assert_eq!(
        granted,
        [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 17, 18, 19]
    );
    // Lean: 1, 3, 4, 5, 11, 12, 13, 18 (5 and 13 exactly at a limit). Full: the first call (no
    // hint yet), each event or refusal (2, 6, 9, 10, 15, 19, 20; 20 only over the total) and
    // the first call after a refusal (8, 17).
    assert_eq!((lean, full), (8, 10));
    // SQLite's one-statement path counts the same calls: the others change a threshold's or
    // limit's mark, or follow one (the row as last seen is not the first key's grant).
    assert_eq!(sqlite_lean, 8);
}

/// One decimal rule on both backends (and both PostgreSQL statements): calls of 0.1 then 0.2
/// fit a daily limit of 0.3 exactly; the next 0.1 does not; in doubles 0.1 + 0.2 > 0.3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_boundaries_agree() {
    let configs = vec![json!({"maxBudget": {"perDay": 0.3, "petMonth": 1.1, "total": null}})];
    let steps = vec![
        Step::Spend(0.1),
        Step::Spend(0.2),
        Step::Spend(0.1),
        Step::NewDay { month: false },
        Step::Spend(0.3),
        Step::NewDay { month: false },
        Step::Spend(0.1),
        Step::Spend(0.1),
        Step::NewDay { month: false },
        Step::Spend(0.3),
    ];
    let (seen, _) = both_agree(&configs, &steps, true, "decimals").await;
    let granted: Vec<bool> = seen.iter().map(|o| o.granted.is_some()).collect();
    assert_eq!(
        granted,
        [true, true, false, false, true, false, true, true, false, true]
    );
    // The month holds 0.1 + 0.2 + 0.3 + 0.1 + 0.1 = 0.8 exactly, and 0.3 more lands exactly on
    // its limit of 1.1 (granted).
    assert_eq!(seen[7].counters[0], (Some(0.2), Some(0.8), Some(0.8)));
    assert_eq!(seen[9].counters[0], (Some(0.3), Some(1.1), Some(1.1)));
}

/// Hand-edited, unreadable stored values fail closed on both backends and on both PostgreSQL
/// statements: a key whose counter is unreadable is refused (after the lean statement has
/// taken over the group's calls), reported, and served again once the period ends; a string
/// limit refuses while enforced; a string threshold fires nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_values_fail_closed_alike() {
    let configs = vec![
        json!({"maxBudget": {"perDay": null, "petMonth": null, "total": null}}),
        json!({"maxBudget": {"perDay": null}}),
    ];
    let corrupt = |key, usage, pointer, value| Step::Corrupt {
        key,
        usage,
        pointer,
        value,
    };
    let steps = vec![
        Step::Spend(1.0),
        Step::Spend(1.0),
        Step::Spend(1.0),
        corrupt(0, true, "/dailyUse", json!("abc")),
        Step::Spend(1.0),
        Step::Spend(1.0),
        Step::NewDay { month: false },
        Step::Spend(1.0),
        corrupt(0, false, "/maxBudget/total", json!("10")),
        Step::Spend(1.0),
        corrupt(
            1,
            false,
            "/emailNotificationBudgetThresholds/daily",
            json!("0.5"),
        ),
        Step::Spend(1.0),
        corrupt(0, true, "/totalUse", json!(true)),
        corrupt(1, true, "/totalUse", json!({"n": 1})),
        Step::Spend(1.0),
    ];
    let (seen, _) = both_agree(&configs, &steps, true, "unreadable").await;
    let granted: Vec<Option<usize>> = seen.iter().map(|o| o.granted).collect();
    assert_eq!(
        granted,
        [
            Some(0),
            Some(0),
            Some(0),
            None,
            Some(1), // key 0's daily counter is unreadable: key 1 serves
            Some(1),
            None,
            Some(0), // a new day: key 0's daily counter restarts
            None,
            Some(1), // key 0's total limit is a string: refused while enforced
            None,
            Some(1),
            None,
            None,
            None, // both totals unreadable: nobody serves
        ]
    );
    assert_eq!(seen[4].unreadable[0], vec!["usage.dailyUse"]);
    assert_eq!(seen[4].counters[0], (None, Some(3.0), Some(3.0)));
    assert_eq!(seen[9].unreadable[0], vec!["maxBudget.total"]);
    assert_eq!(
        seen[11].unreadable[1],
        vec!["emailNotificationBudgetThresholds.daily"]
    );
    assert!(seen.iter().all(|o| o.events.is_empty()));
    assert_eq!(
        seen[14].unreadable,
        vec![
            vec!["usage.totalUse", "maxBudget.total"],
            vec!["usage.totalUse", "emailNotificationBudgetThresholds.daily"]
        ]
    );
}

/// Reservations on both backends, step by step: holds fill a daily limit exactly (a further
/// reserve and an increment are refused by the holds alone, with no event); a release makes
/// room; a settle charges the actual amount (an overrun takes use over the limit: the
/// threshold and limit events once; a second settle returns the first one's result); a hold
/// placed yesterday still counts today; an expired hold stops counting and leaves the row at
/// its next write (a late settle of it still charges); unreadable holds refuse, without an
/// event, until mended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_agree() {
    let configs = vec![json!({
        "maxBudget": {"perDay": 5, "petMonth": 20, "total": 30},
        "emailNotificationBudgetThresholds": {"daily": 0.8}
    })];
    let reserve = |estimate| Step::Reserve {
        estimate,
        request: None,
        ttl: Some(Duration::from_secs(3600)),
    };
    let settle = |which, actual| Step::Settle { which, actual };
    let release = |which| Step::Release { which };
    let edit = |edit| Step::EditHolds { key: 0, edit };
    let day = || Step::NewDay { month: false };
    let steps = vec![
        reserve(2.0),     // 0: r0
        reserve(2.0),     // 1: r1
        reserve(1.0),     // 2: r2, the limit of 5 is held
        reserve(0.125),   // 3: r3, refused
        Step::Spend(1.0), // 4: refused by the holds
        settle(3, 1.0),   // 5: r3 was never issued
        release(2),       // 6
        release(2),       // 7: nothing held any more
        Step::Spend(1.0), // 8: 1 used + 4 held
        settle(0, 2.0),   // 9: as estimated
        settle(1, 4.5),   // 10: an overrun over the limit
        Step::SettleAgain {
            which: 1,
            actual: 9.0,
        }, // 11
        Step::Spend(0.1), // 12: refused, the limit event fired at 10
        release(1),       // 13: settled: nothing to release
        day(),            // 14
        reserve(3.0),     // 15: r4
        day(),            // 16: r4 was placed yesterday
        Step::Spend(2.5), // 17: refused by r4's 3
        Step::Spend(2.0), // 18
        Step::ExpireHold { which: 4 }, // 19
        Step::Spend(2.0), // 20: r4 no longer counts; its entry leaves the row
        settle(4, 1.5),   // 21: a late settle still charges
        reserve(1.0),     // 22: r5, refused (the limit event fired at 21)
        edit(HoldsEdit::Replace(json!("x"))), // 23
        day(),            // 24
        Step::Spend(1.0), // 25: unreadable holds refuse
        reserve(1.0),     // 26: r6, refused
        edit(HoldsEdit::Replace(
            json!({"rsv_hand": {"amount": "5", "expiresAt": FAR}}),
        )), // 27
        edit(HoldsEdit::Replace(json!({"rsv_hand": {"amount": 1}}))), // 28
        edit(HoldsEdit::Replace(
            json!({"rsv_hand": {"amount": 1, "expiresAt": FAR}}),
        )), // 29: mended, and holds 1
        Step::Spend(4.5), // 30: refused by that hold
        Step::Spend(4.0), // 31
        edit(HoldsEdit::Mend), // 32: holds is an empty object
        Step::Spend(1.0), // 33: exactly at the limit
    ];
    let (seen, _) = both_agree(&configs, &steps, true, "holds").await;

    let granted: Vec<usize> = (0..steps.len())
        .filter(|&i| seen[i].granted.is_some())
        .collect();
    assert_eq!(granted, [0, 1, 2, 8, 15, 18, 20, 31, 33]);
    let events: Vec<(usize, EventKind, f64, f64)> = seen
        .iter()
        .enumerate()
        .flat_map(|(i, o)| o.events.iter().map(move |e| (i, e.1, e.2, e.3)))
        .collect();
    assert_eq!(
        events,
        vec![
            (10, EventKind::DailyThreshold, 7.5, 5.0),
            (10, EventKind::DailyLimit, 7.5, 5.0),
            (20, EventKind::DailyThreshold, 4.0, 5.0),
            (21, EventKind::DailyLimit, 5.5, 5.0),
            (31, EventKind::DailyThreshold, 4.0, 5.0),
        ]
    );
    let reserved: Vec<Option<f64>> = seen.iter().map(|o| o.reserved[0].0).collect();
    let held = |x: f64| Some(x);
    assert_eq!(
        reserved,
        [
            held(2.0),
            held(4.0),
            held(5.0),
            held(5.0),
            held(5.0),
            held(5.0),
            held(4.0),
            held(4.0),
            held(4.0),
            held(2.0),
            held(0.0),
            held(0.0),
            held(0.0),
            held(0.0),
            held(0.0),
            held(3.0),
            held(3.0),
            held(3.0),
            held(3.0),
            held(0.0),
            held(0.0),
            held(0.0),
            held(0.0),
            None,
            None,
            None,
            None,
            None,
            None,
            held(1.0),
            held(1.0),
            held(1.0),
            held(0.0),
            held(0.0),
        ]
    );
    // Holds count in every period alike.
    assert!(seen
        .iter()
        .all(|o| o.reserved[0].0 == o.reserved[0].1 && o.reserved[0].1 == o.reserved[0].2));
    assert_eq!(seen[2].remaining[0], (Some(0.0), Some(15.0), Some(25.0)));
    assert_eq!(seen[3].reservation, None);
    assert_eq!(seen[0].reservation, Some((2.0, None)));
    assert_eq!(seen[4].counters[0], (Some(0.0), Some(0.0), Some(0.0)));
    assert_eq!(seen[5].error, Some("PSPAS_RESERVATION_NOT_FOUND"));
    assert_eq!(
        (seen[6].released, seen[7].released),
        (Some(true), Some(false))
    );
    assert_eq!(seen[9].settlement, Some((0, 2.0, 0.0, false)));
    assert_eq!(seen[10].settlement, Some((0, 4.5, 2.5, false)));
    assert_eq!(seen[10].counters[0], (Some(7.5), Some(7.5), Some(7.5)));
    assert_eq!(seen[10].holds[0], json!("absent"));
    assert_eq!(seen[11].settlement, Some((0, 4.5, 2.5, true)));
    assert_eq!(seen[11].counters[0], (Some(7.5), Some(7.5), Some(7.5)));
    assert_eq!(seen[13].released, Some(false));
    // r4, placed on day 15, counts on day 16.
    assert_eq!(seen[16].remaining[0], (Some(2.0), Some(9.5), Some(19.5)));
    assert_eq!(seen[18].counters[0], (Some(2.0), Some(9.5), Some(9.5)));
    // Expired: it no longer counts, but stays in the row until the key's next write.
    assert_eq!(
        seen[19].holds[0],
        json!({"#4": {"amount": 3.0, "expiresAt": PAST}})
    );
    assert_eq!(seen[20].holds[0], json!("absent"));
    assert_eq!(seen[21].settlement, Some((0, 1.5, 0.0, false)));
    assert_eq!(seen[21].counters[0], (Some(5.5), Some(13.0), Some(13.0)));
    for (i, o) in seen.iter().enumerate().take(29).skip(23) {
        assert_eq!(o.unreadable[0], vec!["usage.holds"], "step {i}");
        assert_eq!(o.remaining[0], (None, None, None), "step {i}");
    }
    assert_eq!(seen[29].unreadable[0], Vec::<&str>::new());
    assert_eq!(seen[31].counters[0], (Some(4.0), Some(17.0), Some(17.0)));
    assert_eq!(seen[32].holds[0], json!({}));
    assert_eq!(seen[33].holds[0], json!("absent"));
    assert_eq!(seen[33].counters[0], (Some(5.0), Some(18.0), Some(18.0)));

    // Not enforced: every reserve and increment is granted, holds or not; a settle fires
    // thresholds but no limit event.
    let (seen, _) = both_agree(&configs, &steps, false, "holds, not enforced").await;
    for (i, step) in steps.iter().enumerate() {
        let call = matches!(step, Step::Spend(_) | Step::Reserve { .. });
        let unreadable = (23..=28).contains(&i);
        assert_eq!(
            seen[i].granted.is_some(),
            call && !unreadable,
            "step {i} ({step:?})"
        );
    }
    assert!(seen
        .iter()
        .flat_map(|o| &o.events)
        .all(|e| matches!(e.1, EventKind::DailyThreshold | EventKind::MonthlyThreshold)));
}

/// A hold entry whose `expiresAt` is a decimal just above `f64::MAX` that rounds to it: beyond
/// the range on both backends (the Rust rules compare the exact decimal with
/// `1.7976931348623157e308`, as PostgreSQL's statements do), so the key refuses alike and the
/// status reports `usage.holds`. (This test found the two rules disagreeing when Rust checked
/// the range on the number rounded to a double.) A counter of that value is covered too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_at_the_double_range_boundary_agree() {
    let configs = vec![json!({"maxBudget": {"perDay": 5}})];
    let above_max: Value = serde_json::from_str("1.7976931348623158e308").expect("a number");
    let steps = vec![
        Step::EditHolds {
            key: 0,
            edit: HoldsEdit::Replace(json!({"rsv_hand": {"amount": 1, "expiresAt": above_max}})),
        },
        Step::Spend(1.0),
    ];
    both_agree(&configs, &steps, true, "double range boundary").await;
}

/// Random sequences. Each seed runs two: the sequence of the budget rules alone (60 steps: the
/// same sequence as before reservations existed), and one that also reserves, settles,
/// releases, expires and hand-edits holds (80 steps, from a stream of its own). They are kept
/// apart so that the first keeps its coverage: a key holding something is always decided by
/// PostgreSQL's full statement, and the lean statement must keep its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rules_and_postgres_statements_agree() {
    let seeds: u64 = std::env::var("PSPAS_DIFFERENTIAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut kinds_seen = std::collections::BTreeSet::new();
    let (mut grants, mut refusals) = (0, 0);
    // Request-id calls that conflicted, and repeats that served a key without counting.
    let (mut conflicts, mut repeats) = (0, 0);
    // Steps after which some key had an unreadable stored field (hand edits).
    let mut unreadable_steps = 0;
    // Increments the lean statement counted, and full statements sent, on PostgreSQL (in the
    // sequences without reservations; and in those with).
    let (mut lean, mut full, mut sqlite_lean) = (0, 0, 0);
    let (mut lean_holding, mut full_holding) = (0, 0);
    let mut holds = HoldStats::default();
    for seed in 1..=seeds {
        // Every fourth sequence counts only (budgets not enforced).
        let enforce = seed % 4 != 0;

        let mut rng = Rng::new(seed);
        let keys = 1 + rng.below(3) as usize;
        let configs: Vec<Value> = (0..keys).map(|_| random_configuration(&mut rng)).collect();
        let steps = random_steps(&mut rng, keys, 60, false);
        let (on_pg, counts) = both_agree(&configs, &steps, enforce, &format!("seed {seed}")).await;
        lean += counts.0;
        full += counts.1;
        sqlite_lean += counts.2;
        assert_eq!(on_pg.len(), steps.len());
        for o in &on_pg {
            kinds_seen.extend(o.events.iter().map(|e| format!("{:?}", e.1)));
        }
        grants += on_pg.iter().filter(|o| o.granted.is_some()).count();
        conflicts += on_pg.iter().filter(|o| o.error.is_some()).count();
        unreadable_steps += on_pg
            .iter()
            .filter(|o| o.unreadable.iter().any(|u| !u.is_empty()))
            .count();
        repeats += (1..steps.len())
            .filter(|&i| {
                matches!(steps[i], Step::SpendOnce(..))
                    && on_pg[i].granted.is_some()
                    && on_pg[i].counters == on_pg[i - 1].counters
            })
            .count();
        refusals += on_pg
            .iter()
            .zip(&steps)
            .filter(|(o, s)| matches!(s, Step::Spend(_)) && o.granted.is_none())
            .count();

        let mut rng = Rng::new(1_000_000 + seed);
        let keys = 1 + rng.below(3) as usize;
        let configs: Vec<Value> = (0..keys).map(|_| random_configuration(&mut rng)).collect();
        let steps = random_steps(&mut rng, keys, 80, true);
        let name = format!("seed {seed} with reservations");
        let (on_pg, counts) = both_agree(&configs, &steps, enforce, &name).await;
        lean_holding += counts.0;
        full_holding += counts.1;
        sqlite_lean += counts.2;
        holds.add(&steps, &on_pg);
    }
    // The sequences exercised what they are for (so the test cannot pass by doing nothing).
    eprintln!(
        "lean {lean}, full {full}, SQLite one-statement {sqlite_lean}, grants {grants}, refusals {refusals}, \
         conflicts {conflicts}, repeats {repeats}, unreadable {unreadable_steps}\n\
         with reservations: lean {lean_holding}, full {full_holding}, {holds:?}"
    );
    if seeds >= 12 {
        assert!(grants > 100, "grants: {grants}");
        assert!(
            sqlite_lean > 50,
            "SQLite one-statement increments: {sqlite_lean}"
        );
        assert!(refusals > 10, "refusals: {refusals}");
        assert!(conflicts > 5, "request-id conflicts: {conflicts}");
        assert!(repeats > 5, "request-id repeats: {repeats}");
        assert!(
            unreadable_steps > 20,
            "steps with unreadable fields: {unreadable_steps}"
        );
        assert_eq!(
            kinds_seen.len(),
            5,
            "every event kind occurred: {kinds_seen:?}"
        );
        // Both PostgreSQL statements decided a fair share of the calls.
        assert!(lean > 50 && full > 50, "lean {lean}, full {full}");
        holds.check();
    }
}

/// What the random sequences' reservation steps did (PostgreSQL's observations; SQLite's
/// are equal).
#[derive(Debug, Default)]
struct HoldStats {
    reserved: usize,
    reserve_refused: usize,
    /// Reserves repeating a requestId (the first one's hold), and conflicting ones.
    reserve_repeats: usize,
    reserve_conflicts: usize,
    settled: usize,
    overruns: usize,
    already_settled: usize,
    /// Settles of a refused reserve (an id never issued).
    not_found: usize,
    /// Settles whose charge fired an event.
    settle_events: usize,
    released: usize,
    release_noop: usize,
    /// Steps after which some key held something (live holds), kept an expired hold entry, or
    /// had unreadable holds.
    holding: usize,
    expired_kept: usize,
    unreadable_holds: usize,
    /// Spends refused while the refusing keys held something.
    spends_refused_with_holds: usize,
}

impl HoldStats {
    fn add(&mut self, steps: &[Step], seen: &[Observed]) {
        for (i, (step, o)) in steps.iter().zip(seen).enumerate() {
            match step {
                Step::Reserve { .. } => match (o.reservation, o.error) {
                    (Some((_, Some(_))), _) => self.reserve_repeats += 1,
                    (Some(_), _) => self.reserved += 1,
                    (None, Some(_)) => self.reserve_conflicts += 1,
                    (None, None) => self.reserve_refused += 1,
                },
                Step::Settle { .. } | Step::SettleAgain { .. } => match o.settlement {
                    Some((_, _, _, true)) => self.already_settled += 1,
                    Some((_, _, overrun, false)) => {
                        self.settled += 1;
                        self.overruns += usize::from(overrun > 0.0);
                        self.settle_events += usize::from(!o.events.is_empty());
                    }
                    None => self.not_found += 1,
                },
                Step::Release { .. } if o.released == Some(true) => self.released += 1,
                Step::Release { .. } => self.release_noop += 1,
                Step::Spend(_) if o.granted.is_none() && i > 0 => {
                    let held = seen[i - 1]
                        .reserved
                        .iter()
                        .any(|r| r.0.is_some_and(|r| r > 0.0));
                    self.spends_refused_with_holds += usize::from(held);
                }
                _ => {}
            }
            let expired = |h: &Value| {
                h.as_object().is_some_and(|m| {
                    m.values()
                        .any(|e| e.get("expiresAt").is_some_and(|t| t.is_number()))
                })
            };
            self.holding += usize::from(o.reserved.iter().any(|r| r.0.is_some_and(|r| r != 0.0)));
            self.expired_kept += usize::from(o.holds.iter().any(expired));
            self.unreadable_holds +=
                usize::from(o.unreadable.iter().any(|u| u.contains(&"usage.holds")));
        }
    }

    /// The sequences exercised every reservation rule (so the comparison cannot pass by
    /// doing nothing).
    fn check(&self) {
        let s = self;
        for (what, n, least) in [
            ("reserves granted", s.reserved, 40),
            ("reserves refused", s.reserve_refused, 20),
            ("reserve requestId repeats", s.reserve_repeats, 5),
            ("reserve requestId conflicts", s.reserve_conflicts, 5),
            ("settles", s.settled, 25),
            ("settles with an overrun", s.overruns, 8),
            ("settles firing events", s.settle_events, 3),
            ("repeated settles", s.already_settled, 8),
            ("settles of an id never issued", s.not_found, 10),
            ("releases", s.released, 8),
            ("releases of nothing held", s.release_noop, 8),
            ("steps after which a key held something", s.holding, 150),
            ("steps with an expired hold kept", s.expired_kept, 10),
            ("steps with unreadable holds", s.unreadable_holds, 30),
            (
                "spends refused while holding",
                s.spends_refused_with_holds,
                20,
            ),
        ] {
            assert!(n >= least, "{what}: {n} (expected at least {least}): {s:?}");
        }
    }
}
