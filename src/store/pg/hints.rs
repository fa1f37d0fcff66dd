//! Lean-path hints: what `increment_lean.sql` needs to decide the calls of one (group,
//! filter), learned from the full statement's granted row and kept per (group, filter).

use std::sync::Arc;

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::increment::Target;
use super::PgStore;
use crate::error::Result;

/// What `increment_lean.sql` needs to decide calls for one (group, filter) without reading
/// the limits out of `configuration` itself: the SHA-256 (hex, computed by PostgreSQL over the
/// jsonb text) of the configuration of the key the full statement last granted there, and the
/// limits and threshold amounts PostgreSQL derived from it, as exact decimal text. The lean
/// statement counts only on a row that still holds exactly this configuration, so a stale hint
/// costs one statement that counts nothing, never a wrong decision. A digest, not the text: a
/// hint is a few hundred bytes whatever the configuration's size, and so is what each call
/// sends.
pub(super) struct LeanHint {
    pub(super) configuration_sha256: String,
    pub(super) limit_day: Option<String>,
    pub(super) limit_month: Option<String>,
    pub(super) limit_total: Option<String>,
    pub(super) day_threshold_at: Option<String>,
    pub(super) month_threshold_at: Option<String>,
}

impl LeanHint {
    /// The hint carried by the granted row of a full statement (its `hint_*` columns).
    pub(super) fn of(row: &PgRow) -> Result<Option<LeanHint>> {
        let text = |c: &str| row.try_get::<Option<String>, _>(c);
        let Some(configuration_sha256) = text("hint_configuration_sha256")? else {
            return Ok(None);
        };
        Ok(Some(LeanHint {
            configuration_sha256,
            limit_day: text("hint_limit_day")?,
            limit_month: text("hint_limit_month")?,
            limit_total: text("hint_limit_total")?,
            day_threshold_at: text("hint_day_threshold_at")?,
            month_threshold_at: text("hint_month_threshold_at")?,
        }))
    }
}

/// Hints kept at most; past this the map starts over (each entry is a digest and a few
/// numbers, so this bounds it to a few megabytes).
const HINTS_MAX: usize = 10_000;

impl PgStore {
    pub(super) fn hint(&self, target: &Target) -> Option<Arc<LeanHint>> {
        let hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        hints.get(&target.key).cloned()
    }

    /// Keep what the full statement learned for `target`; no grant (no key, or every key
    /// refused) drops the hint, so the next call goes straight to the full statement.
    pub(super) fn keep_hint(&self, target: &Target, hint: Option<LeanHint>) {
        let mut hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        match hint {
            Some(h) => {
                if hints.len() >= HINTS_MAX && !hints.contains_key(&target.key) {
                    hints.clear();
                }
                hints.insert(target.key.clone(), Arc::new(h));
            }
            None => {
                hints.remove(&target.key);
            }
        }
    }
}
