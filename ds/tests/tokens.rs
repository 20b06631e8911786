//! Application tokens as connectors see them: verified by the connector's own `JwtVerifier`
//! with keys taken from the DS's JWKS, for every signing algorithm; and key rotation across
//! generations and DS processes, at the `TokenIssuer` level over a real SQLite store.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use t1c_ds::clock::{Clock as _, ManualClock};
use t1c_ds::store::{Label, SqlStore, Store};
use t1c_ds::tokens::{SigningAlgorithm, TokenIssuer, TokenSettings};
use t1c_host::security::jwt::JwtVerifier;
use t1c_testkit::ds::{DsBackend, TestDs};

const ISSUER: &str = "https://ds.test/t1c";

/// The header and claims of a compact JWS, unverified.
fn parts(token: &str) -> (Value, Value) {
    let mut pieces = token.split('.');
    let mut decode = || {
        let piece = pieces.next().expect("a JWS part");
        serde_json::from_slice(&B64.decode(piece).expect("base64url")).expect("JSON")
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}

fn field(jwk: &Value, name: &str) -> Vec<u8> {
    B64.decode(jwk[name].as_str().unwrap_or_else(|| panic!("jwk.{name}"))).expect("base64url")
}

/// A JWK from the DS as the (JOSE algorithm, SPKI PEM) a connector is configured with.
fn jwk_to_pem(jwk: &Value) -> (&'static str, String) {
    let lf = p256::pkcs8::LineEnding::LF;
    match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
        (Some("EC"), Some("P-256")) => {
            use p256::pkcs8::EncodePublicKey;
            let mut sec1 = vec![4u8];
            sec1.extend(field(jwk, "x"));
            sec1.extend(field(jwk, "y"));
            let key = p256::PublicKey::from_sec1_bytes(&sec1).expect("a P-256 point");
            ("ES256", key.to_public_key_pem(lf).expect("PEM"))
        }
        (Some("OKP"), Some("Ed25519")) => {
            use ed25519_dalek::pkcs8::EncodePublicKey;
            let bytes: [u8; 32] = field(jwk, "x").try_into().expect("32 bytes");
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("an Ed25519 key");
            ("EdDSA", key.to_public_key_pem(lf).expect("PEM"))
        }
        (Some("RSA"), _) => {
            use rsa::pkcs8::EncodePublicKey;
            let n = rsa::BigUint::from_bytes_be(&field(jwk, "n"));
            let e = rsa::BigUint::from_bytes_be(&field(jwk, "e"));
            let key = rsa::RsaPublicKey::new(n, e).expect("an RSA key");
            ("RS256", key.to_public_key_pem(lf).expect("PEM"))
        }
        other => panic!("unexpected key type {other:?} in {jwk}"),
    }
}

/// A connector verifier trusting `issuer` and every key of `jwks`.
fn connector_verifier(issuer: &str, jwks: &Value) -> JwtVerifier {
    let mut verifier = JwtVerifier::new(Some(issuer.to_owned()));
    for jwk in jwks["keys"].as_array().expect("keys") {
        let (alg, pem) = jwk_to_pem(jwk);
        assert_eq!(jwk["alg"], alg, "the JWK names its algorithm");
        verifier.add_key_pem(jwk["kid"].as_str().expect("kid"), alg, pem.as_bytes()).expect("key");
    }
    verifier
}

async fn application_token(algorithm: SigningAlgorithm) {
    let ds = TestDs::start_with(DsBackend::Sqlite, |config| {
        config.tokens.algorithm = algorithm;
        config.tokens.issuer = ISSUER.into();
    })
    .await
    .expect("DS starts");
    let admin = ds.admin_token().await;
    let org = ds.organisation(&admin, "Acme").await;
    let (_, key) = ds.label_with_key(&admin, &org, "shop", &["https://shop.example"]).await;

    let response = ds
        .client()
        .get(format!("{}/v3_5/tokens/application", ds.url()))
        .header("apikey", key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["success"], true);
    let token = body["data"].as_str().expect("a token").to_owned();

    let response =
        ds.client().get(format!("{}/.well-known/jwks.json", ds.url())).send().await.expect("jwks");
    assert_eq!(response.status(), 200);
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .expect("Cache-Control")
        .to_owned();
    let max_age: i64 = cache
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache}"));
    assert!(max_age >= 120, "{cache}");
    let jwks: Value = response.json().await.expect("JSON");

    let claims = connector_verifier(ISSUER, &jwks).verify(&token).expect("the connector accepts");
    assert_eq!(claims.label(), Some("shop"));
    assert_eq!(claims.iss.as_deref(), Some(ISSUER));
    assert!(
        connector_verifier("https://other.test", &jwks).verify(&token).is_err(),
        "a connector expecting another issuer refuses it"
    );

    let (header, claims) = parts(&token);
    assert_eq!(header["alg"], algorithm.as_str());
    assert_eq!(header["typ"], "at+jwt");
    let kid = header["kid"].as_str().expect("kid");
    assert!(jwks["keys"].as_array().expect("keys").iter().any(|k| k["kid"] == kid));
    assert_eq!(claims["sub"], "shop");
    assert_eq!(claims["aud"], "t1c-connector");
    assert_eq!(claims["org"], org.as_str());
    assert_eq!(claims["iat"], ds.clock().now());
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 900);
    ds.stop().await;
}

#[tokio::test]
async fn es256_token_verifies_at_the_connector() {
    application_token(SigningAlgorithm::ES256).await;
}

#[tokio::test]
async fn eddsa_token_verifies_at_the_connector() {
    application_token(SigningAlgorithm::EdDSA).await;
}

#[tokio::test]
async fn rs256_token_verifies_at_the_connector() {
    application_token(SigningAlgorithm::RS256).await;
}

#[tokio::test]
async fn default_algorithm_is_es256_and_never_symmetric_or_none() {
    assert_eq!(TokenSettings::default().algorithm, SigningAlgorithm::ES256);
    for algorithm in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA, SigningAlgorithm::RS256] {
        let (store, _dir) = store().await;
        let clock = ManualClock::at(T0);
        let issuer = TokenIssuer::new(store.clone(), clock, TokenSettings { algorithm, ..small() });
        issuer.rotate().await.expect("rotates");
        let (header, _) = parts(&issuer.issue(&label()).expect("issues"));
        let alg = header["alg"].as_str().expect("alg");
        assert!(["ES256", "EdDSA", "RS256"].contains(&alg), "{alg}");
    }
}

// --- Rotation -------------------------------------------------------------------------------

const T0: i64 = 1_700_000_000;

/// Rotation every 1000 s, the next key published 100 s ahead, tokens living 60 s, connectors
/// caching the key set 30 s.
fn small() -> TokenSettings {
    TokenSettings {
        rotation_secs: 1000,
        publish_ahead_secs: 100,
        lifetime_secs: 60,
        connector_cache_secs: 30,
        ..TokenSettings::default()
    }
}

async fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let store = SqlStore::open(&url, 4).await.expect("store opens");
    (Arc::new(store), dir)
}

fn label() -> Label {
    Label {
        id: "l1".into(),
        organisation_id: "o1".into(),
        name: "shop".into(),
        application: "Shop".into(),
        domains: vec!["https://shop.example".into()],
        tags: Vec::new(),
        created_at: T0,
        updated_at: T0,
    }
}

fn kid_of(token: &str) -> String {
    parts(token).0["kid"].as_str().expect("kid").to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect();
    kids.sort();
    kids
}

/// Checks `token`'s signature with the key of its `kid` in `jwks` (times are not checked: the
/// manual clock runs ahead of the system clock).
fn verifies_against(jwks: &Value, token: &str) -> bool {
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("a JWK set");
    let Some(jwk) = set.find(&kid_of(token)) else {
        return false;
    };
    let key = DecodingKey::from_jwk(jwk).expect("a usable key");
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims::<&str>(&[]);
    validation.set_audience(&["t1c-connector"]);
    validation.set_issuer(&["t1c-ds"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[tokio::test]
async fn keys_are_published_ahead_sign_in_turn_and_leave_after_the_last_token() {
    let (store, _dir) = store().await;
    let clock = ManualClock::at(T0);
    let issuer = TokenIssuer::new(store.clone(), clock.clone(), small());

    issuer.rotate().await.expect("first rotation");
    let records = store.signing_keys().await.expect("keys");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].generation, records[0].activates_at), (1, T0));
    let first = records[0].kid.clone();
    assert_eq!(kid_of(&issuer.issue(&label()).expect("token")), first);
    assert_eq!(kids(&issuer.jwks().0), vec![first.clone()]);

    // 100 s before the switch the next key is published, but does not sign yet.
    clock.set(T0 + 901);
    issuer.rotate().await.expect("rotation");
    let records = store.signing_keys().await.expect("keys");
    assert_eq!(records.len(), 2);
    let second = records.iter().find(|k| k.generation == 2).expect("generation 2");
    assert_eq!(second.activates_at, T0 + 1000);
    let second = second.kid.clone();
    let (jwks, max_age) = issuer.jwks();
    assert_eq!(kids(&jwks), sorted([&first, &second]));
    assert!(max_age >= 120);
    assert_eq!(kid_of(&issuer.issue(&label()).expect("token")), first);

    clock.set(T0 + 999);
    let last_of_first = issuer.issue(&label()).expect("token");
    assert_eq!(kid_of(&last_of_first), first);

    // At the switch the second key signs; the first stays published without its private half.
    clock.set(T0 + 1000);
    issuer.rotate().await.expect("rotation");
    assert_eq!(kid_of(&issuer.issue(&label()).expect("token")), second);
    let jwks = issuer.jwks().0;
    assert_eq!(kids(&jwks), sorted([&first, &second]));
    let records = store.signing_keys().await.expect("keys");
    let retired = records.iter().find(|k| k.kid == first).expect("still stored");
    assert_eq!(retired.private_pkcs8, None);
    assert_eq!(retired.published_until, Some(T0 + 1000 + 60 + 30));
    assert!(verifies_against(&jwks, &last_of_first));

    // Until its last token expired and connectors' caches ran out.
    clock.set(T0 + 1090);
    issuer.rotate().await.expect("rotation");
    assert!(kids(&issuer.jwks().0).contains(&first));
    clock.set(T0 + 1091);
    issuer.rotate().await.expect("rotation");
    let jwks = issuer.jwks().0;
    assert_eq!(kids(&jwks), vec![second.clone()]);
    assert!(!verifies_against(&jwks, &last_of_first));
    assert!(store.signing_keys().await.expect("keys").iter().all(|k| k.kid != first));
    assert_eq!(kid_of(&issuer.issue(&label()).expect("token")), second);
}

fn sorted<'a>(kids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut kids: Vec<String> = kids.into_iter().cloned().collect();
    kids.sort();
    kids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_rotating_at_once_make_one_key_per_generation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let clock = ManualClock::at(T0);
    // Two stores (two pools) on one database, as two DS processes have.
    let mut issuers = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, 4).await.expect("store opens"));
        issuers.push(Arc::new(TokenIssuer::new(store, clock.clone(), small())));
    }
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, 1).await.expect("store opens"));

    for (at, generations) in [(T0, 1), (T0 + 901, 2), (T0 + 1000, 2), (T0 + 1901, 3)] {
        clock.set(at);
        let rotations: Vec<_> = issuers
            .iter()
            .map(|issuer| {
                let issuer = Arc::clone(issuer);
                tokio::spawn(async move { issuer.rotate().await })
            })
            .collect();
        for rotation in rotations {
            rotation.await.expect("joins").expect("rotates");
        }
        let records = store.signing_keys().await.expect("keys");
        let mut seen: Vec<i64> = records.iter().map(|k| k.generation).collect();
        seen.sort_unstable();
        let expected: Vec<i64> = (1..=generations).filter(|g| at < T0 + 1091 || *g > 1).collect();
        assert_eq!(seen, expected, "at T0+{}", at - T0);

        let signed: Vec<String> =
            issuers.iter().map(|i| kid_of(&i.issue(&label()).expect("token"))).collect();
        assert_eq!(signed[0], signed[1], "both processes sign with the same key at T0+{}", at - T0);
        let (jwks_a, jwks_b) = (issuers[0].jwks().0, issuers[1].jwks().0);
        assert_eq!(kids(&jwks_a), kids(&jwks_b));
    }
}

#[tokio::test]
async fn a_jwks_cached_for_its_max_age_holds_every_key_that_signs_meanwhile() {
    // Publishing 200 s ahead leaves room for the shortest max-age (120 s) plus one reload.
    let settings = TokenSettings { publish_ahead_secs: 200, ..small() };
    let (store, _dir) = store().await;
    let clock = ManualClock::at(T0);
    let issuer = TokenIssuer::new(store, clock.clone(), settings);
    // (time, published kids, max-age, signing kid), every 10 s over two rotations.
    let mut timeline = Vec::new();
    for t in (T0..T0 + 2200).step_by(10) {
        clock.set(t);
        issuer.rotate().await.expect("rotation");
        let (jwks, max_age) = issuer.jwks();
        let signing = kid_of(&issuer.issue(&label()).expect("token"));
        timeline.push((t, kids(&jwks), max_age, signing));
    }
    for (t, cached, max_age, _) in &timeline {
        for (later, _, _, signing) in timeline.iter().filter(|(u, ..)| u > t && *u < t + max_age) {
            assert!(
                cached.contains(signing),
                "the JWKS fetched at T0+{} (max-age {max_age}) lacks the key signing at T0+{}",
                t - T0,
                later - T0
            );
        }
    }
}
