//! The statements of the PostgreSQL backend, one file each under `sql/postgres/` (read them
//! there). Shared parts are spliced in at `/*:name*/` markers: the period head
//! (`period.sql`), the budget of a candidate row (`key_budget.sql`), the columns of a key
//! record (`key_record.sql`), the lean statements' reading of a key row (`lean_row.sql`) and
//! their write of it (`lean_set.sql`); a
//! call's filter clause goes where `/*:filter*/` stands (see [`Template`]). Results are read
//! by column name (see `decode.rs`).

use crate::model::KeyFilter;
use crate::store::filter_sql;
use crate::store::template::{Part, Template};

/// The shared parts, in the order they are spliced in.
const PARTS: &[Part] = &[
    (
        "/*:period*/",
        include_str!("../../../sql/postgres/period.sql"),
    ),
    (
        "/*:key_budget*/",
        include_str!("../../../sql/postgres/key_budget.sql"),
    ),
    (
        "/*:key_record*/",
        include_str!("../../../sql/postgres/key_record.sql"),
    ),
    (
        "/*:lean_row*/",
        include_str!("../../../sql/postgres/lean_row.sql"),
    ),
    (
        "/*:lean_set*/",
        include_str!("../../../sql/postgres/lean_set.sql"),
    ),
    (
        "/*:event_columns*/",
        include_str!("../../../sql/postgres/event_columns.sql"),
    ),
];

macro_rules! template {
    ($file:literal) => {
        Template::new(
            include_str!(concat!("../../../sql/postgres/", $file)),
            PARTS,
        )
    };
}

pub(super) static INSERT: Template = template!("insert.sql");
pub(super) static LIST: Template = template!("list.sql");
pub(super) static BUDGET_ROW: Template = template!("budget_row.sql");
pub(super) static INCREMENT_LEAN: Template = template!("increment_lean.sql");
pub(super) static INCREMENT_LEAN_MANY: Template = template!("increment_lean_many.sql");
pub(super) static INCREMENT_BUDGET: Template = template!("increment_budget.sql");
pub(super) static HOLD_LOCK: Template = template!("hold_lock.sql");
pub(super) static EVENT_CLAIM: Template = template!("event_claim.sql");
pub(super) static EVENT_LIST: Template = template!("event_list.sql");

pub(super) const DUPLICATE_KEYS: &str = include_str!("../../../sql/postgres/duplicate_keys.sql");
pub(super) const INSERT_LOCK: &str = include_str!("../../../sql/postgres/insert_lock.sql");
pub(super) const UNDO_INCREMENT: &str = include_str!("../../../sql/postgres/undo_increment.sql");
pub(super) const SET_ACTIVE: &str = include_str!("../../../sql/postgres/set_active.sql");
pub(super) const SET_CONFIGURATION: &str =
    include_str!("../../../sql/postgres/set_configuration.sql");
pub(super) const TABLE_EXISTS: &str = include_str!("../../../sql/postgres/table_exists.sql");
pub(super) const WRAPPED_KEYS: &str = include_str!("../../../sql/postgres/wrapped_keys.sql");
pub(super) const REPLACE_WRAPPED_KEYS: &str =
    include_str!("../../../sql/postgres/replace_wrapped_keys.sql");
pub(super) const REQUEST_CLAIM: &str = include_str!("../../../sql/postgres/request_claim.sql");
pub(super) const REQUEST_FIND: &str = include_str!("../../../sql/postgres/request_find.sql");
pub(super) const REQUEST_RECORD: &str = include_str!("../../../sql/postgres/request_record.sql");
pub(super) const REQUEST_PRUNE: &str = include_str!("../../../sql/postgres/request_prune.sql");
pub(super) const REQUEST_FORGET: &str = include_str!("../../../sql/postgres/request_forget.sql");
pub(super) const HOLD_FIND: &str = include_str!("../../../sql/postgres/hold_find.sql");
pub(super) const HOLD_REQUEST_LOCK: &str =
    include_str!("../../../sql/postgres/hold_request_lock.sql");
pub(super) const HOLD_FINISH: &str = include_str!("../../../sql/postgres/hold_finish.sql");
pub(super) const EVENT_RECORD: &str = include_str!("../../../sql/postgres/event_record.sql");
pub(super) const EVENT_ACK: &str = include_str!("../../../sql/postgres/event_ack.sql");
pub(super) const EVENT_RETRY: &str = include_str!("../../../sql/postgres/event_retry.sql");
pub(super) const COUNT_KEYS: &str = include_str!("../../../sql/postgres/count_keys.sql");

/// The migrations, in order (each idempotent: `CREATE … IF NOT EXISTS`).
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_create_ps_private_access_store.sql"),
    include_str!("../../../migrations/postgres/0002_create_ps_private_access_requests.sql"),
    include_str!("../../../migrations/postgres/0003_create_ps_private_access_holds.sql"),
    include_str!("../../../migrations/postgres/0004_create_ps_private_access_holds_state.sql"),
    include_str!("../../../migrations/postgres/0005_create_ps_private_access_events.sql"),
];

/// The full increment statement for a filter (`sql/postgres/increment_budget.sql`): `$1`
/// timezone, `$2` group, `$3` amount, `$4` enforce, `$5` to `$9` a reservation's parameters
/// (NULL for an increment), then the filter's values from `$10`.
/// Public so the benchmark's diagnostic loop issues exactly this statement (see
/// `benches/increment-pg.sql` and `tests/bench_sql.rs`).
pub fn increment_statement(filter: &KeyFilter) -> String {
    INCREMENT_BUDGET.render(&filter_sql(filter, '$', 10).0)
}
