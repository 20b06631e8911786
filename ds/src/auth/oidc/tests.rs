//! Against an issuer served in the test: discovery document, JWKS, a fetch log, and a switch to
//! take it down. Time only moves when a test moves the manual clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::clock::{Clock as _, ManualClock};

const START: i64 = 1_700_000_000;
const AUDIENCE: &str = "t1c-ds";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key the test signs with and its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl TestKey {
    fn es256(kid: &str, seed: u8) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = p256::SecretKey::from_slice(&[seed; 32]).expect("scalar");
        let der = secret.to_pkcs8_der().expect("pkcs8");
        let point = secret.public_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
        });
        Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
        }
    }

    fn ed25519(kid: &str, seed: u8) -> Self {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let der = signing.to_pkcs8_der().expect("pkcs8");
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(signing.verifying_key().as_bytes()),
        });
        Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk,
        }
    }

    /// RSA-2048 without an `alg` in its JWK, so it serves RS256 and PS256.
    fn rsa(kid: &str, alg: Algorithm) -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa");
        let der = private.to_pkcs1_der().expect("pkcs1");
        let jwk = json!({
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": b64(&private.n().to_bytes_be()), "e": b64(&private.e().to_bytes_be()),
        });
        Self { kid: kid.into(), alg, encoding: EncodingKey::from_rsa_der(der.as_bytes()), jwk }
    }

    /// The same private key under another name and algorithm (for mismatch tests).
    fn sign_as(&self, kid: &str, alg: Algorithm, claims: &Value) -> String {
        let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, self.alg, claims)
    }
}

#[derive(Clone)]
struct IssuerState {
    issuer: String,
    keys: Arc<Mutex<Vec<Value>>>,
    /// Clock time of each JWKS fetch.
    fetches: Arc<Mutex<Vec<i64>>>,
    down: Arc<AtomicBool>,
    clock: Arc<ManualClock>,
}

/// The OIDC issuer of a test, on 127.0.0.1 with a free port.
struct Issuer {
    state: IssuerState,
    server: tokio::task::JoinHandle<()>,
}

impl Issuer {
    async fn start(clock: &Arc<ManualClock>, keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = IssuerState {
            issuer: format!("http://127.0.0.1:{port}/realms/t1c"),
            keys: Arc::new(Mutex::new(keys.iter().map(|key| key.jwk.clone()).collect())),
            fetches: Arc::default(),
            down: Arc::default(),
            clock: Arc::clone(clock),
        };
        let app = axum::Router::new()
            .route("/realms/t1c/.well-known/openid-configuration", get(discovery))
            .route("/realms/t1c/protocol/openid-connect/certs", get(jwks))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { state, server }
    }

    fn url(&self) -> &str {
        &self.state.issuer
    }

    fn add_key(&self, key: &TestKey) {
        self.state.keys.lock().unwrap().push(key.jwk.clone());
    }

    fn fetches(&self) -> Vec<i64> {
        self.state.fetches.lock().unwrap().clone()
    }

    fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    fn verifier(&self, clock: &Arc<ManualClock>) -> OidcVerifier {
        verifier_for(self.url(), clock)
    }

    /// Valid claims for an organisation administrator of `org-1`.
    fn claims(&self) -> Value {
        json!({
            "iss": self.url(), "aud": [AUDIENCE, "account"], "sub": "f81d4fae", "azp": "t1c-console",
            "preferred_username": "alice", "iat": START, "exp": START + 300,
            "realm_access": { "roles": ["offline_access", "t1c-organisation-admin"] },
            "t1c_organisation": "org-1",
        })
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(state): State<IssuerState>) -> Response {
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{}/protocol/openid-connect/certs", state.issuer),
    }))
    .into_response()
}

async fn jwks(State(state): State<IssuerState>) -> Response {
    state.fetches.lock().unwrap().push(state.clock.now());
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = state.keys.lock().unwrap().clone();
    Json(json!({ "keys": keys })).into_response()
}

fn verifier_for(issuer: &str, clock: &Arc<ManualClock>) -> OidcVerifier {
    let config =
        OidcConfig { issuer: issuer.into(), audience: AUDIENCE.into(), ..OidcConfig::default() };
    let clock: SharedClock = clock.clone();
    OidcVerifier::new(config, reqwest::Client::new(), clock)
}

fn rejected(reason: &str) -> Result<OidcIdentity, OidcError> {
    Err(OidcError::Rejected(reason.into()))
}

/// One issuer with one ES256 key `k1`, its verifier and the clock at [`START`].
async fn setup() -> (Arc<ManualClock>, TestKey, Issuer, OidcVerifier) {
    let clock = ManualClock::at(START);
    let key = TestKey::es256("k1", 1);
    let issuer = Issuer::start(&clock, &[&key]).await;
    let verifier = issuer.verifier(&clock);
    (clock, key, issuer, verifier)
}

#[tokio::test]
async fn each_role_gives_an_identity() {
    let (_clock, key, issuer, verifier) = setup().await;

    let identity = verifier.verify(&key.sign(&issuer.claims())).await.unwrap();
    assert_eq!(
        identity,
        OidcIdentity {
            subject: "f81d4fae".into(),
            username: Some("alice".into()),
            role: OidcRole::OrganisationAdmin,
            organisation: Some("org-1".into()),
        }
    );

    let mut claims = issuer.claims();
    claims["realm_access"]["roles"] = json!(["t1c-analyst"]);
    let identity = verifier.verify(&key.sign(&claims)).await.unwrap();
    assert_eq!(
        (identity.role, identity.organisation.as_deref()),
        (OidcRole::Analyst, Some("org-1"))
    );

    claims["realm_access"]["roles"] = json!(["t1c-platform-admin"]);
    claims.as_object_mut().unwrap().remove("t1c_organisation");
    let identity = verifier.verify(&key.sign(&claims)).await.unwrap();
    assert_eq!((identity.role, identity.organisation), (OidcRole::PlatformAdmin, None));
}

#[tokio::test]
async fn the_highest_role_wins() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["realm_access"]["roles"] =
        json!(["t1c-analyst", "t1c-platform-admin", "t1c-organisation-admin"]);
    let identity = verifier.verify(&key.sign(&claims)).await.unwrap();
    assert_eq!((identity.role, identity.organisation), (OidcRole::PlatformAdmin, None));
}

#[tokio::test]
async fn roles_and_organisation_come_from_configured_paths() {
    let clock = ManualClock::at(START);
    let key = TestKey::es256("k1", 1);
    let issuer = Issuer::start(&clock, &[&key]).await;
    let config = OidcConfig {
        issuer: issuer.url().into(),
        audience: AUDIENCE.into(),
        roles_claim: "resource_access.t1c-ds.roles".into(),
        organisation_claim: "t1c.organisation".into(),
        analyst_role: "reader".into(),
        ..OidcConfig::default()
    };
    let shared: SharedClock = clock.clone();
    let verifier = OidcVerifier::new(config, reqwest::Client::new(), shared);
    let mut claims = issuer.claims();
    claims["resource_access"] = json!({ "t1c-ds": { "roles": ["reader"] } });
    claims["t1c"] = json!({ "organisation": "org-9" });
    let identity = verifier.verify(&key.sign(&claims)).await.unwrap();
    assert_eq!(
        (identity.role, identity.organisation.as_deref()),
        (OidcRole::Analyst, Some("org-9"))
    );
}

#[tokio::test]
async fn an_expired_token_is_rejected_after_the_leeway() {
    let (clock, key, issuer, verifier) = setup().await;
    let token = key.sign(&issuer.claims());
    clock.set(START + 300 + LEEWAY_SECS);
    assert!(verifier.verify(&token).await.is_ok(), "within the leeway");
    clock.advance(1);
    assert_eq!(verifier.verify(&token).await, rejected("expired"));
}

#[tokio::test]
async fn a_token_without_exp_is_rejected() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("missing claim exp"));
}

#[tokio::test]
async fn a_token_not_yet_valid_is_rejected() {
    let (clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["nbf"] = json!(START + 100);
    let token = key.sign(&claims);
    assert_eq!(verifier.verify(&token).await, rejected("not yet valid"));
    clock.set(START + 100 - LEEWAY_SECS);
    assert!(verifier.verify(&token).await.is_ok(), "within the leeway");
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_rejected() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["iat"] = json!(START + LEEWAY_SECS + 1);
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("issued in the future"));
}

#[tokio::test]
async fn a_wrong_or_missing_issuer_is_rejected() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["iss"] = json!(format!("{}/", issuer.url()));
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("wrong issuer"));
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("missing claim iss"));
}

#[tokio::test]
async fn the_audience_must_be_listed() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["aud"] = json!(AUDIENCE);
    assert!(verifier.verify(&key.sign(&claims)).await.is_ok(), "a single string");
    claims["aud"] = json!(["account"]);
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("wrong audience"));
    claims["aud"] = json!("account");
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("wrong audience"));
    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(verifier.verify(&key.sign(&claims)).await, rejected("missing claim aud"));
}

#[tokio::test]
async fn a_foreign_key_under_a_known_kid_is_rejected() {
    let (_clock, _key, issuer, verifier) = setup().await;
    let foreign = TestKey::es256("k1", 2);
    assert_eq!(verifier.verify(&foreign.sign(&issuer.claims())).await, rejected("bad signature"));
}

#[tokio::test]
async fn a_foreign_key_under_an_unknown_kid_is_unknown() {
    let (_clock, _key, issuer, verifier) = setup().await;
    let foreign = TestKey::es256("stranger", 2);
    assert_eq!(verifier.verify(&foreign.sign(&issuer.claims())).await, Err(OidcError::UnknownKey));
}

#[tokio::test]
async fn alg_none_and_hmac_are_refused() {
    let (_clock, _key, issuer, verifier) = setup().await;
    let claims = b64(issuer.claims().to_string().as_bytes());
    let none = format!("{}.{claims}.", b64(br#"{"alg":"none","kid":"k1"}"#));
    assert_eq!(verifier.verify(&none).await, rejected("algorithm not allowed"));

    // HMAC keyed with the public JWK's text: the classic confusion attack.
    let secret =
        EncodingKey::from_secret(issuer.state.keys.lock().unwrap()[0].to_string().as_bytes());
    let header = Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) };
    let hs256 = jsonwebtoken::encode(&header, &issuer.claims(), &secret).unwrap();
    assert_eq!(verifier.verify(&hs256).await, rejected("algorithm not allowed"));
}

#[tokio::test]
async fn an_algorithm_must_match_its_key_type() {
    let clock = ManualClock::at(START);
    let ec = TestKey::es256("ec", 1);
    let rsa = TestKey::rsa("rsa", Algorithm::RS256);
    let issuer = Issuer::start(&clock, &[&ec, &rsa]).await;
    let verifier = issuer.verifier(&clock);
    let claims = issuer.claims();

    assert!(verifier.verify(&rsa.sign(&claims)).await.is_ok(), "RS256");
    assert!(verifier.verify(&rsa.sign_as("rsa", Algorithm::PS256, &claims)).await.is_ok(), "PS256");
    assert_eq!(
        verifier.verify(&rsa.sign_as("ec", Algorithm::RS256, &claims)).await,
        rejected("algorithm does not match key")
    );
    assert_eq!(
        verifier.verify(&ec.sign_as("rsa", Algorithm::ES256, &claims)).await,
        rejected("algorithm does not match key")
    );
}

#[tokio::test]
async fn eddsa_tokens_verify() {
    let clock = ManualClock::at(START);
    let ed = TestKey::ed25519("ed", 3);
    let issuer = Issuer::start(&clock, &[&ed]).await;
    let verifier = issuer.verifier(&clock);
    assert!(verifier.verify(&ed.sign(&issuer.claims())).await.is_ok());
}

#[tokio::test]
async fn critical_headers_and_missing_kids_are_refused() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut header = Header { kid: Some("k1".into()), ..Header::new(Algorithm::ES256) };
    header.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(&header, &issuer.claims(), &key.encoding).unwrap();
    assert_eq!(
        verifier.verify(&token).await,
        rejected("critical header extensions are not understood")
    );

    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &issuer.claims(), &key.encoding)
            .unwrap();
    assert_eq!(verifier.verify(&token).await, Err(OidcError::Malformed));
    for garbage in ["", "abc", "a.b", "a.b.c", "a.b.c.d.e"] {
        assert_eq!(verifier.verify(garbage).await, Err(OidcError::Malformed), "{garbage:?}");
    }
    assert!(issuer.fetches().is_empty(), "nothing worth a fetch");
}

#[tokio::test]
async fn a_token_without_a_t1c_role_is_refused() {
    let (_clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["realm_access"]["roles"] = json!(["offline_access"]);
    assert_eq!(verifier.verify(&key.sign(&claims)).await, Err(OidcError::NoRole));
    claims.as_object_mut().unwrap().remove("realm_access");
    assert_eq!(verifier.verify(&key.sign(&claims)).await, Err(OidcError::NoRole));
}

#[tokio::test]
async fn organisation_bound_roles_need_the_organisation() {
    let (_clock, key, issuer, verifier) = setup().await;
    for role in ["t1c-organisation-admin", "t1c-analyst"] {
        let mut claims = issuer.claims();
        claims["realm_access"]["roles"] = json!([role]);
        claims.as_object_mut().unwrap().remove("t1c_organisation");
        assert_eq!(
            verifier.verify(&key.sign(&claims)).await,
            Err(OidcError::MissingOrganisation),
            "{role}"
        );
        claims["t1c_organisation"] = json!("");
        assert_eq!(
            verifier.verify(&key.sign(&claims)).await,
            Err(OidcError::MissingOrganisation),
            "{role}"
        );
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_for_concurrent_tokens() {
    let (clock, key, issuer, verifier) = setup().await;
    verifier.verify(&key.sign(&issuer.claims())).await.unwrap();
    assert_eq!(issuer.fetches().len(), 1);

    let new_key = TestKey::es256("k2", 2);
    issuer.add_key(&new_key);
    clock.advance(REFETCH_MIN_INTERVAL_SECS);
    let token = new_key.sign(&issuer.claims());
    let results = join_all((0..20).map(|_| verifier.verify(&token))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(issuer.fetches().len(), 2, "one refetch for all");
    assert!(verifier.verify(&key.sign(&issuer.claims())).await.is_ok(), "the old key still works");
}

#[tokio::test]
async fn a_new_kid_soon_after_a_fetch_waits_for_the_rate_limit() {
    let (clock, key, issuer, verifier) = setup().await;
    verifier.verify(&key.sign(&issuer.claims())).await.unwrap();
    let new_key = TestKey::es256("k2", 2);
    issuer.add_key(&new_key);
    let token = new_key.sign(&issuer.claims());

    clock.advance(REFETCH_MIN_INTERVAL_SECS - 1);
    assert_eq!(verifier.verify(&token).await, Err(OidcError::UnknownKey));
    assert_eq!(issuer.fetches().len(), 1, "no fetch inside the interval");
    clock.advance(1);
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.fetches().len(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_is_rate_limited() {
    let (clock, key, issuer, verifier) = setup().await;
    verifier.verify(&key.sign(&issuer.claims())).await.unwrap();
    let claims = issuer.claims();
    let flood: Vec<String> = (0..50)
        .map(|_| {
            let mut kid = [0u8; 12];
            getrandom::fill(&mut kid).unwrap();
            TestKey::es256(&hex::encode(kid), 2).sign(&claims)
        })
        .collect();

    clock.advance(REFETCH_MIN_INTERVAL_SECS);
    let results = join_all(flood.iter().map(|token| verifier.verify(token))).await;
    assert!(results.iter().all(|r| *r == Err(OidcError::UnknownKey)), "{results:?}");
    assert_eq!(issuer.fetches().len(), 2, "one refetch for the whole flood");

    // Keep flooding for three minutes, one second at a time.
    for _ in 0..180 {
        clock.advance(1);
        let results = join_all(flood.iter().take(5).map(|token| verifier.verify(token))).await;
        assert!(results.iter().all(|r| *r == Err(OidcError::UnknownKey)));
    }
    let fetches = issuer.fetches();
    for (i, &at) in fetches.iter().enumerate() {
        let in_minute = fetches[i..].iter().take_while(|&&t| t - at < 60).count();
        assert!(in_minute <= MAX_FETCHES_PER_MINUTE, "{fetches:?}");
    }
    assert!(fetches.windows(2).all(|w| w[1] - w[0] >= REFETCH_MIN_INTERVAL_SECS), "{fetches:?}");
    assert!(fetches.len() <= 2 + 180 / usize::try_from(REFETCH_MIN_INTERVAL_SECS).unwrap());
}

#[tokio::test]
async fn old_keys_are_fetched_again() {
    let (clock, key, issuer, verifier) = setup().await;
    let claims = issuer.claims();
    verifier.verify(&key.sign(&claims)).await.unwrap();
    clock.advance(MAX_AGE_SECS - 1);
    let mut later = claims.clone();
    later["exp"] = json!(START + 2 * MAX_AGE_SECS);
    verifier.verify(&key.sign(&later)).await.unwrap();
    assert_eq!(issuer.fetches().len(), 1);
    clock.advance(1);
    verifier.verify(&key.sign(&later)).await.unwrap();
    assert_eq!(issuer.fetches().len(), 2);
}

#[tokio::test]
async fn old_keys_serve_while_the_issuer_is_down() {
    let (clock, key, issuer, verifier) = setup().await;
    let mut claims = issuer.claims();
    claims["exp"] = json!(START + 2 * MAX_AGE_SECS);
    let token = key.sign(&claims);
    verifier.verify(&token).await.unwrap();
    issuer.set_down(true);
    clock.advance(MAX_AGE_SECS);
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.fetches().len(), 2, "it tried");
}

#[tokio::test]
async fn an_unreachable_issuer_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let clock = ManualClock::at(START);
    let verifier = verifier_for(&format!("http://127.0.0.1:{port}/realms/t1c"), &clock);
    let key = TestKey::es256("k1", 1);
    let claims = json!({ "iss": "x", "aud": AUDIENCE, "sub": "s", "exp": START + 300 });
    assert!(matches!(verifier.verify(&key.sign(&claims)).await, Err(OidcError::Unavailable(_))));
    assert!(matches!(verifier.verify(&key.sign(&claims)).await, Err(OidcError::Unavailable(_))));
}

#[tokio::test]
async fn an_issuer_that_fails_is_unavailable_until_it_recovers() {
    let (clock, key, issuer, verifier) = setup().await;
    let token = key.sign(&issuer.claims());
    // The JWKS URL is given, so the JWKS fetch itself is what fails.
    let config = OidcConfig {
        issuer: issuer.url().into(),
        audience: AUDIENCE.into(),
        jwks_url: Some(format!("{}/protocol/openid-connect/certs", issuer.url())),
        ..OidcConfig::default()
    };
    let shared: SharedClock = clock.clone();
    let direct = OidcVerifier::new(config, reqwest::Client::new(), shared);
    issuer.set_down(true);
    assert!(matches!(direct.verify(&token).await, Err(OidcError::Unavailable(_))));
    assert!(matches!(verifier.verify(&token).await, Err(OidcError::Unavailable(_))));
    assert_eq!(
        issuer.fetches().len(),
        1,
        "discovery failed before the second verifier's JWKS fetch"
    );

    issuer.set_down(false);
    assert!(
        matches!(direct.verify(&token).await, Err(OidcError::Unavailable(_))),
        "rate-limited retry"
    );
    clock.advance(REFETCH_MIN_INTERVAL_SECS);
    assert!(direct.verify(&token).await.is_ok());
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let (clock, key, issuer, _verifier) = setup().await;
    // The same server, but the verifier expects a differently spelled issuer.
    let verifier = verifier_for(&format!("{}/", issuer.url()), &clock);
    let mut claims = issuer.claims();
    claims["iss"] = json!(format!("{}/", issuer.url()));
    assert!(matches!(verifier.verify(&key.sign(&claims)).await, Err(OidcError::Unavailable(_))));
}

#[tokio::test]
async fn an_unconfigured_verifier_refuses_everything() {
    let clock = ManualClock::at(START);
    let shared: SharedClock = clock.clone();
    let verifier = OidcVerifier::new(OidcConfig::default(), reqwest::Client::new(), shared);
    assert!(matches!(verifier.verify("a.b.c").await, Err(OidcError::Unavailable(_))));
}

#[test]
fn the_config_reads_from_toml_with_keycloak_defaults() {
    let config: OidcConfig =
        toml::from_str("issuer = \"https://idp/realms/t1c\"\naudience = \"t1c-ds\"\n").unwrap();
    assert_eq!(
        config,
        OidcConfig {
            issuer: "https://idp/realms/t1c".into(),
            audience: "t1c-ds".into(),
            ..OidcConfig::default()
        }
    );
    assert_eq!(config.roles_claim, "realm_access.roles");
    assert!(config.is_configured());
    assert!(toml::from_str::<OidcConfig>("isuer = \"x\"").is_err(), "unknown fields are refused");
}

#[tokio::test]
async fn an_id_token_must_be_for_the_client_and_carry_the_nonce() {
    let (clock, key, issuer, verifier) = setup().await;
    let id_token = |changes: Value| {
        let mut claims = json!({
            "iss": issuer.url(), "aud": "dashboard", "sub": "f81d4fae", "nonce": "n-1",
            "iat": START, "exp": START + 300,
        });
        for (name, value) in changes.as_object().expect("object") {
            claims[name] = value.clone();
        }
        key.sign(&claims)
    };
    let check = |token: String| {
        let verifier = &verifier;
        async move { verifier.verify_id_token(&token, "dashboard", "n-1").await }
    };
    assert_eq!(check(id_token(json!({}))).await, Ok("f81d4fae".into()));
    let refused = |reason: &str| Err::<String, _>(OidcError::Rejected(reason.into()));
    assert_eq!(check(id_token(json!({"nonce": "n-2"}))).await, refused("wrong nonce"));
    assert_eq!(check(id_token(json!({"nonce": null}))).await, refused("wrong nonce"));
    assert_eq!(check(id_token(json!({"aud": AUDIENCE}))).await, refused("wrong audience"));
    assert_eq!(
        check(id_token(json!({"aud": ["dashboard", "other"]}))).await,
        refused("azp is not the client")
    );
    assert_eq!(
        check(id_token(json!({"aud": ["dashboard", "other"], "azp": "dashboard"}))).await,
        Ok("f81d4fae".into())
    );
    assert_eq!(check(id_token(json!({"iss": "https://elsewhere"}))).await, refused("wrong issuer"));
    clock.advance(300 + LEEWAY_SECS + 1);
    assert_eq!(check(id_token(json!({}))).await, refused("expired"));
}
