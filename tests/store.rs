//! The service and both stores against real databases: a temporary SQLite file and a fresh
//! database on the local PostgreSQL (`PSPAS_TEST_PG_URL`, default
//! `postgres://root@127.0.0.1:5432/test`).

use std::sync::Arc;

use policysynth_private_access_store::model::{ActiveFilter, IdFilter, KeyFilter, NewKey, Picked};
use policysynth_private_access_store::secret::PrivatePem;
use policysynth_private_access_store::service::Service;
use policysynth_private_access_store::settings::{self as setting, Settings};
use policysynth_private_access_store::store::Store;
use serde_json::json;

mod common;
use common::{golden, private, PgDb};

fn new_key(group: i64, model: Option<i64>, plaintext: &str) -> NewKey {
    common::new_key(
        group,
        model,
        plaintext,
        json!({"maxBudget": {"perDay": 1000, "petMonth": 20000, "total": 100000},
            "emailNotificationBudgetThresholds": {"daily": 0.8, "monthly": 0.9}}),
    )
}

fn service(url: String) -> Arc<Service> {
    Arc::new(Service::new(
        Settings::default().with(&setting::DATABASE_URL, url),
    ))
}

/// The behaviour both backends must share.
async fn exercise(svc: Arc<Service>) {
    let a = svc
        .add_pre_encrypted_key(new_key(1, Some(3), "key-a"))
        .await
        .expect("insert a");
    assert_eq!((a.group_id, a.ai_model_id, a.is_active), (1, Some(3), true));
    assert_eq!(a.usage.total_use, 0.0);
    assert!(a.created_at.is_some() && a.last_used_at.is_none());
    assert_eq!(a.configuration["maxBudget"]["petMonth"], json!(20000));
    let b = svc
        .add_pre_encrypted_key(new_key(1, Some(3), "key-b"))
        .await
        .expect("insert b");
    let c = svc
        .add_pre_encrypted_key(new_key(1, None, "key-c"))
        .await
        .expect("insert c");
    svc.add_pre_encrypted_key(new_key(2, Some(3), "key-other-group"))
        .await
        .expect("insert d");

    // Bad input writes nothing.
    let mut bad = new_key(1, Some(3), "x");
    bad.encrypted_api_key = "zz:zz:zz".into();
    assert_eq!(
        svc.add_pre_encrypted_key(bad)
            .await
            .expect_err("bad")
            .code(),
        "PSPAS_INVALID_FORMAT"
    );
    let mut bad = new_key(1, Some(3), "x");
    bad.configuration = json!({"maxBudget": {"total": -5}});
    assert_eq!(
        svc.add_pre_encrypted_key(bad)
            .await
            .expect_err("bad")
            .code(),
        "PSPAS_INVALID_CONFIGURATION"
    );
    assert_eq!(
        svc.get_api_keys(1, KeyFilter::default())
            .await
            .expect("list")
            .len(),
        3
    );

    // Filters: absent, NULL and equality.
    let by_model = KeyFilter {
        ai_model_id: IdFilter::Eq(3),
        ..KeyFilter::default()
    };
    let no_model = KeyFilter {
        ai_model_id: IdFilter::Null,
        ..KeyFilter::default()
    };
    assert_eq!(
        svc.get_api_keys(1, by_model)
            .await
            .expect("list")
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    assert_eq!(
        svc.get_api_keys(1, no_model)
            .await
            .expect("list")
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![c.id]
    );

    // The first active matching key, counted.
    let got = svc
        .increment_usage_and_get_api_key(1, by_model, 5.0, private())
        .await
        .expect("inc")
        .0;
    assert_eq!(got.expect("a key").expose(), "key-a");
    let u = svc.get_usage(a.id).await.expect("usage").expect("row");
    assert_eq!((u.daily_use, u.monthly_use, u.total_use), (5.0, 5.0, 5.0));

    // Deactivated: never served again; the next key by id is.
    assert!(svc.set_key_status(a.id, false).await.expect("status"));
    assert!(!svc.set_key_status(999_999, false).await.expect("status"));
    let got = svc
        .increment_usage_and_get_api_key(1, by_model, 1.0, private())
        .await
        .expect("inc")
        .0;
    assert_eq!(got.expect("a key").expose(), "key-b");
    let listed = svc
        .get_api_keys(1, KeyFilter::default())
        .await
        .expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|r| (r.id, r.is_active))
            .collect::<Vec<_>>(),
        vec![(b.id, true), (c.id, true), (a.id, false)]
    );
    let inactive = KeyFilter {
        is_active: ActiveFilter::Is(false),
        ..KeyFilter::default()
    };
    assert_eq!(svc.get_api_keys(1, inactive).await.expect("list").len(), 1);
    assert!(svc
        .increment_usage_and_get_api_key(7, KeyFilter::default(), 1.0, private())
        .await
        .expect("inc")
        .0
        .is_none());

    // An undecryptable row rejects and counts nothing; so does a missing private key.
    let foreign = {
        let mut k = new_key(5, None, "sealed-for-someone-else");
        let v = &golden()["vectors"][0];
        // One envelope's ciphertext with another envelope's wrapped data key (neither stored
        // yet): the data key opens, GCM refuses.
        k.encrypted_aes_key = golden()["vectors"][1]["encryptedAesKey"]
            .as_str()
            .expect("aes")
            .to_owned();
        k.encrypted_api_key = v["encryptedApiKey"].as_str().expect("api").to_owned();
        k
    };
    let f = svc
        .add_pre_encrypted_key(foreign)
        .await
        .expect("insert foreign");
    let e = svc
        .increment_usage_and_get_api_key(5, KeyFilter::default(), 3.0, private())
        .await
        .expect_err("undecryptable");
    assert_eq!(e.code(), "PSPAS_DECRYPT_FAILED");
    assert_eq!(
        svc.get_usage(f.id)
            .await
            .expect("usage")
            .expect("row")
            .total_use,
        0.0
    );
    let e = svc
        .increment_usage_and_get_api_key(
            1,
            by_model,
            1.0,
            Err::<PrivatePem, _>(policysynth_private_access_store::Error::MissingPrivateKey),
        )
        .await
        .expect_err("no key");
    assert_eq!(
        e.to_string(),
        "RSA_API_ENCRYPTION_PRIVATE_KEY is not set in the environment variables"
    );
    assert_eq!(
        svc.get_usage(b.id)
            .await
            .expect("usage")
            .expect("row")
            .total_use,
        1.0
    );

    // An undo takes the amount off the day and month it was counted in only: a counter that
    // has since restarted (a new day or month) keeps its value; the total always gives it back.
    let counted = svc
        .increment_usage_and_get_api_key(2, KeyFilter::default(), 4.0, private())
        .await
        .expect("count 4");
    assert!(counted.0.is_some());
    let d = svc
        .get_api_keys(2, KeyFilter::default())
        .await
        .expect("list")[0]
        .clone();
    let store = svc.store().await.expect("store");
    let yesterday = Picked {
        id: d.id,
        encrypted_api_key: d.encrypted_api_key.clone(),
        encrypted_aes_key: d.encrypted_aes_key.clone(),
        day: "1999-12-31".into(),
        month: "1999-12".into(),
    };
    store.undo_increment(&yesterday, 4.0).await.expect("undo");
    let u = svc.get_usage(d.id).await.expect("usage").expect("row");
    assert_eq!((u.daily_use, u.monthly_use, u.total_use), (4.0, 4.0, 0.0));

    // Concurrent increments lose nothing.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    svc.increment_usage_and_get_api_key(1, no_model, 1.0, private())
                        .await
                        .expect("inc")
                        .0
                        .expect("key");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        svc.get_usage(c.id)
            .await
            .expect("usage")
            .expect("row")
            .total_use,
        200.0
    );
    assert!(svc.get_usage(123_456).await.expect("usage").is_none());
    svc.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file() {
    let dir = common::TempDir::new();
    let url = format!("sqlite:{}", dir.path().join("store.sqlite").display());
    // Two services on one file: the migration is idempotent.
    service(url.clone()).store().await.expect("first open");
    exercise(service(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let db = PgDb::fresh("cargo").await;
    let url = db.url.clone();
    // Several processes starting at once: concurrent first use creates the table once.
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { service(url).store().await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.expect("task").expect("open");
    }
    exercise(service(url)).await;
    db.drop().await;
}

#[tokio::test]
async fn unreachable_database_names_the_host_not_the_password() {
    let svc = Arc::new(Service::new(
        Settings::default()
            .with(
                &setting::DATABASE_URL,
                "postgres://someone:s3cr3t-pw@127.0.0.1:1/nowhere",
            )
            .with(&setting::ACQUIRE_TIMEOUT_MS, 2000u64),
    ));
    let e = svc.get_usage(1).await.expect_err("unreachable");
    assert_eq!(e.code(), "PSPAS_DB_UNAVAILABLE");
    let msg = e.coded_message();
    assert!(msg.starts_with("PSPAS_DB_UNAVAILABLE: Cannot connect to the database at postgres://127.0.0.1:1/nowhere"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
}
