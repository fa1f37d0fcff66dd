//! Key rotation on both real backends: previous keys open rows during a rotation, a rotation
//! rewraps only `encrypted_aes_key` and is idempotent, a row that changed meanwhile is not
//! overwritten, a row no key opens is reported and left alone, and the new public key must
//! belong to the current private key.

use std::sync::Arc;

use policysynth_private_access_store::envelope::seal;
use policysynth_private_access_store::model::{IdFilter, KeyFilter, NewKey};
use policysynth_private_access_store::rotation::Rewrap;
use policysynth_private_access_store::rsa_keys::{public_key, KeySource};
use policysynth_private_access_store::secret::{PrivatePem, SecretString};
use policysynth_private_access_store::service::Service;
use policysynth_private_access_store::settings::{self as setting, Settings};
use policysynth_private_access_store::store::Store;
use policysynth_private_access_store::Error;
use serde_json::json;

mod common;
use common::{golden_key, PgDb, TempDir};

/// The golden pair is the old key; the new pair is `fixtures/second-key.json`.
fn old_private() -> SecretString {
    SecretString::new(golden_key("privatePkcs8"))
}
fn second(name: &str) -> SecretString {
    let keys: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/second-key.json")).expect("second-key.json");
    SecretString::new(keys[name].as_str().expect("key").to_owned())
}
fn new_private() -> SecretString {
    second("privatePkcs8")
}
fn new_public() -> SecretString {
    second("publicSpki")
}

fn ring(current: SecretString, previous: Vec<SecretString>) -> PrivatePem {
    PrivatePem::with_previous(current, previous, KeySource::Environment)
}

fn service(url: &str) -> Arc<Service> {
    Arc::new(Service::new(
        Settings::default().with(&setting::DATABASE_URL, url),
    ))
}

async fn add(svc: &Service, group: i64, public_pem: &str, plaintext: &str) -> i64 {
    let sealed = seal(&public_key(public_pem).expect("public"), plaintext, None).expect("seal");
    svc.add_pre_encrypted_key(NewKey {
        group_id: group,
        user_id: 1,
        ai_model_id: Some(1),
        external_api_id: None,
        encrypted_api_key: sealed.encrypted_api_key,
        encrypted_aes_key: sealed.encrypted_aes_key,
        configuration: json!({}),
    })
    .await
    .expect("add")
    .id
}

async fn serve(svc: &Service, group: i64, pem: PrivatePem) -> Result<Option<String>, Error> {
    let filter = KeyFilter {
        ai_model_id: IdFilter::Eq(1),
        ..KeyFilter::default()
    };
    svc.increment_usage_and_get_api_key(group, filter, 1.0, Ok(pem))
        .await
        .map(|(k, _)| k.map(|k| k.expose().to_owned()))
}

async fn exercise(url: &str) {
    let svc = service(url);
    let old_public = golden_key("publicSpki");
    let mut ids = Vec::new();
    for g in 1..=7 {
        ids.push(add(&svc, g, &old_public, &format!("sk-{g}")).await);
    }
    // A row whose ciphertext was tampered with: its data key opens, its ciphertext does not.
    let tampered = {
        let sealed = seal(&public_key(&old_public).expect("public"), "sk-t", None).expect("seal");
        let other = seal(&public_key(&old_public).expect("public"), "sk-u", None).expect("seal");
        svc.add_pre_encrypted_key(NewKey {
            group_id: 99,
            user_id: 1,
            ai_model_id: Some(1),
            external_api_id: None,
            encrypted_api_key: other.encrypted_api_key,
            encrypted_aes_key: sealed.encrypted_aes_key,
            configuration: json!({}),
        })
        .await
        .expect("add")
        .id
    };
    let before: Vec<_> = svc
        .store()
        .await
        .expect("store")
        .wrapped_keys(0, 100)
        .await
        .expect("rows");

    // Deployed with the new key only: the old rows cannot be opened, nothing is counted.
    let e = serve(&svc, 1, ring(new_private(), vec![]))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DecryptFailed), "{e:?}");
    assert_eq!(svc.get_usage(ids[0]).await.unwrap().unwrap().total_use, 0.0);
    // With the old key as a previous key, agents are served during the rotation.
    let deployed = || ring(new_private(), vec![old_private()]);
    assert_eq!(
        serve(&svc, 1, deployed()).await.unwrap().as_deref(),
        Some("sk-1")
    );

    // A public key that is not the current private key's is refused; nothing is written.
    let wrong = SecretString::new(old_public.clone());
    let e = svc
        .rotate_batch(0, 100, &deployed(), Some(&wrong))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PSPAS_CONFIG");
    let v = svc.verify_batch(0, 100, &deployed()).await.unwrap();
    assert_eq!((v.ok, v.previous_key), (0, 7));
    assert_eq!(v.cannot_open, vec![tampered]);

    // Rotate in batches of 3.
    let mut after = 0;
    let (mut rotated, mut current) = (0, 0);
    let mut cannot = Vec::new();
    loop {
        let b = svc
            .rotate_batch(after, 3, &deployed(), Some(&new_public()))
            .await
            .unwrap();
        let Some(last) = b.last_id else { break };
        after = last;
        rotated += b.rotated;
        current += b.already_current;
        cannot.extend(b.cannot_open);
        assert_eq!(b.changed_meanwhile, 0);
    }
    assert_eq!((rotated, current, cannot), (7, 0, vec![tampered]));

    // Only encrypted_aes_key changed; the tampered row is untouched.
    let after_rows = svc
        .store()
        .await
        .unwrap()
        .wrapped_keys(0, 100)
        .await
        .unwrap();
    for (b, a) in before.iter().zip(&after_rows) {
        assert_eq!(b.encrypted_api_key, a.encrypted_api_key);
        assert_eq!(b.encrypted_aes_key == a.encrypted_aes_key, b.id == tampered);
    }

    // Again: every row is recognised as current, nothing is rewrapped twice.
    let again = svc.rotate_batch(0, 100, &deployed(), None).await.unwrap();
    assert_eq!((again.rotated, again.already_current), (0, 7));

    // The new key alone opens every rotated row, and agents are served with it.
    let v = svc
        .verify_batch(0, 100, &ring(new_private(), vec![]))
        .await
        .unwrap();
    assert_eq!(
        (v.ok, v.previous_key, v.cannot_open),
        (7, 0, vec![tampered])
    );
    assert_eq!(
        serve(&svc, 2, ring(new_private(), vec![]))
            .await
            .unwrap()
            .as_deref(),
        Some("sk-2")
    );

    // A row whose data key changed between read and write is not overwritten.
    let stale = Rewrap {
        id: ids[3],
        old: "not what is stored".into(),
        new: before[3].encrypted_aes_key.clone(),
    };
    let store = svc.store().await.unwrap();
    assert_eq!(store.replace_wrapped_keys(&[stale]).await.unwrap(), 0);
    assert_eq!(
        serve(&svc, 4, ring(new_private(), vec![]))
            .await
            .unwrap()
            .as_deref(),
        Some("sk-4")
    );
    assert_eq!(store.count_keys().await.unwrap(), 8);
    svc.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rotation() {
    let dir = TempDir::new();
    exercise(&format!("sqlite:{}", dir.path().join("r.sqlite").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rotation() {
    let db = PgDb::fresh("rotation").await;
    exercise(&db.url).await;
    db.drop().await;
}
