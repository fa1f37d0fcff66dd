//! Helpers shared by the integration tests: the golden test keys, sealing, and a fresh
//! PostgreSQL database on the local server (`PSPAS_TEST_PG_URL`, default
//! `postgres://root@127.0.0.1:5432/test`).
#![allow(dead_code)] // each test crate uses its own subset

use policysynth_private_access_store::envelope::seal;
use policysynth_private_access_store::model::NewKey;
use policysynth_private_access_store::rsa_keys::public_key;
use policysynth_private_access_store::secret::{PrivatePem, SecretString};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection};

pub fn golden() -> Value {
    serde_json::from_str(include_str!("../fixtures/golden.json")).expect("golden.json")
}

pub fn golden_key(name: &str) -> String {
    golden()["keys"][name].as_str().expect("key").to_owned()
}

/// The golden private key, as the service takes it.
pub fn private() -> policysynth_private_access_store::Result<PrivatePem> {
    Ok(PrivatePem::new(SecretString::new(golden_key(
        "privatePkcs8",
    ))))
}

/// `(encrypted_api_key, encrypted_aes_key)` sealed with the golden public key.
pub fn sealed(plaintext: &str) -> (String, String) {
    let s = seal(
        &public_key(&golden_key("publicSpki")).expect("public key"),
        plaintext,
        None,
    )
    .expect("seal");
    (s.encrypted_api_key, s.encrypted_aes_key)
}

/// A key of `group` sealed with the golden public key.
pub fn new_key(
    group: i64,
    ai_model_id: Option<i64>,
    plaintext: &str,
    configuration: Value,
) -> NewKey {
    let (encrypted_api_key, encrypted_aes_key) = sealed(plaintext);
    NewKey {
        group_id: group,
        user_id: 2,
        ai_model_id,
        external_api_id: None,
        encrypted_api_key,
        encrypted_aes_key,
        configuration,
    }
}

fn admin_url() -> String {
    std::env::var("PSPAS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

async fn admin_exec(sql: String) {
    let mut c = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("admin connection");
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .expect("admin statement");
}

/// An empty database of its own on the local PostgreSQL.
pub struct PgDb {
    pub url: String,
    name: String,
}

impl PgDb {
    pub async fn fresh(label: &str) -> PgDb {
        let name = format!(
            "pspas_{label}_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        admin_exec(format!("CREATE DATABASE {name}")).await;
        let admin = admin_url();
        let url = format!(
            "{}/{name}",
            admin.rsplit_once('/').expect("url has a path").0
        );
        PgDb { url, name }
    }

    pub async fn drop(self) {
        admin_exec(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

/// A fresh directory under the system temp dir, removed on drop (for SQLite files). Written
/// out here instead of the `tempfile` crate so `cargo test` needs no dependency beyond those
/// `napi build --release` already compiled (its feature set would rebuild sqlx for the tests).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "pspas-test-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}
