//! Operators signing in with an external OpenID Connect issuer: an issuer started in the test
//! (discovery document and JWKS over plain HTTP on 127.0.0.1, one P-256 key) and tokens signed
//! here, presented to a DS configured for that issuer.

use std::net::SocketAddr;

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use t1c_ds::auth::oidc::OidcConfig;
use t1c_ds::clock::Clock as _;
use t1c_testkit::ds::{DsBackend, TestDs};

const AUDIENCE: &str = "t1c-ds";
const KID: &str = "k1";

/// A P-256 signing key and its public JWK.
struct Key {
    encoding: EncodingKey,
    jwk: Value,
}

impl Key {
    fn generate(kid: &str) -> Key {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": B64.encode(point.x().expect("x")), "y": B64.encode(point.y().expect("y")),
        });
        let der = secret.to_pkcs8_der().expect("PKCS#8");
        Key { encoding: EncodingKey::from_ec_der(der.as_bytes()), jwk }
    }
}

/// The issuer: `/.well-known/openid-configuration` and `/jwks`, until stopped.
struct Issuer {
    url: String,
    key: Key,
    server: tokio::task::JoinHandle<()>,
}

impl Issuer {
    async fn start() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address: SocketAddr = listener.local_addr().expect("address");
        let url = format!("http://{address}");
        let key = Key::generate(KID);
        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") });
        let jwks = json!({ "keys": [key.jwk.clone()] });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let discovery = discovery.clone();
                    async move { Json(discovery) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    let jwks = jwks.clone();
                    async move { Json(jwks) }
                }),
            );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Issuer { url, key, server }
    }

    /// Drops the listener and every open connection: the issuer is gone.
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}

/// Claims for an operator with `roles`, valid around `now`.
fn claims(issuer: &str, now: i64, roles: &[&str], organisation: Option<&str>) -> Value {
    let mut claims = json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "3f2a-subject", "preferred_username": "alice",
        "iat": now, "exp": now + 300, "realm_access": { "roles": roles },
    });
    if let Some(organisation) = organisation {
        claims["t1c_organisation"] = organisation.into();
    }
    claims
}

fn sign(key: &Key, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("signs")
}

async fn start() -> (TestDs, Issuer) {
    let issuer = Issuer::start().await;
    let config = OidcConfig {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        ..OidcConfig::default()
    };
    let ds = TestDs::start_with(DsBackend::Sqlite, move |c| c.oidc = Some(config))
        .await
        .expect("DS starts");
    (ds, issuer)
}

impl Issuer {
    fn token(&self, ds: &TestDs, roles: &[&str], organisation: Option<&str>) -> String {
        sign(&self.key, KID, &claims(&self.url, ds.clock().now(), roles, organisation))
    }
}

fn assert_envelope(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
}

async fn create_organisation(ds: &TestDs, token: &str, name: &str) -> (StatusCode, Value) {
    ds.call(Method::POST, "/v3_5/organisations", Some(token), Some(json!({"name": name}))).await
}

#[tokio::test]
async fn platform_admin_creates_an_organisation_audited_as_oidc() {
    let (ds, issuer) = start().await;
    let token = issuer.token(&ds, &["offline_access", "t1c-platform-admin"], None);
    let (status, body) = create_organisation(&ds, &token, "Acme").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, audit) = ds.call(Method::GET, "/v3_5/audit", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entry = audit["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "organisation.create")
        .unwrap_or_else(|| panic!("no organisation.create in {audit}"));
    let actor = entry["actor"].as_str().expect("actor");
    assert!(actor.starts_with("oidc:"), "{actor}");
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn organisation_admin_sees_only_its_own_organisation() {
    let (ds, issuer) = start().await;
    let admin = issuer.token(&ds, &["t1c-platform-admin"], None);
    let a = ds.organisation(&admin, "A").await;
    let b = ds.organisation(&admin, "B").await;
    let org_admin = issuer.token(&ds, &["t1c-organisation-admin"], Some(&a));

    let (status, body) =
        ds.call(Method::GET, &format!("/v3_5/organisations/{a}"), Some(&org_admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        ds.call(Method::GET, &format!("/v3_5/organisations/{b}"), Some(&org_admin), None).await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "112999");
    let (status, body) = ds
        .call(
            Method::POST,
            "/v3_5/labels",
            Some(&org_admin),
            Some(
                json!({"organisation_id": b, "name": "shop", "domains": ["https://shop.example"]}),
            ),
        )
        .await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "112999");
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn analyst_reads_but_may_not_write() {
    let (ds, issuer) = start().await;
    let admin = issuer.token(&ds, &["t1c-platform-admin"], None);
    let a = ds.organisation(&admin, "A").await;
    let analyst = issuer.token(&ds, &["t1c-analyst"], Some(&a));

    let (status, body) =
        ds.call(Method::GET, &format!("/v3_5/organisations/{a}"), Some(&analyst), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = ds
        .call(
            Method::POST,
            "/v3_5/labels",
            Some(&analyst),
            Some(
                json!({"organisation_id": a, "name": "shop", "domains": ["https://shop.example"]}),
            ),
        )
        .await;
    assert_envelope(status, &body, StatusCode::FORBIDDEN, "104030");
    let (status, body) = create_organisation(&ds, &analyst, "Mine").await;
    assert_envelope(status, &body, StatusCode::FORBIDDEN, "104030");
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn expired_foreign_misaddressed_or_misissued_tokens_are_401() {
    let (ds, issuer) = start().await;
    let now = ds.clock().now();
    let roles = ["t1c-platform-admin"];
    let valid = claims(&issuer.url, now, &roles, None);

    let mut expired = valid.clone();
    expired["iat"] = json!(now - 900);
    expired["exp"] = json!(now - 600);
    let mut wrong_audience = valid.clone();
    wrong_audience["aud"] = "account".into();
    let mut wrong_issuer = valid.clone();
    wrong_issuer["iss"] = "http://127.0.0.1:1/realms/other".into();
    // Same kid as the issuer's key, another key: only the signature tells them apart.
    let foreign = Key::generate(KID);

    let cases = [
        ("expired", sign(&issuer.key, KID, &expired)),
        ("wrong audience", sign(&issuer.key, KID, &wrong_audience)),
        ("foreign key", sign(&foreign, KID, &valid)),
        ("wrong issuer", sign(&issuer.key, KID, &wrong_issuer)),
    ];
    for (what, token) in &cases {
        let (status, body) = create_organisation(&ds, token, "Nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_envelope(status, &body, StatusCode::UNAUTHORIZED, "104025");
    }
    // The same claims, properly signed, pass: the refusals above were for the stated reason.
    let (status, body) = create_organisation(&ds, &sign(&issuer.key, KID, &valid), "Yes").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Expiry is judged by the DS's clock, not the system's.
    let token = issuer.token(&ds, &roles, None);
    ds.clock().advance(301 + 30);
    let (status, body) = ds.call(Method::GET, "/v3_5/organisations", Some(&token), None).await;
    assert_envelope(status, &body, StatusCode::UNAUTHORIZED, "104025");
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn issuer_down_with_an_unseen_key_is_503_not_500() {
    let (ds, issuer) = start().await;
    // The DS learns the issuer's keys.
    let token = issuer.token(&ds, &["t1c-platform-admin"], None);
    let (status, body) = ds.call(Method::GET, "/v3_5/organisations", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let url = issuer.url.clone();
    let rotated = Key::generate("k2");
    issuer.stop().await;
    // Past the refetch interval, so an unknown kid makes the DS go to the issuer again.
    ds.clock().advance(t1c_ds::auth::oidc::REFETCH_MIN_INTERVAL_SECS + 1);
    let claims = claims(&url, ds.clock().now(), &["t1c-platform-admin"], None);
    let token = sign(&rotated, "k2", &claims);
    let (status, body) = ds.call(Method::GET, "/v3_5/organisations", Some(&token), None).await;
    assert_envelope(status, &body, StatusCode::SERVICE_UNAVAILABLE, "112503");
    ds.stop().await;
}
