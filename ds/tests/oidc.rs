//! Operators signing in with an external OpenID Connect issuer: an issuer started in the test
//! (discovery document, JWKS, authorization and token endpoints over plain HTTP on 127.0.0.1,
//! one P-256 key) and tokens signed here, presented to a DS configured for that issuer, as
//! bearer tokens of the operators' API and through the dashboard's sign-in (authorization code
//! with PKCE, driven as a browser drives it: a cookie jar, following redirects).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Form, Query};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use t1c_ds::auth::oidc::{ClientSecret, OidcConfig};
use t1c_ds::clock::Clock as _;
use t1c_testkit::ds::{DsBackend, TestDs};

const AUDIENCE: &str = "t1c-ds";
const KID: &str = "k1";
/// The dashboard's client at the issuer.
const CLIENT_ID: &str = "t1c-dashboard";
const CLIENT_SECRET: &str = "client-secret-for-tests";

/// A P-256 signing key and its public JWK.
#[derive(Clone)]
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

/// Who signs in at the issuer next, and how the issuer misbehaves.
#[derive(Debug, Clone)]
struct Account {
    roles: Vec<String>,
    organisation: Option<String>,
    /// Seconds since the epoch the tokens are issued at (the DS's clock).
    now: i64,
    /// Put another nonce in the ID token than the sign-in sent.
    wrong_nonce: bool,
}

/// A code the authorization endpoint gave, until the token endpoint takes it.
#[derive(Debug)]
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    account: Account,
}

/// The sign-in side of the issuer: the next account, the codes given, the requests refused.
#[derive(Debug, Default)]
struct Flow {
    account: Option<Account>,
    grants: HashMap<String, Grant>,
    /// Why token requests were refused (for assertions).
    refusals: Vec<String>,
}

/// The issuer: discovery, JWKS, `/authorize` and `/token`, until stopped.
struct Issuer {
    url: String,
    key: Key,
    flow: Arc<Mutex<Flow>>,
    server: tokio::task::JoinHandle<()>,
}

impl Issuer {
    async fn start() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address: SocketAddr = listener.local_addr().expect("address");
        let url = format!("http://{address}");
        let key = Key::generate(KID);
        let flow = Arc::new(Mutex::new(Flow::default()));
        let discovery = json!({
            "issuer": url, "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
            "code_challenge_methods_supported": ["S256"],
        });
        let jwks = json!({ "keys": [key.jwk.clone()] });
        let (authorize_flow, token_flow, token_key, issuer) =
            (Arc::clone(&flow), Arc::clone(&flow), key.clone(), url.clone());
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
            )
            .route(
                "/authorize",
                get(move |Query(query): Query<HashMap<String, String>>| {
                    let flow = Arc::clone(&authorize_flow);
                    async move { authorize(&flow, &query) }
                }),
            )
            .route(
                "/token",
                post(move |Form(form): Form<HashMap<String, String>>| {
                    let (flow, key, issuer) =
                        (Arc::clone(&token_flow), token_key.clone(), issuer.clone());
                    async move { token(&flow, &key, &issuer, &form) }
                }),
            );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Issuer { url, key, flow, server }
    }

    /// The account that signs in next.
    fn signs_in(&self, ds: &TestDs, roles: &[&str], organisation: Option<&str>) {
        self.flow.lock().expect("flow").account = Some(Account {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            organisation: organisation.map(str::to_owned),
            now: ds.clock().now(),
            wrong_nonce: false,
        });
    }

    fn refusals(&self) -> Vec<String> {
        self.flow.lock().expect("flow").refusals.clone()
    }

    /// Drops the listener and every open connection: the issuer is gone.
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}

/// `GET /authorize`: the account of [`Issuer::signs_in`] signs in at once; the code goes back to
/// the redirect URI with the state. Only the authorization code flow with PKCE S256 is served.
fn authorize(flow: &Mutex<Flow>, query: &HashMap<String, String>) -> axum::response::Response {
    let param = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let well_formed = param("response_type") == "code"
        && param("client_id") == CLIENT_ID
        && param("code_challenge_method") == "S256"
        && param("code_challenge").len() == 43
        && param("scope").split(' ').any(|s| s == "openid")
        && !param("state").is_empty()
        && !param("nonce").is_empty()
        && param("redirect_uri").starts_with("https://localhost:")
        && param("redirect_uri").ends_with("/dashboard/oidc/callback");
    if !well_formed {
        return (StatusCode::BAD_REQUEST, format!("bad authorization request {query:?}"))
            .into_response();
    }
    let mut flow = flow.lock().expect("flow");
    let Some(account) = flow.account.clone() else {
        return (StatusCode::FORBIDDEN, "nobody signs in").into_response();
    };
    let mut code = [0u8; 16];
    getrandom::fill(&mut code).expect("random");
    let code = hex::encode(code);
    flow.grants.insert(
        code.clone(),
        Grant {
            redirect_uri: param("redirect_uri").to_owned(),
            challenge: param("code_challenge").to_owned(),
            nonce: param("nonce").to_owned(),
            account,
        },
    );
    let mut back = reqwest::Url::parse(param("redirect_uri")).expect("redirect URI");
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", param("state"));
    Redirect::to(back.as_str()).into_response()
}

/// `POST /token`: a code once, for its client (with its secret), redirect URI and the verifier
/// of its challenge.
fn token(
    flow: &Mutex<Flow>,
    key: &Key,
    issuer: &str,
    form: &HashMap<String, String>,
) -> axum::response::Response {
    let param = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let mut flow = flow.lock().expect("flow");
    let grant = flow.grants.remove(param("code"));
    let refusal = match &grant {
        _ if param("grant_type") != "authorization_code" => Some("grant type"),
        _ if param("client_id") != CLIENT_ID || param("client_secret") != CLIENT_SECRET => {
            Some("client")
        }
        None => Some("unknown or used code"),
        Some(grant) if grant.redirect_uri != param("redirect_uri") => Some("redirect URI"),
        Some(grant) if B64.encode(Sha256::digest(param("code_verifier"))) != grant.challenge => {
            Some("code verifier")
        }
        Some(_) => None,
    };
    if let Some(refusal) = refusal {
        flow.refusals.push(refusal.to_owned());
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let Some(Grant { nonce, account, .. }) = grant else { unreachable!("refused above") };
    let organisation = account.organisation.as_deref();
    let access = sign(key, KID, &claims(issuer, account.now, &account.roles, organisation));
    let id_claims = json!({
        "iss": issuer, "aud": CLIENT_ID, "sub": "3f2a-subject", "preferred_username": "alice",
        "iat": account.now, "exp": account.now + 300,
        "nonce": if account.wrong_nonce { "another-nonce".to_owned() } else { nonce },
    });
    Json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 300,
        "id_token": sign(key, KID, &id_claims),
    }))
    .into_response()
}

/// Claims for an operator with `roles`, valid around `now`.
fn claims(issuer: &str, now: i64, roles: &[impl AsRef<str>], organisation: Option<&str>) -> Value {
    let roles: Vec<&str> = roles.iter().map(AsRef::as_ref).collect();
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
    start_on(DsBackend::Sqlite).await
}

/// A DS on `backend` trusting a new issuer, whose dashboard signs in there as [`CLIENT_ID`].
async fn start_on(backend: DsBackend) -> (TestDs, Issuer) {
    let issuer = Issuer::start().await;
    let config = OidcConfig {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(ClientSecret(CLIENT_SECRET.into())),
        ..OidcConfig::default()
    };
    let ds = TestDs::start_with(backend, move |c| c.oidc = Some(config)).await.expect("DS starts");
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

/// A browser for the dashboard's sign-in: a cookie jar (cookies of the DS's host only, as the
/// issuer sets none) and redirects followed one by one, each answer kept.
struct Browser {
    client: reqwest::Client,
    ds: String,
    cookies: HashMap<String, String>,
    /// Every `Set-Cookie` the DS sent, whole (attributes included).
    set_cookies: Vec<String>,
    /// Every URL requested, in order.
    visited: Vec<String>,
}

/// The answer a chain of redirects ended with.
struct Landed {
    status: StatusCode,
    body: String,
}

impl Browser {
    fn new(ds: &TestDs) -> Self {
        let ca = std::fs::read(ds.ca_certificate().expect("local CA")).expect("CA file");
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
            .build()
            .expect("client");
        Self {
            client,
            ds: ds.url().to_owned(),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
            visited: Vec::new(),
        }
    }

    /// GETs `url` (a path of the DS, or absolute) and follows at most `hops` redirects.
    async fn follow(&mut self, url: &str, hops: usize) -> Landed {
        let mut url =
            if url.starts_with('/') { format!("{}{url}", self.ds) } else { url.to_owned() };
        for hop in 0..=hops {
            self.visited.push(url.clone());
            let mut request = self.client.get(&url);
            let to_ds = url.starts_with(&self.ds);
            if to_ds && !self.cookies.is_empty() {
                let jar: Vec<String> =
                    self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request = request.header("cookie", jar.join("; "));
            }
            let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = response.status();
            for set in response.headers().get_all("set-cookie") {
                let set = set.to_str().expect("cookie").to_owned();
                assert!(to_ds, "only the DS sets cookies");
                let (name, value) =
                    set.split(';').next().and_then(|p| p.split_once('=')).expect("name=value");
                if value.is_empty() || set.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
                self.set_cookies.push(set);
            }
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().expect("location").to_owned());
            let body = response.text().await.unwrap_or_default();
            match location {
                Some(next) if status.is_redirection() && hop < hops => {
                    url = if next.starts_with('/') { format!("{}{next}", self.ds) } else { next };
                }
                _ => return Landed { status, body },
            }
        }
        unreachable!("the last hop returns")
    }

    /// The last URL requested.
    fn at(&self) -> &str {
        self.visited.last().map(String::as_str).unwrap_or_default()
    }

    /// Signs in at the issuer from the login page's button, to the dashboard's overview.
    async fn sign_in(&mut self) -> Landed {
        let login = self.follow("/dashboard/login", 0).await;
        assert!(login.body.contains("href=\"/dashboard/oidc/login\""), "{}", login.body);
        let landed = self.follow("/dashboard/oidc/login", 3).await;
        assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
        assert!(
            landed.body.contains("http-equiv=\"refresh\" content=\"0; url=/dashboard/\""),
            "{}",
            landed.body
        );
        // The page sends the browser on: a navigation of the DS's own, carrying the cookie.
        self.follow("/dashboard/", 0).await
    }

    /// POSTs a dashboard form from the page's origin, with the page's synchronizer token unless
    /// `csrf` is `None`.
    async fn post(&self, path: &str, fields: &[(&str, &str)], csrf: Option<&str>) -> StatusCode {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.client
            .post(format!("{}{path}", self.ds))
            .header("cookie", jar.join("; "))
            .header("origin", &self.ds)
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .expect("POST")
            .status()
    }
}

/// The synchronizer token printed in a page's forms.
fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().expect("token").to_owned()
}

/// A sign-in page that names no secret: no code, state or token of the sign-in.
fn assert_tells_nothing(body: &str, browser: &Browser) {
    for url in &browser.visited {
        if let Some((_, query)) = url.split_once('?') {
            for (_, value) in
                reqwest::Url::parse(&format!("http://x/?{query}")).expect("url").query_pairs()
            {
                assert!(
                    value.len() < 16 || !body.contains(value.as_ref()),
                    "the page repeats {value}: {body}"
                );
            }
        }
    }
    assert!(!body.contains("500") && !body.contains("eyJ"), "{body}");
}

mod dashboard_sign_in {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        a_platform_admin_signs_in_with_pkce_and_works_with_csrf(DsBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        a_platform_admin_signs_in_with_pkce_and_works_with_csrf(DsBackend::Postgres).await;
    }
}

async fn a_platform_admin_signs_in_with_pkce_and_works_with_csrf(backend: DsBackend) {
    let (ds, issuer) = start_on(backend).await;
    issuer.signs_in(&ds, &["t1c-platform-admin"], None);
    let mut browser = Browser::new(&ds);
    let login = browser.follow("/dashboard/login", 0).await;
    let host = issuer.url.trim_start_matches("http://").split(':').next().expect("host").to_owned();
    assert!(login.body.contains(&format!("Sign in with {host}")), "{}", login.body);

    let overview = browser.sign_in().await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(overview.body.contains("oidc:alice (platform-admin)"), "{}", overview.body);
    assert!(issuer.refusals().is_empty(), "{:?}", issuer.refusals());
    // The authorization request carried an S256 challenge (checked by the issuer against the
    // verifier the DS sent), a state and a nonce.
    let authorize = browser.visited.iter().find(|u| u.contains("/authorize?")).expect("authorize");
    assert!(
        authorize.contains("code_challenge_method=S256") && authorize.contains("&nonce="),
        "{authorize}"
    );
    let session = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-t1c-ds-session=t1co_"))
        .expect("an OIDC session cookie")
        .clone();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    let state = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-t1c-ds-oidc="))
        .expect("state cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(state.contains(attribute), "{state}");
    }
    assert!(!browser.cookies.contains_key("__Host-t1c-ds-oidc"), "the state cookie is cleared");

    // Changes need the page's synchronizer token, as for a local account.
    let page = browser.follow("/dashboard/manage/organisations", 0).await;
    let csrf = csrf_in(&page.body);
    let status = browser.post("/dashboard/manage/organisations", &[("name", "Forged")], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status =
        browser.post("/dashboard/manage/organisations", &[("name", "Acme")], Some(&csrf)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let admin = issuer.token(&ds, &["t1c-platform-admin"], None);
    let (_, audit) = ds.call(Method::GET, "/v3_5/audit", Some(&admin), None).await;
    let entries = audit["data"]["items"].as_array().expect("items");
    assert!(
        entries.iter().any(|e| e["action"] == "organisation.create" && e["actor"] == "oidc:alice"),
        "{audit}"
    );
    assert!(!entries.iter().any(|e| e["detail"].to_string().contains("Forged")), "{audit}");

    // The callback is good once: replayed with its state cookie, it is refused.
    let callback = browser
        .visited
        .iter()
        .find(|u| u.contains("/dashboard/oidc/callback?"))
        .expect("callback")
        .clone();
    let state_value = callback.split("state=").nth(1).expect("state").to_owned();
    browser.cookies.insert("__Host-t1c-ds-oidc".into(), state_value);
    let replayed = browser.follow(&callback, 0).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST, "{}", replayed.body);
    assert!(replayed.body.contains("already used or has expired"), "{}", replayed.body);
    assert_tells_nothing(&replayed.body, &browser);
    assert_eq!(issuer.refusals(), Vec::<String>::new(), "the DS did not even try the code again");

    // Signing out ends the OIDC session too.
    let page = browser.follow("/dashboard/", 0).await;
    let status = browser.post("/dashboard/logout", &[], Some(&csrf_in(&page.body))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = format!(
        "__Host-t1c-ds-session={}",
        session.split(';').next().and_then(|p| p.split_once('=')).expect("pair").1
    );
    let after = browser
        .client
        .get(format!("{}/dashboard/", ds.url()))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "back to the login page");
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn an_organisation_admin_signed_in_at_the_issuer_sees_only_its_organisation() {
    let (ds, issuer) = start().await;
    let admin = issuer.token(&ds, &["t1c-platform-admin"], None);
    let alpha = ds.organisation(&admin, "Alpha").await;
    let beta = ds.organisation(&admin, "Beta").await;
    issuer.signs_in(&ds, &["t1c-organisation-admin"], Some(&alpha));
    let mut browser = Browser::new(&ds);
    let overview = browser.sign_in().await;
    assert!(overview.body.contains("oidc:alice (organisation-admin)"), "{}", overview.body);
    let list = browser.follow("/dashboard/manage/organisations", 0).await;
    assert!(list.body.contains("Alpha") && !list.body.contains("Beta"), "{}", list.body);
    let own = browser.follow(&format!("/dashboard/manage/organisations/{alpha}"), 0).await;
    assert_eq!(own.status, StatusCode::OK);
    let other = browser.follow(&format!("/dashboard/manage/organisations/{beta}"), 0).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    assert!(!other.body.contains("Beta"));
    let devices = browser.follow("/dashboard/devices", 0).await;
    assert_eq!(devices.status, StatusCode::FORBIDDEN, "devices are the platform's");
    let csv = browser.follow("/dashboard/transactions.csv?by=organisation", 0).await;
    assert!(!csv.body.contains(&beta) && !csv.body.contains("Beta"), "{}", csv.body);
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn a_wrong_nonce_a_foreign_browser_an_old_state_or_no_role_opens_no_session() {
    let (ds, issuer) = start().await;

    // The ID token carries another nonce than the sign-in sent.
    issuer.signs_in(&ds, &["t1c-platform-admin"], None);
    issuer.flow.lock().expect("flow").account.as_mut().expect("account").wrong_nonce = true;
    let mut browser = Browser::new(&ds);
    let landed = browser.follow("/dashboard/oidc/login", 3).await;
    assert_eq!(landed.status, StatusCode::UNAUTHORIZED, "{}", landed.body);
    assert!(landed.body.contains("could not be verified"), "{}", landed.body);
    assert!(!browser.cookies.contains_key("__Host-t1c-ds-session"));
    assert_tells_nothing(&landed.body, &browser);

    // The issuer's answer arrives in a browser that did not start the sign-in; the one that did
    // still finishes it (the foreign attempt used nothing up).
    issuer.signs_in(&ds, &["t1c-platform-admin"], None);
    let mut starter = Browser::new(&ds);
    starter.follow("/dashboard/oidc/login", 1).await;
    assert!(starter.at().contains("/authorize?"), "{}", starter.at());
    let authorize = starter.at().to_owned();
    let to_callback = starter.client.get(&authorize).send().await.expect("authorize");
    let callback = to_callback.headers()["location"].to_str().expect("location").to_owned();
    let mut stranger = Browser::new(&ds);
    let landed = stranger.follow(&callback, 0).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST, "{}", landed.body);
    assert!(landed.body.contains("not started in this browser"), "{}", landed.body);
    assert!(!stranger.cookies.contains_key("__Host-t1c-ds-session"));
    let landed = starter.follow(&callback, 0).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(starter.cookies.contains_key("__Host-t1c-ds-session"));

    // A sign-in older than its lifetime is refused before its code is exchanged.
    let mut slow = Browser::new(&ds);
    slow.follow("/dashboard/oidc/login", 1).await;
    let authorize = slow.at().to_owned();
    let to_callback = slow.client.get(&authorize).send().await.expect("authorize");
    let callback = to_callback.headers()["location"].to_str().expect("location").to_owned();
    ds.clock().advance(t1c_ds::auth::oidc::signin::LOGIN_LIFETIME_SECS + 1);
    let landed = slow.follow(&callback, 0).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST, "{}", landed.body);
    assert!(landed.body.contains("expired"), "{}", landed.body);

    // Valid tokens granting no T1C role.
    issuer.signs_in(&ds, &["offline_access"], None);
    let mut browser = Browser::new(&ds);
    let landed = browser.follow("/dashboard/oidc/login", 3).await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(landed.body.contains("holds no role"), "{}", landed.body);
    assert!(!browser.cookies.contains_key("__Host-t1c-ds-session"));
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn a_refused_code_or_an_issuer_that_is_down_is_a_page_not_a_500() {
    let (ds, issuer) = start().await;
    issuer.signs_in(&ds, &["t1c-platform-admin"], None);

    // The issuer refuses the code (here: it was taken by someone else first).
    let mut browser = Browser::new(&ds);
    browser.follow("/dashboard/oidc/login", 1).await;
    let authorize = browser.at().to_owned();
    let to_callback = browser.client.get(&authorize).send().await.expect("authorize");
    let callback = to_callback.headers()["location"].to_str().expect("location").to_owned();
    issuer.flow.lock().expect("flow").grants.clear();
    let landed = browser.follow(&callback, 0).await;
    assert_eq!(landed.status, StatusCode::UNAUTHORIZED, "{}", landed.body);
    assert!(landed.body.contains("refused to complete the sign-in"), "{}", landed.body);
    assert_eq!(issuer.refusals(), ["unknown or used code"]);
    assert_tells_nothing(&landed.body, &browser);

    // The issuer goes away between sending the browser back and the code's exchange.
    let mut browser = Browser::new(&ds);
    browser.follow("/dashboard/oidc/login", 1).await;
    let authorize = browser.at().to_owned();
    let to_callback = browser.client.get(&authorize).send().await.expect("authorize");
    let callback = to_callback.headers()["location"].to_str().expect("location").to_owned();
    issuer.stop().await;
    let landed = browser.follow(&callback, 0).await;
    assert_eq!(landed.status, StatusCode::SERVICE_UNAVAILABLE, "{}", landed.body);
    assert!(landed.body.contains("Identity provider unavailable"), "{}", landed.body);
    assert_tells_nothing(&landed.body, &browser);
    ds.stop().await;

    // A DS whose issuer is down before anyone signed in: no discovery, no sign-in.
    let (ds, issuer) = start().await;
    issuer.stop().await;
    let mut browser = Browser::new(&ds);
    let landed = browser.follow("/dashboard/oidc/login", 0).await;
    assert_eq!(landed.status, StatusCode::SERVICE_UNAVAILABLE, "{}", landed.body);
    assert!(landed.body.contains("Identity provider unavailable"), "{}", landed.body);
    assert!(!browser.cookies.contains_key("__Host-t1c-ds-oidc"));
    ds.stop().await;
}

#[tokio::test]
async fn without_a_client_id_the_login_page_offers_no_issuer() {
    let issuer = Issuer::start().await;
    let config = OidcConfig {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        ..OidcConfig::default()
    };
    let ds =
        TestDs::start_with(DsBackend::Sqlite, move |c| c.oidc = Some(config)).await.expect("DS");
    let mut browser = Browser::new(&ds);
    let login = browser.follow("/dashboard/login", 0).await;
    assert!(!login.body.contains("/dashboard/oidc/login"), "{}", login.body);
    let start = browser.follow("/dashboard/oidc/login", 0).await;
    assert_eq!(start.status, StatusCode::NOT_FOUND);
    ds.stop().await;
    issuer.stop().await;
}

#[tokio::test]
async fn starting_sign_ins_counts_against_the_address_budget() {
    let issuer = Issuer::start().await;
    let config = OidcConfig {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(ClientSecret(CLIENT_SECRET.into())),
        ..OidcConfig::default()
    };
    let ds = TestDs::start_with(DsBackend::Sqlite, move |c| {
        c.oidc = Some(config);
        c.api_keys.failures_per_address_per_minute = 3;
    })
    .await
    .expect("DS starts");
    let mut browser = Browser::new(&ds);

    // Each start stores a sign-in until its callback or expiry: no more than the budget.
    for _ in 0..3 {
        let started = browser.follow("/dashboard/oidc/login", 0).await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    }
    let refused = browser.follow("/dashboard/oidc/login", 0).await;

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    ds.stop().await;
    issuer.stop().await;
}
