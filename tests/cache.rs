//! The data-key cache never serves a deactivated, rotated or foreign key, and its bounds hold;
//! on a real SQLite file and a fresh PostgreSQL database.

use std::sync::Arc;
use std::time::Duration;

use policysynth_private_access_store::model::{KeyFilter, NewKey};
use policysynth_private_access_store::secret::{PrivatePem, SecretString};
use policysynth_private_access_store::service::Service;
use policysynth_private_access_store::settings::{self as setting, Settings};
use serde_json::json;
use sqlx::Connection;

mod common;
use common::{private, sealed, PgDb};

fn new_key(group: i64, plaintext: &str) -> NewKey {
    common::new_key(group, None, plaintext, json!({}))
}

fn service(url: &str, entries: u64, age_ms: u64) -> Arc<Service> {
    Arc::new(Service::new(
        Settings::default()
            .with(&setting::DATABASE_URL, url)
            .with(&setting::KEY_CACHE, true)
            .with(&setting::KEY_CACHE_MAX_ENTRIES, entries)
            .with(&setting::KEY_CACHE_MAX_AGE_MS, age_ms),
    ))
}

async fn serve(
    svc: &Service,
    group: i64,
    pem: policysynth_private_access_store::Result<PrivatePem>,
) -> policysynth_private_access_store::Result<Option<String>> {
    let (k, _) = svc
        .increment_usage_and_get_api_key(group, KeyFilter::default(), 1.0, pem)
        .await?;
    Ok(k.map(|k| k.expose().to_owned()))
}

async fn exercise(url: &str, rotate: impl AsyncFn(i64, &str, &str)) {
    let svc = service(url, 2, 60_000);
    let a = svc
        .add_pre_encrypted_key(new_key(1, "sk-a"))
        .await
        .expect("a");
    assert_eq!(
        serve(&svc, 1, private()).await.expect("serve").as_deref(),
        Some("sk-a")
    );
    assert_eq!(svc.key_cache().len(), 1, "the data key was cached");
    assert_eq!(
        serve(&svc, 1, private()).await.expect("serve").as_deref(),
        Some("sk-a")
    );
    assert_eq!(svc.key_cache().len(), 1, "and reused");

    // Deactivated: never served, cache or not.
    assert!(svc.set_key_status(a.id, false).await.expect("status"));
    assert_eq!(serve(&svc, 1, private()).await.expect("serve"), None);
    assert!(svc.set_key_status(a.id, true).await.expect("status"));

    // Rotated in place (same row, new envelope): the new key is served, never the old one.
    let (api, aes) = sealed("sk-a-rotated");
    rotate(a.id, &api, &aes).await;
    assert_eq!(
        serve(&svc, 1, private()).await.expect("serve").as_deref(),
        Some("sk-a-rotated")
    );
    assert_eq!(svc.key_cache().len(), 2);

    // Foreign: another private key misses the cache and cannot open the row.
    let other = rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(rand::rngs::SysRng), 2048)
        .expect("keygen");
    let other_pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&other, Default::default())
        .expect("pem")
        .to_string();
    let before = svc
        .get_usage(a.id)
        .await
        .expect("u")
        .expect("row")
        .total_use;
    let e = serve(&svc, 1, Ok(PrivatePem::new(SecretString::new(other_pem))))
        .await
        .expect_err("foreign key");
    assert_eq!(e.code(), "PSPAS_DECRYPT_FAILED");
    assert_eq!(
        svc.get_usage(a.id)
            .await
            .expect("u")
            .expect("row")
            .total_use,
        before,
        "nothing counted"
    );
    // A tampered ciphertext under a cached data key is still rejected by GCM.
    let mut parts: Vec<String> = api.split(':').map(str::to_owned).collect();
    let flipped = if &parts[2][0..2] == "00" { "01" } else { "00" };
    parts[2].replace_range(0..2, flipped);
    rotate(a.id, &parts.join(":"), &aes).await;
    assert_eq!(
        serve(&svc, 1, private())
            .await
            .expect_err("tampered")
            .code(),
        "PSPAS_DECRYPT_FAILED"
    );

    // Bounded in entries: two more keys push the oldest out.
    svc.add_pre_encrypted_key(new_key(2, "sk-b"))
        .await
        .expect("b");
    svc.add_pre_encrypted_key(new_key(3, "sk-c"))
        .await
        .expect("c");
    assert_eq!(
        serve(&svc, 2, private()).await.expect("serve").as_deref(),
        Some("sk-b")
    );
    assert_eq!(
        serve(&svc, 3, private()).await.expect("serve").as_deref(),
        Some("sk-c")
    );
    assert_eq!(svc.key_cache().len(), 2);
    svc.close().await;

    // Bounded in age.
    let short = service(url, 100, 100);
    assert_eq!(
        serve(&short, 2, private()).await.expect("serve").as_deref(),
        Some("sk-b")
    );
    assert_eq!(short.key_cache().len(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(short.key_cache().len(), 0);
    short.close().await;

    // Switched off: nothing kept.
    let off = Arc::new(Service::new(
        Settings::default()
            .with(&setting::DATABASE_URL, url)
            .with(&setting::KEY_CACHE, false),
    ));
    assert_eq!(
        serve(&off, 3, private()).await.expect("serve").as_deref(),
        Some("sk-c")
    );
    assert!(off.key_cache().is_empty());
    off.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cache() {
    let dir = common::TempDir::new();
    let url = format!("sqlite:{}", dir.path().join("c.sqlite").display());
    let raw = url.clone();
    exercise(&url, async |id, api, aes| {
        let mut c = sqlx::SqliteConnection::connect(&raw).await.expect("sqlite");
        sqlx::query("UPDATE ps_private_access_store SET encrypted_api_key = ?2, encrypted_aes_key = ?3 WHERE id = ?1")
            .bind(id).bind(api).bind(aes).execute(&mut c).await.expect("rotate");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cache() {
    let db = PgDb::fresh("cache").await;
    let url = db.url.clone();
    let raw = url.clone();
    exercise(&url, async |id, api, aes| {
        let mut c = sqlx::PgConnection::connect(&raw).await.expect("pg");
        sqlx::query("UPDATE ps_private_access_store SET encrypted_api_key = $2, encrypted_aes_key = $3 WHERE id = $1")
            .bind(id).bind(api).bind(aes).execute(&mut c).await.expect("rotate");
    })
    .await;
    db.drop().await;
}

/// `close()` drops every cached data key; an idle service's expired keys are swept without a
/// call (the sweeper thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_clears_and_the_sweeper_expires_idle_keys() {
    let dir = common::TempDir::new();
    let url = format!("sqlite:{}", dir.path().join("s.sqlite").display());
    let svc = service(&url, 10, 60_000);
    svc.add_pre_encrypted_key(new_key(1, "sk-close"))
        .await
        .expect("add");
    assert_eq!(
        serve(&svc, 1, private()).await.expect("serve").as_deref(),
        Some("sk-close")
    );
    assert_eq!(svc.key_cache().held(), 1);
    svc.close().await;
    assert_eq!(svc.key_cache().held(), 0, "close() cleared the cache");

    let idle = service(&url, 10, 150);
    assert_eq!(
        serve(&idle, 1, private()).await.expect("serve").as_deref(),
        Some("sk-close")
    );
    assert_eq!(idle.key_cache().held(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // `held` does not expire anything itself: the sweeper did, with no call in between.
    assert_eq!(idle.key_cache().held(), 0, "swept while idle");
    idle.close().await;
}
