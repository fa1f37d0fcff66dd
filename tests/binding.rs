//! Group-bound envelopes (see `envelope`'s module doc): a bound data key opens only for its
//! group, not without one, not stripped of its mark; rotation keeps a bound row bound; binding
//! rewraps an unbound row's data key for its group and skips bound rows.

use policysynth_private_access_store::envelope::{self, seal};
use policysynth_private_access_store::keyring::KeyRing;
use policysynth_private_access_store::rotation::{plan_bind, plan_row, BindPlan, Plan, WrappedKey};
use policysynth_private_access_store::rsa_keys::{private_key, public_key, KeySource};
use policysynth_private_access_store::secret::{PrivatePem, SecretString};
use policysynth_private_access_store::Error;

mod common;
use common::golden_key;

fn second(name: &str) -> String {
    let keys: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/second-key.json")).expect("second-key.json");
    keys[name].as_str().expect("key").to_owned()
}

fn row(group_id: i64, sealed: &envelope::SealedKey) -> WrappedKey {
    WrappedKey {
        id: 1,
        group_id,
        encrypted_api_key: sealed.encrypted_api_key.clone(),
        encrypted_aes_key: sealed.encrypted_aes_key.clone(),
    }
}

#[test]
fn a_bound_key_opens_only_for_its_group() {
    let pk = public_key(&golden_key("publicSpki")).expect("public");
    let sk = private_key(&golden_key("privatePkcs8")).expect("private");
    let s = seal(&pk, "sk-bound", Some(7)).expect("seal");
    assert!(envelope::is_group_bound(&s.encrypted_aes_key));
    let open = |aes: &str, group| {
        envelope::open(&sk, &s.encrypted_api_key, aes, group)
            .map(|p| p.expose().to_owned())
            .map_err(|e| e.code())
    };
    assert_eq!(open(&s.encrypted_aes_key, Some(7)), Ok("sk-bound".into()));
    assert_eq!(
        open(&s.encrypted_aes_key, Some(8)),
        Err("PSPAS_DECRYPT_FAILED")
    );
    assert_eq!(
        open(&s.encrypted_aes_key, Some(-7)),
        Err("PSPAS_DECRYPT_FAILED")
    );
    assert_eq!(open(&s.encrypted_aes_key, None), Err("PSPAS_GROUP_BOUND"));
    let stripped = &s.encrypted_aes_key[envelope::GROUP_BOUND_PREFIX.len()..];
    assert_eq!(open(stripped, Some(7)), Err("PSPAS_DECRYPT_FAILED"));
    assert_eq!(open(stripped, None), Err("PSPAS_DECRYPT_FAILED"));
    // An unbound key opens whatever the group: the original's format is unchanged.
    let u = seal(&pk, "sk-unbound", None).expect("seal");
    assert!(!envelope::is_group_bound(&u.encrypted_aes_key));
    for group in [None, Some(7)] {
        let opened = envelope::open(&sk, &u.encrypted_api_key, &u.encrypted_aes_key, group);
        assert_eq!(opened.expect("opens").expose(), "sk-unbound");
    }
    // A bound pair passes the stored-format check; a bare mark does not.
    assert!(envelope::validate_sealed(&s.encrypted_api_key, &s.encrypted_aes_key).is_ok());
    assert!(matches!(
        envelope::validate_sealed(&s.encrypted_api_key, "g1:"),
        Err(Error::InvalidFormat)
    ));
}

#[test]
fn rotation_keeps_a_bound_row_bound_and_binding_rewraps_only_unbound_rows() {
    // Current: the second key pair; previous: the golden one (a rotation in progress).
    let pem = PrivatePem::with_previous(
        SecretString::new(second("privatePkcs8")),
        vec![SecretString::new(golden_key("privatePkcs8"))],
        KeySource::Environment,
    );
    let ring = KeyRing::parse(&pem).expect("ring");
    let current = ring.current_public();
    let old_public = public_key(&golden_key("publicSpki")).expect("public");
    let new_private = private_key(&second("privatePkcs8")).expect("private");

    let bound_old = seal(&old_public, "sk-rotate-bound", Some(5)).expect("seal");
    let Plan::Rewrap(r) = plan_row(&ring, &current, &row(5, &bound_old)).expect("plan") else {
        panic!("a bound row under the previous key is rewrapped");
    };
    assert!(
        envelope::is_group_bound(&r.new),
        "still bound after rotation"
    );
    let opened = envelope::open(&new_private, &bound_old.encrypted_api_key, &r.new, Some(5));
    assert_eq!(opened.expect("opens").expose(), "sk-rotate-bound");
    // The same row copied into group 6: no key opens it there.
    assert!(matches!(
        plan_row(&ring, &current, &row(6, &bound_old)).expect("plan"),
        Plan::CannotOpen
    ));

    let unbound_old = seal(&old_public, "sk-bind", None).expect("seal");
    let BindPlan::Rewrap(b) = plan_bind(&ring, &current, &row(9, &unbound_old)).expect("plan")
    else {
        panic!("an unbound row is bound");
    };
    assert_eq!(b.old, unbound_old.encrypted_aes_key);
    let opened = envelope::open(
        &new_private,
        &unbound_old.encrypted_api_key,
        &b.new,
        Some(9),
    );
    assert_eq!(opened.expect("opens").expose(), "sk-bind");
    assert!(matches!(
        plan_bind(&ring, &current, &row(5, &bound_old)).expect("plan"),
        BindPlan::AlreadyBound
    ));
    // A pair whose data key does not open its ciphertext is not bound.
    let other = seal(&old_public, "sk-other", None).expect("seal");
    let mixed = WrappedKey {
        encrypted_aes_key: other.encrypted_aes_key.clone(),
        ..row(9, &unbound_old)
    };
    assert!(matches!(
        plan_bind(&ring, &current, &mixed).expect("plan"),
        BindPlan::CannotOpen
    ));
}
