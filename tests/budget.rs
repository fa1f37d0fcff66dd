//! Budgets on both real backends, held to the same behaviour: exact boundary, failover, no
//! usage when refused, events exactly once, day and month rollover (UTC and a timezone), the
//! status API and the count-only switch. The clock is controlled by writing the period
//! bookkeeping into the past.

use std::sync::Arc;

use chrono::Utc;
use policysynth_private_access_store::budget::{EventKind, Period};
use policysynth_private_access_store::model::{IdFilter, KeyFilter, NewKey};
use policysynth_private_access_store::service::Service;
use policysynth_private_access_store::settings::{self as setting, Settings};
use serde_json::{json, Value};
use sqlx::{AssertSqlSafe, Connection};

mod common;
use common::{private, PgDb};

fn key(group: i64, plaintext: &str, max_budget: Value) -> NewKey {
    let mut k = common::new_key(
        group,
        Some(3),
        plaintext,
        json!({"maxBudget": max_budget, "emailNotificationBudgetThresholds": {"daily": 0.8, "monthly": 0.9}}),
    );
    k.user_id = 1;
    k
}

/// Raw access to the backend, to move a key's period bookkeeping into the past.
enum Raw {
    Pg(String),
    Sqlite(String),
}

impl Raw {
    async fn set_usage_field(&self, id: i64, field: &str, value: &str) {
        match self {
            Raw::Pg(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.expect("pg");
                sqlx::query("UPDATE ps_private_access_store SET usage = usage || jsonb_build_object($2::text, $3::text) WHERE id = $1")
                    .bind(id)
                    .bind(field)
                    .bind(value)
                    .execute(&mut c)
                    .await
                    .expect("update");
            }
            Raw::Sqlite(url) => {
                let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
                let sql = format!("UPDATE ps_private_access_store SET usage = json_set(usage, '$.{field}', ?2) WHERE id = ?1");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(id)
                    .bind(value)
                    .execute(&mut c)
                    .await
                    .expect("update");
            }
        }
    }
}

fn service(url: &str, timezone: Option<&str>, enforce: bool) -> Arc<Service> {
    Arc::new(Service::new({
        let s = Settings::default()
            .with(&setting::DATABASE_URL, url)
            .with(&setting::ENFORCE_BUDGETS, enforce);
        match timezone {
            Some(tz) => s.with(&setting::TIMEZONE, tz),
            None => s,
        }
    }))
}

async fn spend(svc: &Service, group: i64, amount: f64) -> (Option<String>, Vec<(i64, EventKind)>) {
    let filter = KeyFilter {
        ai_model_id: IdFilter::Eq(3),
        ..KeyFilter::default()
    };
    let (key, events) = svc
        .increment_usage_and_get_api_key(group, filter, amount, private())
        .await
        .expect("increment");
    (
        key.map(|k| k.expose().to_owned()),
        events.iter().map(|e| (e.key_id, e.kind)).collect(),
    )
}

async fn exercise(url: &str, raw: Raw) {
    let svc = service(url, None, true);
    let a = svc
        .add_pre_encrypted_key(key(
            1,
            "key-a",
            json!({"perDay": 10, "petMonth": 100, "total": null}),
        ))
        .await
        .expect("a");
    let b = svc
        .add_pre_encrypted_key(key(
            1,
            "key-b",
            json!({"perDay": null, "petMonth": null, "total": 3}),
        ))
        .await
        .expect("b");

    // 7 then 1: the daily threshold (0.8 × 10) is crossed by the second call, once.
    assert_eq!(spend(&svc, 1, 7.0).await, (Some("key-a".into()), vec![]));
    assert_eq!(
        spend(&svc, 1, 1.0).await,
        (
            Some("key-a".into()),
            vec![(a.id, EventKind::DailyThreshold)]
        )
    );
    // Landing exactly on the limit is granted; the threshold event is not repeated.
    assert_eq!(spend(&svc, 1, 2.0).await, (Some("key-a".into()), vec![]));
    // Over: key a counts nothing, emits dailyLimit once, and the call fails over to key b.
    assert_eq!(
        spend(&svc, 1, 1.0).await,
        (Some("key-b".into()), vec![(a.id, EventKind::DailyLimit)])
    );
    assert_eq!(
        svc.get_usage(a.id)
            .await
            .expect("u")
            .expect("row")
            .daily_use,
        10.0
    );
    assert_eq!(spend(&svc, 1, 2.0).await, (Some("key-b".into()), vec![]));
    // Neither has room for 1 more: null, b's totalLimit event once.
    assert_eq!(
        spend(&svc, 1, 1.0).await,
        (None, vec![(b.id, EventKind::TotalLimit)])
    );
    assert_eq!(spend(&svc, 1, 1.0).await, (None, vec![]));
    assert_eq!(
        svc.get_usage(b.id)
            .await
            .expect("u")
            .expect("row")
            .total_use,
        3.0
    );

    // The status says why.
    let s = svc
        .get_budget_status(a.id)
        .await
        .expect("status")
        .expect("row");
    assert!(s.is_active && s.enforced);
    assert_eq!(
        (s.daily.used, s.daily.limit, s.daily.remaining),
        (10.0, Some(10.0), Some(0.0))
    );
    assert_eq!(
        (s.monthly.used, s.monthly.limit, s.monthly.remaining),
        (10.0, Some(100.0), Some(90.0))
    );
    let today = Period::at(Utc::now(), chrono_tz::Tz::UTC);
    assert_eq!(s.daily.period_start, Some(today.day_start));
    assert_eq!(s.monthly.period_start, Some(today.month_start));
    assert!(svc
        .get_budget_status(999_999)
        .await
        .expect("status")
        .is_none());

    // Day rollover: a key last used "yesterday" shows 0 today and has room again.
    raw.set_usage_field(a.id, "periodDay", "2000-01-01").await;
    assert_eq!(
        svc.get_usage(a.id)
            .await
            .expect("u")
            .expect("row")
            .daily_use,
        0.0
    );
    let listed = svc
        .get_api_keys(1, KeyFilter::default())
        .await
        .expect("list");
    assert_eq!(
        listed
            .iter()
            .find(|r| r.id == a.id)
            .expect("a")
            .usage
            .daily_use,
        0.0
    );
    assert_eq!(spend(&svc, 1, 4.0).await, (Some("key-a".into()), vec![]));
    let u = svc.get_usage(a.id).await.expect("u").expect("row");
    assert_eq!((u.daily_use, u.monthly_use, u.total_use), (4.0, 14.0, 14.0));

    // Month rollover restarts monthlyUse; the monthly threshold fires once in the new month.
    raw.set_usage_field(a.id, "periodMonth", "2000-01").await;
    assert_eq!(
        svc.get_usage(a.id)
            .await
            .expect("u")
            .expect("row")
            .monthly_use,
        0.0
    );
    svc.set_key_status(b.id, false).await.expect("status");
    let mut monthly_events = 0;
    for _ in 0..3 {
        raw.set_usage_field(a.id, "periodDay", "2000-01-01").await;
        let (got, events) = spend(&svc, 1, 10.0).await;
        assert_eq!(got.as_deref(), Some("key-a"));
        monthly_events += events
            .iter()
            .filter(|(_, k)| *k == EventKind::MonthlyThreshold)
            .count();
    }
    assert_eq!(monthly_events, 0, "30 of 100 is under 0.9 × 100");
    for _ in 0..6 {
        raw.set_usage_field(a.id, "periodDay", "2000-01-01").await;
        let (_, events) = spend(&svc, 1, 10.0).await;
        monthly_events += events
            .iter()
            .filter(|(_, k)| *k == EventKind::MonthlyThreshold)
            .count();
    }
    assert_eq!(monthly_events, 1);
    assert_eq!(
        svc.get_usage(a.id)
            .await
            .expect("u")
            .expect("row")
            .monthly_use,
        90.0
    );

    // Count-only: the original's behaviour, limits ignored.
    svc.close().await;
    let loose = service(url, None, false);
    assert_eq!(spend(&loose, 1, 50.0).await.0.as_deref(), Some("key-a"));
    assert_eq!(
        loose
            .get_usage(a.id)
            .await
            .expect("u")
            .expect("row")
            .total_use,
        154.0
    );
    assert!(
        !loose
            .get_budget_status(a.id)
            .await
            .expect("s")
            .expect("row")
            .enforced
    );
    loose.close().await;

    // A timezone whose date differs from UTC's right now: the period follows it.
    let now = Utc::now();
    let tz_name = ["Pacific/Kiritimati", "Pacific/Pago_Pago"]
        .into_iter()
        .find(|n| {
            Period::at(now, n.parse().expect("tz")).day != Period::at(now, chrono_tz::Tz::UTC).day
        })
        .expect("one of UTC+14 and UTC-11 is on another date");
    let zoned = service(url, Some(tz_name), true);
    let c = zoned
        .add_pre_encrypted_key(key(2, "key-c", json!({"perDay": 5})))
        .await
        .expect("c");
    assert_eq!(spend(&zoned, 2, 5.0).await.0.as_deref(), Some("key-c"));
    let local = Period::at(Utc::now(), tz_name.parse().expect("tz"));
    let s = zoned
        .get_budget_status(c.id)
        .await
        .expect("s")
        .expect("row");
    assert_eq!(
        (s.daily.used, s.daily.period_start),
        (5.0, Some(local.day_start))
    );
    // Stamped with the UTC date instead, the counter belongs to another day of this timezone.
    raw.set_usage_field(
        c.id,
        "periodDay",
        &Period::at(Utc::now(), chrono_tz::Tz::UTC).day,
    )
    .await;
    assert_eq!(
        zoned
            .get_usage(c.id)
            .await
            .expect("u")
            .expect("row")
            .daily_use,
        0.0
    );
    raw.set_usage_field(c.id, "periodDay", &local.day).await;
    assert_eq!(
        spend(&zoned, 2, 1.0).await,
        (None, vec![(c.id, EventKind::DailyLimit)])
    );
    zoned.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_budgets() {
    let dir = common::TempDir::new();
    let url = format!("sqlite:{}", dir.path().join("b.sqlite").display());
    exercise(&url, Raw::Sqlite(url.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_budgets() {
    let db = PgDb::fresh("budget").await;
    exercise(&db.url, Raw::Pg(db.url.clone())).await;
    db.drop().await;
}
