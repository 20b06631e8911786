//! The HTTPS server: served with the local CA's certificate, errors in the envelope, the
//! certificate swapped under load with no failed request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use t1c_host::readers::SimulatorBackend;
use t1c_host::security::cors::CorsPolicy;
use t1c_host::security::jwt::JwtVerifier;
use t1c_host::security::policy::SecurityPolicy;
use t1c_host::security::tls::{self, CertificateSource, LocalCa};
use t1c_sdk::simulator::VirtualReader;
use t1c_sdk::simulator::t0::{CardLogic, T0};
use t1c_testkit::{TestConnector, TestConnectorBuilder};

use crate::fixtures::MemoryCard;

pub type Connector = TestConnector;

/// The origins test connectors allow.
const ORIGINS: [&str; 2] = ["https://app.test", "https://*.example.org"];

pub async fn start_connector() -> Connector {
    connector().start().await
}

/// A connector allowing `https://app.test` and `https://*.example.org`, serving the hello
/// module (which claims any 4-byte ATR starting 3B) on one reader holding a [`TestCard`].
fn connector() -> TestConnectorBuilder {
    TestConnector::builder()
        .cors(&ORIGINS)
        .module("t1c-module-hello")
        .readers(Arc::new(SimulatorBackend::new(vec![simulated_reader()])))
}

/// [`connector`] with JWT checked against `jwt`.
async fn start_connector_with(jwt: JwtVerifier) -> Connector {
    let cors = CorsPolicy::new(&ORIGINS).expect("cors");
    connector().policy(SecurityPolicy::new(cors, Some(jwt))).start().await
}

/// The PIN of [`TestCard`]: long and unusual, so a scan of the logs for it cannot match by
/// chance.
pub const TEST_PIN: &str = "73916482";

/// A card with one applet (AID A001) and a PIN ([`TEST_PIN`]) in an ISO 9564 format 2 block.
pub struct TestCard;

impl CardLogic for TestCard {
    fn atr(&self) -> Vec<u8> {
        MemoryCard::ATR.to_vec()
    }
    fn reset(&mut self) {}
    fn execute(&mut self, command: &t1c_sdk::apdu::Command) -> (Vec<u8>, t1c_sdk::StatusWord) {
        use t1c_sdk::StatusWord as Sw;
        match (command.ins(), command.data()) {
            (0xA4, [0xA0, 0x01]) => (Vec::new(), Sw::SUCCESS),
            (0xA4, _) => (Vec::new(), Sw::FILE_NOT_FOUND),
            (0x20, [0x28, 0x73, 0x91, 0x64, 0x82, ..]) => (Vec::new(), Sw::SUCCESS),
            (0x20, _) => (Vec::new(), Sw::from_u16(0x63C2)),
            _ => (Vec::new(), Sw::INS_NOT_SUPPORTED),
        }
    }
}

fn simulated_reader() -> VirtualReader {
    let reader = VirtualReader::new("Test Reader 00");
    reader.insert(Box::new(T0::new(TestCard)));
    reader
}

pub fn client(connector: &Connector) -> reqwest::Client {
    connector.client()
}

pub fn url(connector: &Connector, path: &str) -> String {
    connector.url(path)
}

#[tokio::test]
async fn info_is_served_over_https_trusted_through_the_local_ca() {
    let connector = start_connector().await;
    let response = client(&connector).get(url(&connector, "/info")).send().await.expect("https");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["t1CInfoAPI"]["modules"], serde_json::json!(["hello"]));
    assert_eq!(
        body["data"]["t1CInfoAPI"]["cors"],
        serde_json::json!(["https://app.test", "https://*.example.org"])
    );
    assert_eq!(body["data"]["t1CInfoUser"]["username"], "", "no personal data in /info");
    connector.shutdown().await;
}

#[tokio::test]
async fn a_client_without_the_ca_refuses_the_connection() {
    let connector = start_connector().await;
    let stranger = reqwest::Client::builder()
        .resolve("localhost", connector.address())
        .build()
        .expect("client");
    assert!(stranger.get(url(&connector, "/info")).send().await.is_err());
    connector.shutdown().await;
}

#[tokio::test]
async fn unknown_route_is_112999_in_the_envelope() {
    let connector = start_connector().await;
    let response =
        client(&connector).get(url(&connector, "/v3/nothing-here")).send().await.expect("https");
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"success": false, "code": "112999", "description": "Functionality not found"})
    );
    connector.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let connector = start_connector().await;
    let response = client(&connector)
        .get(url(&connector, "/info"))
        .header("x-padding", "a".repeat(64 << 10))
        .send()
        .await;
    match response {
        Ok(response) => assert!(response.status().is_client_error(), "{}", response.status()),
        Err(err) => assert!(err.is_request() || err.is_connect() || err.is_body(), "{err}"),
    }
    connector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_swap_under_load_fails_no_request() {
    let connector = start_connector().await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, target, stop, served) =
            (client(&connector), url(&connector, "/info"), stop.clone(), served.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = http.get(&target).send().await.expect("no failed request");
                assert_eq!(response.status(), 200);
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Swap in newly issued leaves (same CA) while requests run.
    let dir = connector.data_dir().join("tls");
    let before = connector.certificates().chain()[0].clone();
    for _ in 0..5 {
        LocalCa::open_or_create(&dir).expect("ca").issue_leaf(&[]).expect("new leaf");
        let source = CertificateSource::LocalCa { dir: dir.clone(), dns_names: vec![] };
        connector.certificates().swap(tls::load(&source).expect("new leaf"));
        let target = served.load(Ordering::Relaxed) + 20;
        while served.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    assert_ne!(connector.certificates().chain()[0], before, "the leaf was swapped");
    // A fresh connection sees the new leaf.
    let fresh = client(&connector).get(url(&connector, "/info")).send().await.expect("https");
    assert_eq!(fresh.status(), 200);
    connector.shutdown().await;
}

#[tokio::test]
async fn listed_origin_gets_cors_headers_with_credentials() {
    let connector = start_connector().await;
    for origin in ["https://app.test", "https://shop.example.org"] {
        let response = client(&connector)
            .get(url(&connector, "/info"))
            .header("origin", origin)
            .send()
            .await
            .expect("https");
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], origin);
        assert_eq!(headers["access-control-allow-credentials"], "true");
        assert_eq!(headers["vary"], "Origin");
    }
    connector.shutdown().await;
}

#[tokio::test]
async fn unlisted_and_tricky_origins_get_403_without_cors_headers() {
    let connector = start_connector().await;
    for origin in [
        "https://evil.test",
        "null",
        "https://app.test.evil.test",
        "https://evil-app.test",
        "https://APP.test",
        "https://app.test.",
        "https://user@app.test",
        "https://app.test:8443",
        "http://app.test",
        "https://example.org",
    ] {
        let response = client(&connector)
            .get(url(&connector, "/info"))
            .header("origin", origin)
            .send()
            .await
            .expect("https");
        assert_eq!(response.status(), 403, "{origin}");
        assert!(response.headers().get("access-control-allow-origin").is_none(), "{origin}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["code"], "104030");
    }
    connector.shutdown().await;
}

#[tokio::test]
async fn private_network_preflight_is_answered_for_listed_origins_only() {
    let connector = start_connector().await;
    let preflight = |origin: &'static str| {
        client(&connector)
            .request(reqwest::Method::OPTIONS, url(&connector, "/v3/readers"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization, x-csrf-token")
            .header("access-control-request-private-network", "true")
            .send()
    };
    let allowed = preflight("https://app.test").await.expect("https");
    assert_eq!(allowed.status(), 204);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-private-network"], "true");
    assert_eq!(headers["access-control-allow-origin"], "https://app.test");
    assert!(
        headers["access-control-allow-headers"].to_str().expect("ascii").contains("x-csrf-token")
    );
    let refused = preflight("https://evil.test").await.expect("https");
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("access-control-allow-private-network").is_none());
    connector.shutdown().await;
}

#[tokio::test]
async fn device_key_is_a_pem_public_key() {
    let connector = start_connector().await;
    let body: serde_json::Value = client(&connector)
        .get(url(&connector, "/device-key"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    let pem = body["data"].as_str().expect("string");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    connector.shutdown().await;
}

#[tokio::test]
async fn with_jwt_on_only_info_and_device_key_are_open() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut verifier = JwtVerifier::new(None);
    verifier.add_key_pem("ds", "ES256", key.public_key_pem().as_bytes()).expect("key");
    let connector = start_connector_with(verifier).await;
    let http = client(&connector);
    for open in ["/info", "/device-key"] {
        assert_eq!(http.get(url(&connector, open)).send().await.expect("https").status(), 200);
    }
    let refused = http.get(url(&connector, "/v3/readers")).send().await.expect("https");
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["code"], "104025");

    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ds".into());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 300;
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "label", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("key"),
    )
    .expect("token");
    let passed = http
        .get(url(&connector, "/v3/no-such-route"))
        .bearer_auth(token)
        .send()
        .await
        .expect("https");
    assert_eq!(passed.status(), 404, "the token passed the guard");
    connector.shutdown().await;
}

#[tokio::test]
async fn a_header_that_counts_once_sent_twice_is_a_400() {
    let connector = start_connector().await;
    let http = client(&connector);
    for (name, first, second) in [
        ("authorization", "Bearer a", "Bearer b"),
        ("origin", "https://app.test", "https://evil.test"),
        ("origin", "https://app.test", "https://app.test"),
        ("x-t1c-billing-tag", "one", "two"),
    ] {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append(name, first.parse().expect("value"));
        headers.append(name, second.parse().expect("value"));
        let response =
            http.get(url(&connector, "/info")).headers(headers).send().await.expect("https");
        assert_eq!(response.status(), 400, "{name}");
        assert!(response.headers().get("access-control-allow-origin").is_none(), "{name}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(
            (body["success"].as_bool(), body["code"].as_str()),
            (Some(false), Some("106997"))
        );
    }
    // Once each is fine.
    let response = http
        .get(url(&connector, "/info"))
        .header("origin", "https://app.test")
        .header("x-t1c-billing-tag", "one")
        .send()
        .await
        .expect("https");
    assert_eq!(response.status(), 200);
    connector.shutdown().await;
}

#[tokio::test]
async fn readers_list_the_card_and_the_modules_that_claim_it() {
    let connector = start_connector().await;
    let body: serde_json::Value = client(&connector)
        .get(url(&connector, "/v3/readers?excluded=hello"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    let reader = &body["data"][0];
    assert_eq!(reader["name"], "Test Reader 00");
    assert_eq!(reader["id"].as_str().map(str::len), Some(16));
    assert_eq!(reader["pinpad"], false);
    assert_eq!(reader["card"]["atr"], "3B981340");
    assert_eq!(reader["card"]["modules"], serde_json::json!(["hello"]));
    assert_eq!(reader["card"]["module"], serde_json::json!(["hello"]));
    let data = body["data"].to_string();
    assert!(
        connector.device_key().verify(data.as_bytes(), body["signature"].as_str().expect("signed"))
    );

    let id = reader["id"].as_str().expect("id");
    let one: serde_json::Value = client(&connector)
        .get(url(&connector, &format!("/v3/readers/{id}")))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert_eq!(one["data"]["name"], "Test Reader 00");
    connector.shutdown().await;
}

#[tokio::test]
async fn reader_filters_and_bad_ids() {
    let connector = start_connector().await;
    let http = client(&connector);
    let get = |path: &str| http.get(url(&connector, path)).send();
    let without_card: serde_json::Value =
        get("/v3/readers?cardInserted=false").await.expect("https").json().await.expect("json");
    assert_eq!(without_card["data"], serde_json::json!([]));
    let excluded: serde_json::Value =
        get("/v3/readers?excluded=test%20reader").await.expect("https").json().await.expect("json");
    assert_eq!(excluded["data"], serde_json::json!([]));
    assert_eq!(get("/v3/readers?cardInserted=maybe").await.expect("https").status(), 400);
    assert_eq!(get("/v3/readers/NOT-AN-ID").await.expect("https").status(), 400);
    assert_eq!(get("/v3/readers/0123456789abcdef").await.expect("https").status(), 404);
    let atrs: serde_json::Value = get("/atrs").await.expect("https").json().await.expect("json");
    assert_eq!(atrs["data"][0]["module"], "hello");
    connector.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limit_get_503_in_the_envelope() {
    let connector = connector().listeners(|s| s.max_connections = 1).start().await;
    // The first client keeps its connection open (keep-alive), holding the only slot.
    let first = client(&connector);
    assert_eq!(first.get(url(&connector, "/info")).send().await.expect("https").status(), 200);
    let second = client(&connector).get(url(&connector, "/info")).send().await.expect("https");
    assert_eq!(second.status(), 503);
    let body: serde_json::Value = second.json().await.expect("json");
    assert_eq!(body["code"], "106503");
    drop(first);
    connector.shutdown().await;
}

pub async fn reader_id(connector: &Connector) -> String {
    let body: serde_json::Value = client(connector)
        .get(url(connector, "/v3/readers"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    body["data"][0]["id"].as_str().expect("a reader").to_owned()
}

pub fn encrypted_pin(connector: &Connector, pin: &str) -> String {
    connector.encrypted_pin(pin)
}

#[tokio::test]
async fn module_routes_run_the_module_on_the_reader() {
    let connector = start_connector().await;
    let http = client(&connector);
    let id = reader_id(&connector).await;
    let base = format!("/v3/modules/hello/apps/token/readers/{id}");

    let info: serde_json::Value = http
        .get(url(&connector, &format!("{base}/info")))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert_eq!(info["data"], serde_json::json!({"atrLength": 4}));
    assert!(
        connector.device_key().verify(
            info["data"].to_string().as_bytes(),
            info["signature"].as_str().expect("signed")
        )
    );

    let select: serde_json::Value = http
        .post(url(&connector, &format!("{base}/select")))
        .json(&serde_json::json!({"aid": "A001"}))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert_eq!(select["data"], serde_json::json!({"status": "9000"}));

    let version: serde_json::Value = http
        .get(url(&connector, "/v3/modules/hello/apps/token/version"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert_eq!(version["data"]["version"], "0.1.0");
    connector.shutdown().await;
}

/// `POST verify-pin` with `body` on the first reader of `connector`.
async fn verify_pin_with(connector: &Connector, body: serde_json::Value) -> reqwest::Response {
    let id = reader_id(connector).await;
    client(connector)
        .post(url(connector, &format!("/v3/modules/hello/apps/token/readers/{id}/verify-pin")))
        .json(&body)
        .send()
        .await
        .expect("https")
}

#[tokio::test]
async fn a_plain_pin_is_accepted_by_default_as_t1c_sdk_js_sends_it() {
    let connector = start_connector().await;
    let answer = verify_pin_with(&connector, serde_json::json!({"pin": TEST_PIN})).await;
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(answer["data"], serde_json::json!({"verified": true}));
    connector.shutdown().await;
}

#[tokio::test]
async fn with_plain_pins_off_only_an_encrypted_pin_reaches_the_card() {
    let connector = connector().config(|c| c.pin.accept_plain = false).start().await;
    // A wrong plain PIN would cost a try; refused before the card, it costs none.
    for plain in [
        serde_json::json!({"pin": "9876"}),
        serde_json::json!({"pin": TEST_PIN, "base64Encoded": false}),
    ] {
        let refused = verify_pin_with(&connector, plain).await;
        assert_eq!(refused.status(), 400);
        let body: serde_json::Value = refused.json().await.expect("json");
        assert_eq!(body["code"], "106997");
        assert!(body["description"].as_str().expect("text").contains("base64Encoded"), "{body}");
    }
    // Had the refused wrong PIN reached the card, a wrong one now would leave 1 try, not 2.
    let wrong = encrypted_pin(&connector, "9876");
    let wrong =
        verify_pin_with(&connector, serde_json::json!({"pin": wrong, "base64Encoded": true})).await;
    let wrong: serde_json::Value = wrong.json().await.expect("json");
    assert!(wrong["description"].as_str().expect("text").contains("2 tries left"), "{wrong}");
    let encrypted = encrypted_pin(&connector, TEST_PIN);
    let answer =
        verify_pin_with(&connector, serde_json::json!({"pin": encrypted, "base64Encoded": true}))
            .await;
    assert_eq!(answer.status(), 200, "an encrypted PIN still works");
    connector.shutdown().await;
}

#[tokio::test]
async fn verify_pin_decrypts_the_pin_and_reports_tries_left() {
    let connector = start_connector().await;
    let http = client(&connector);
    let id = reader_id(&connector).await;
    let verify = |pin: String| {
        http.post(url(&connector, &format!("/v3/modules/hello/apps/token/readers/{id}/verify-pin")))
            .json(&serde_json::json!({"pin": pin, "base64Encoded": true}))
            .send()
    };
    let right: serde_json::Value = verify(encrypted_pin(&connector, TEST_PIN))
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert_eq!(right["data"], serde_json::json!({"verified": true}));

    let wrong = verify(encrypted_pin(&connector, "9876")).await.expect("https");
    assert_eq!(wrong.status(), 400);
    let wrong: serde_json::Value = wrong.json().await.expect("json");
    assert_eq!(wrong["code"], "208001");
    assert!(wrong["description"].as_str().expect("text").contains("2 tries left"));
    assert!(!wrong.to_string().contains("9876"));

    let garbage = verify("bm90IGVuY3J5cHRlZA==".into()).await.expect("https");
    assert_eq!(garbage.status(), 400);
    let garbage: serde_json::Value = garbage.json().await.expect("json");
    assert_eq!(garbage["code"], "104006");
    connector.shutdown().await;
}

#[tokio::test]
async fn unknown_module_reader_and_operation_are_distinct_errors() {
    let connector = start_connector().await;
    let http = client(&connector);
    let id = reader_id(&connector).await;
    let code = |path: String| {
        let http = http.clone();
        let target = url(&connector, &path);
        async move {
            let response = http.get(target).send().await.expect("https");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("json");
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    };
    assert_eq!(
        code(format!("/v3/modules/nope/apps/token/readers/{id}/info")).await,
        (404, "111404".into())
    );
    assert_eq!(
        code("/v3/modules/hello/apps/token/readers/0123456789abcdef/info".into()).await,
        (404, "701404".into())
    );
    assert_eq!(
        code(format!("/v3/modules/hello/apps/token/readers/{id}/nothing")).await,
        (404, "112999".into())
    );
    assert_eq!(
        code(format!("/v3/modules/hello/apps/token/readers/{id}/select")).await,
        (404, "112999".into()),
        "select is POST only"
    );
    connector.shutdown().await;
}

#[tokio::test]
async fn openapi_document_describes_the_routes() {
    let connector = start_connector().await;
    let doc: serde_json::Value = client(&connector)
        .get(url(&connector, "/openapi.json"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in ["/info", "/device-key", "/v3/readers", "/v3/readers/{id}", "/atrs"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(
        doc["paths"]["/v3/modules/{module}/apps/{app}/readers/{reader}/{operation}"]["post"]
            .is_object()
    );
    connector.shutdown().await;
}

#[tokio::test]
async fn successful_operations_are_counted_with_label_and_tag() {
    let connector = start_connector().await;
    let http = client(&connector);
    let id = reader_id(&connector).await;
    for _ in 0..3 {
        let response = http
            .post(url(&connector, &format!("/v3/modules/hello/apps/token/readers/{id}/verify-pin")))
            .header("x-t1c-billing-tag", "shop-42")
            .json(&serde_json::json!({"pin": encrypted_pin(&connector, TEST_PIN), "base64Encoded": true}))
            .send()
            .await
            .expect("https");
        assert_eq!(response.status(), 200);
    }
    // A failed operation is not counted.
    http.post(url(&connector, &format!("/v3/modules/hello/apps/token/readers/{id}/verify-pin")))
        .json(&serde_json::json!({"pin": encrypted_pin(&connector, "58204719"), "base64Encoded": true}))
        .send()
        .await
        .expect("https");
    let body: serde_json::Value = http
        .get(url(&connector, "/ds/transactions"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    let rows = body["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["counter"], 3);
    assert_eq!(rows[0]["module"], "hello");
    assert_eq!(rows[0]["useCase"], "pin verification");
    assert_eq!(rows[0]["tag"], "shop-42");
    connector.shutdown().await;
}

#[tokio::test]
async fn http2_is_negotiated_over_tls() {
    let connector = start_connector().await;
    let response = client(&connector).get(url(&connector, "/info")).send().await.expect("https");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    connector.shutdown().await;
}

/// What a page on `rebound.test`, whose name now resolves to the connector, sends: a
/// same-origin request (no `Origin` header) naming its own host.
async fn rebound_get(scheme: &str, address: SocketAddr, host: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .resolve(host, address)
        // The page's own certificate name does not matter here: the Host check must refuse
        // the request even where the TLS name check does not (the plain-HTTP listener).
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let url = format!("{scheme}://{host}:{}/v3/readers", address.port());
    client.get(url).send().await.expect("the connection is accepted")
}

#[tokio::test]
async fn a_dns_rebinding_request_is_refused_on_both_listeners() {
    let connector = connector()
        .listeners(|s| {
            s.http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
            s.dns_names = vec!["t1c.example.org".into()];
        })
        .start()
        .await;
    let https = connector.address();
    let http = connector.http_address().expect("plain listener");
    for (scheme, address) in [("https", https), ("http", http)] {
        let refused = rebound_get(scheme, address, "rebound.test").await;
        assert_eq!(refused.status(), 403, "{scheme}");
        let body: serde_json::Value = refused.json().await.expect("json");
        assert_eq!(
            (body["success"].as_bool(), body["code"].as_str()),
            (Some(false), Some("104030"))
        );
        // The names the connector serves pass, on this listener's port only.
        for host in ["localhost", "t1c.example.org"] {
            let served = rebound_get(scheme, address, host).await;
            assert_eq!(served.status(), 200, "{scheme} {host}");
        }
    }
    // A Host naming the other listener's port is refused as well.
    let response = reqwest::Client::new()
        .get(format!("http://{http}/info"))
        .header("host", format!("localhost:{}", https.port()))
        .send()
        .await
        .expect("http");
    assert_eq!(response.status(), 403);
    connector.shutdown().await;
}

#[tokio::test]
async fn plain_http_listens_only_when_enabled() {
    let off = start_connector().await;
    assert!(off.http_address().is_none());
    off.shutdown().await;
    let on = connector()
        .listeners(|s| s.http = Some(SocketAddr::from(([127, 0, 0, 1], 0))))
        .start()
        .await;
    let address = on.http_address().expect("plain listener");
    assert!(address.ip().is_loopback());
    let body: serde_json::Value = reqwest::get(format!("http://{address}/info"))
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    assert_eq!(body["success"], true);
    on.shutdown().await;
}

#[tokio::test]
async fn oversized_body_gets_413_in_the_envelope() {
    let connector = start_connector().await;
    let id = reader_id(&connector).await;
    let response = client(&connector)
        .post(url(&connector, &format!("/v3/modules/hello/apps/token/readers/{id}/select")))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .expect("https");
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "106413");
    connector.shutdown().await;
}

#[tokio::test]
async fn a_replaced_certificate_file_is_picked_up_without_restart() {
    let connector = connector().certificate_watch(Duration::from_millis(20)).start().await;
    let dir = connector.data_dir().join("tls");
    let before = connector.certificates().chain()[0].clone();
    // Make sure the new files get a different modification time than the old ones.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    LocalCa::open_or_create(&dir).expect("ca").issue_leaf(&["renewed.test".into()]).expect("leaf");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while connector.certificates().chain()[0] == before {
        assert!(std::time::Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = client(&connector).get(url(&connector, "/info")).send().await.expect("https");
    assert_eq!(response.status(), 200);
    connector.shutdown().await;
}
