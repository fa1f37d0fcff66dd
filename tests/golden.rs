//! The envelope format pinned by vectors made with Node's own `crypto` (scripts/make-golden.mjs).

use policysynth_private_access_store::envelope::{self, seal};
use policysynth_private_access_store::rsa_keys::{private_key, public_key};
use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(include_str!("fixtures/golden.json")).expect("golden.json parses")
}

fn key(g: &Value, name: &str) -> String {
    g["keys"][name].as_str().expect("key present").to_owned()
}

#[test]
fn node_vectors_open_with_every_private_pem_form() {
    let g = golden();
    let pkcs8 = key(&g, "privatePkcs8");
    let escaped = pkcs8.replace('\n', "\\n"); // a PEM as written on one line in a .env file
    for pem in [pkcs8.clone(), key(&g, "privatePkcs1"), escaped] {
        let sk = private_key(&pem).expect("private key parses");
        for v in g["vectors"].as_array().expect("vectors") {
            let opened = envelope::open(
                &sk,
                v["encryptedApiKey"].as_str().expect("api"),
                v["encryptedAesKey"].as_str().expect("aes"),
                None,
            )
            .expect("opens");
            assert_eq!(opened.expose(), v["plaintext"].as_str().expect("plaintext"));
        }
    }
}

#[test]
fn sealed_here_opens_here_with_both_public_pem_forms_and_has_the_original_shape() {
    let g = golden();
    let sk = private_key(&key(&g, "privatePkcs8")).expect("private key");
    for pem in [key(&g, "publicSpki"), key(&g, "publicPkcs1")] {
        let pk = public_key(&pem).expect("public key parses");
        let sealed = seal(&pk, "sk-round-trip-é", None).expect("seals");
        let parts: Vec<&str> = sealed.encrypted_api_key.split(':').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            (parts[0].len(), parts[1].len()),
            (32, 32),
            "16-byte IV and tag"
        );
        assert!(sealed
            .encrypted_api_key
            .bytes()
            .all(|b| b == b':' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(envelope::is_valid_base64(&sealed.encrypted_aes_key));
        assert_eq!(
            sealed.encrypted_aes_key.len(),
            344,
            "RSA-2048 ciphertext in padded base64"
        );
        let opened = envelope::open(
            &sk,
            &sealed.encrypted_api_key,
            &sealed.encrypted_aes_key,
            None,
        )
        .expect("opens");
        assert_eq!(opened.expose(), "sk-round-trip-é");
    }
}

#[test]
fn tampering_truncation_and_foreign_keys_are_errors() {
    let g = golden();
    let sk = private_key(&key(&g, "privatePkcs8")).expect("private key");
    let v = &g["vectors"][0];
    let api = v["encryptedApiKey"].as_str().expect("api").to_owned();
    let aes = v["encryptedAesKey"].as_str().expect("aes").to_owned();
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).expect("ascii")
    };
    let code = |a: &str, k: &str| envelope::open(&sk, a, k, None).err().map(|e| e.code());
    assert_eq!(
        code(&flip(&api, api.len() - 1), &aes),
        Some("PSPAS_DECRYPT_FAILED"),
        "ciphertext"
    );
    assert_eq!(
        code(&flip(&api, 40), &aes),
        Some("PSPAS_DECRYPT_FAILED"),
        "tag"
    );
    assert_eq!(
        code(&flip(&api, 3), &aes),
        Some("PSPAS_DECRYPT_FAILED"),
        "iv"
    );
    let mut wrapped = aes.clone();
    wrapped.replace_range(10..11, if &aes[10..11] == "A" { "B" } else { "A" });
    assert_eq!(
        code(&api, &wrapped),
        Some("PSPAS_DECRYPT_FAILED"),
        "wrapped key"
    );
    // A tag cut to 15 bytes matches the start of the real one: Node would accept it; we do not.
    let parts: Vec<&str> = api.split(':').collect();
    let short = format!("{}:{}:{}", parts[0], &parts[1][..30], parts[2]);
    assert_eq!(code(&short, &aes), Some("PSPAS_INVALID_FORMAT"));
    // Another key pair cannot open it.
    let other = rsa::PrivateKey::new(&mut rsa_rng(), 2048).expect("keygen");
    use rsa::pkcs8::EncodePrivateKey;
    let pem = other.to_pkcs8_pem(Default::default()).expect("pem");
    let foreign = private_key(&pem).expect("parses");
    assert_eq!(
        envelope::open(&foreign, &api, &aes, None)
            .err()
            .map(|e| e.code()),
        Some("PSPAS_DECRYPT_FAILED")
    );
}

fn rsa_rng() -> impl rsa::rand_core::CryptoRng {
    rsa::rand_core::UnwrapErr(getrandom_rng())
}

fn getrandom_rng() -> impl rsa::rand_core::TryCryptoRng {
    rand::rngs::SysRng
}

#[test]
fn bad_pem_is_a_coded_error_that_does_not_echo_the_key() {
    let g = golden();
    let mut pem = key(&g, "privatePkcs8");
    pem.replace_range(40..44, "!!!!");
    let e = private_key(&pem).expect_err("rejected");
    assert_eq!(e.code(), "PSPAS_INVALID_RSA_KEY");
    assert!(!e.coded_message().contains("MII"), "{}", e.coded_message());
    assert_eq!(
        public_key("nope").expect_err("rejected").code(),
        "PSPAS_INVALID_RSA_KEY"
    );
}
