//! TLS keystores for connectors: uploads checked and stored without ever showing the key,
//! only platform administrators manage them, and the sync hands the current one, sealed to the
//! device, to a device with none, an unknown one or one that expires soon.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use t1c_ds::clock::Clock as _;
use t1c_ds::store::{Filter, Paging};
use t1c_ds_protocol::messages::{DeviceState, Digests, Platform, SyncAnswer, SyncRequest};
use t1c_testkit::ds::{DsBackend, TestDevice, TestDs};

const DAY: i64 = 86_400;

/// A chain (leaf for `localhost` and `t1c.local`, then its CA) and the leaf's key; the leaf
/// expires `days` from now.
fn keystore(days: i64) -> (String, String) {
    let (chain, key, _) = t1c_testkit::ds::keystore(days);
    (chain, key)
}

async fn upload(ds: &TestDs, token: &str, body: Value) -> (StatusCode, Value) {
    ds.call(Method::POST, "/v3_5/tls-keystores", Some(token), Some(body)).await
}

/// Uploads a default keystore expiring in `days`; returns (chain, key, fingerprint, id).
async fn uploaded(ds: &TestDs, admin: &str, days: i64) -> (String, String, String, String) {
    let (chain, key) = keystore(days);
    let (status, body) =
        upload(ds, admin, json!({"scope": "default", "chain_pem": chain, "key_pem": key})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let fingerprint = body["data"]["fingerprint"].as_str().expect("fingerprint").to_owned();
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    (chain, key, fingerprint, id)
}

async fn audit_total(ds: &TestDs) -> u64 {
    ds.store().audit_log(&Filter::default(), Paging::default()).await.expect("audit").total
}

#[tokio::test]
async fn uploads_are_checked_and_never_show_the_key() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let admin = ds.admin_token().await;
    let (chain, key) = keystore(90);
    let (status, body) =
        upload(&ds, &admin, json!({"scope": "default", "chain_pem": chain, "key_pem": key})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(data["dns_names"], json!(["localhost", "t1c.local"]));
    assert_eq!(data["scope"], json!({"kind": "default"}));
    assert_eq!(data["fingerprint"].as_str().map(str::len), Some(64), "SHA-256 hex: {data}");
    let not_after = data["not_after"].as_i64().expect("not_after");
    assert!((ds.clock().now() + 89 * DAY..ds.clock().now() + 91 * DAY).contains(&not_after));

    let (status, listed) = ds.call(Method::GET, "/v3_5/tls-keystores", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"][0]["fingerprint"], data["fingerprint"]);
    let (_, audit) = ds.call(Method::GET, "/v3_5/audit", Some(&admin), None).await;
    assert!(audit.to_string().contains("tls_keystore.create"), "{audit}");
    for shown in [&body, &listed, &audit] {
        let text = shown.to_string();
        assert!(!text.contains("PRIVATE KEY") && !text.contains("key_pem"), "{text}");
    }
    // Stored whole, for the devices.
    let stored = ds.store().tls_keystores().await.expect("keystores");
    assert_eq!(stored[0].key_pem.expose(), key);
    assert_eq!(stored[0].chain_pem, chain);
    ds.stop().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_and_store_nothing() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let admin = ds.admin_token().await;
    let (chain, key) = keystore(90);
    let (_, other_key) = keystore(90);
    let (expired_chain, expired_key) = keystore(-1);
    let before = audit_total(&ds).await;
    let garbage_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let default =
        |chain: &str, key: &str| json!({"scope": "default", "chain_pem": chain, "key_pem": key});
    let cases = [
        ("mismatched key", "does not match", default(&chain, &other_key)),
        ("garbage chain", "chain_pem", default("not a PEM", &key)),
        ("garbage key", "key_pem", default(&chain, garbage_key)),
        ("a key as chain", "chain_pem", default(&key, &key)),
        ("expired leaf", "expired", default(&expired_chain, &expired_key)),
        ("oversized chain", "chain_pem", default(&"A".repeat(50_000), &key)),
        (
            "version without id",
            "scope_id",
            json!({"scope": "version", "chain_pem": chain, "key_pem": key}),
        ),
        (
            "default with id",
            "scope_id",
            json!({"scope": "default", "scope_id": "3.1.0", "chain_pem": chain, "key_pem": key}),
        ),
        (
            "unknown version",
            "9.9.9",
            json!({"scope": "version", "scope_id": "9.9.9", "chain_pem": chain, "key_pem": key}),
        ),
        (
            "unknown scope",
            "organisation",
            json!({"scope": "organisation", "chain_pem": chain, "key_pem": key}),
        ),
        (
            "unknown field",
            "unknown field",
            json!({"scope": "default", "chain_pem": chain, "key_pem": key, "x": 1}),
        ),
    ];
    for (case, reason, body) in cases {
        let (status, answer) = upload(&ds, &admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
        let description = answer["description"].as_str().unwrap_or_default();
        assert!(description.contains(reason), "{case}: {description}");
        assert!(!answer.to_string().contains("PRIVATE KEY"), "{case}: {answer}");
    }
    assert!(ds.store().tls_keystores().await.expect("keystores").is_empty(), "nothing stored");
    assert_eq!(audit_total(&ds).await, before, "nothing audited");
    ds.stop().await;
}

#[tokio::test]
async fn only_platform_admins_manage_keystores() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let admin = ds.admin_token().await;
    let (_, _, _, id) = uploaded(&ds, &admin, 90).await;
    let org = ds.organisation(&admin, "Acme").await;
    let password = "correct horse battery";
    for (name, role, organisation) in [
        ("orgadmin", "organisation-admin", Some(org.as_str())),
        ("analyst", "analyst", Some(org.as_str())),
        ("global", "analyst", None),
    ] {
        let (status, body) = ds
            .call(
                Method::POST,
                "/v3_5/users",
                Some(&admin),
                Some(json!({"username": name, "password": password, "role": role, "organisation_id": organisation})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = ds.login(name, password).await;
        let (chain, key) = keystore(90);
        let calls = [
            ds.call(Method::GET, "/v3_5/tls-keystores", Some(&token), None).await,
            upload(&ds, &token, json!({"scope": "default", "chain_pem": chain, "key_pem": key}))
                .await,
            ds.call(Method::DELETE, &format!("/v3_5/tls-keystores/{id}"), Some(&token), None).await,
        ];
        for (status, body) in calls {
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        }
    }
    let (status, _) = ds.call(Method::GET, "/v3_5/tls-keystores", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) =
        ds.call(Method::DELETE, &format!("/v3_5/tls-keystores/{id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) =
        ds.call(Method::DELETE, &format!("/v3_5/tls-keystores/{id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked once");
    let (_, listed) = ds.call(Method::GET, "/v3_5/tls-keystores", Some(&admin), None).await;
    assert!(listed["data"][0]["revoked_at"].is_i64(), "{listed}");
    ds.stop().await;
}

// ----- The sync -----

fn request(held: Option<&str>) -> SyncRequest {
    SyncRequest {
        state: DeviceState::Running,
        platform: Platform {
            os: "windows".into(),
            arch: "x86_64".into(),
            version: "3.1.0".into(),
            os_version: None,
        },
        labels: vec![],
        user_agents: vec![],
        modules: vec![],
        failed_installs: vec![],
        digests: Digests { tls: held.map(str::to_owned), ..Digests::default() },
        counters: Default::default(),
    }
}

/// A DS with version 3.1.0, a device registered with it, and an admin token.
async fn ds_with_device(backend: DsBackend) -> (TestDs, TestDevice, String) {
    let ds = TestDs::start(backend).await.expect("DS");
    let admin = ds.admin_token().await;
    let key = ds.version_with_key(&admin, json!({"id": "3.1.0", "allowed": true})).await;
    let device = TestDevice::register(ds.client(), ds.url(), &key, request(None).platform)
        .await
        .expect("registers");
    (ds, device, admin)
}

async fn sync(ds: &TestDs, device: &TestDevice, held: Option<&str>) -> SyncAnswer {
    device.sync(ds.client(), ds.url(), &request(held), ds.clock().now()).await.body
}

async fn a_device_without_a_certificate_gets_one_once(backend: DsBackend) {
    let (ds, device, admin) = ds_with_device(backend).await;
    assert!(sync(&ds, &device, None).await.tls.is_none(), "no keystore stored, none sent");
    let (chain, key, fingerprint, _) = uploaded(&ds, &admin, 90).await;
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);

    // The answer is a JWE to the device: the key is not readable on the wire.
    let id = t1c_ds_protocol::seal::message_id().expect("id");
    let sealed = device.seal(request(None), ds.clock().now(), &id, &device.id);
    let (status, wire) = device.post(ds.client(), ds.url(), &device.id, sealed).await;
    assert_eq!(status, StatusCode::OK, "{wire}");
    assert!(!wire.contains("PRIVATE KEY") && !wire.contains("BEGIN"), "sealed on the wire");
    let opened = device.open::<SyncAnswer>(&wire, ds.clock().now()).expect("opens");
    let section = opened.body.tls.expect("a device with no certificate gets the keystore");
    assert_eq!(section.digest, fingerprint);
    assert_eq!(section.body.chain_pem, chain);
    assert_eq!(section.body.key_pem, key);
    assert!(section.body.not_after > ds.clock().now() + 89 * DAY);

    assert!(sync(&ds, &device, Some(&fingerprint)).await.tls.is_none(), "echoed: not again");
    assert_eq!(
        sync(&ds, &device, Some("a-self-signed-local-certificate")).await.tls.map(|s| s.digest),
        Some(fingerprint),
        "an unknown certificate counts as missing"
    );
    ds.stop().await;
}

#[tokio::test]
async fn a_device_without_a_certificate_gets_one_once_on_sqlite() {
    a_device_without_a_certificate_gets_one_once(DsBackend::Sqlite).await;
}

#[tokio::test]
async fn a_device_without_a_certificate_gets_one_once_on_postgres() {
    a_device_without_a_certificate_gets_one_once(DsBackend::Postgres).await;
}

#[tokio::test]
async fn an_expiring_certificate_is_replaced_by_the_newer_one() {
    let (ds, device, admin) = ds_with_device(DsBackend::Sqlite).await;
    let (_, _, first, _) = uploaded(&ds, &admin, 60).await;
    assert_eq!(sync(&ds, &device, None).await.tls.map(|s| s.digest).as_deref(), Some(&*first));
    let (_, _, second, _) = uploaded(&ds, &admin, 400).await;
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
    assert!(
        sync(&ds, &device, Some(&first)).await.tls.is_none(),
        "60 days left, outside the 30-day window: kept"
    );
    assert_eq!(
        sync(&ds, &device, None).await.tls.map(|s| s.digest).as_deref(),
        Some(&*second),
        "a new device gets the latest expiry"
    );
    ds.clock().advance(31 * DAY);
    assert_eq!(
        sync(&ds, &device, Some(&first)).await.tls.map(|s| s.digest).as_deref(),
        Some(&*second),
        "29 days left: replaced by the newer one"
    );
    assert!(sync(&ds, &device, Some(&second)).await.tls.is_none());
    ds.stop().await;
}

#[tokio::test]
async fn revoked_keystores_are_never_sent() {
    let (ds, device, admin) = ds_with_device(DsBackend::Sqlite).await;
    let (_, _, older, older_id) = uploaded(&ds, &admin, 100).await;
    let (_, _, newer, newer_id) = uploaded(&ds, &admin, 200).await;
    let revoke = |id: String| {
        let (ds, admin) = (&ds, admin.clone());
        async move {
            let path = format!("/v3_5/tls-keystores/{id}");
            let (status, body) = ds.call(Method::DELETE, &path, Some(&admin), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
        }
    };
    revoke(newer_id).await;
    let sent = sync(&ds, &device, None).await.tls.map(|s| s.digest);
    assert_eq!(sent.as_deref(), Some(&*older), "the newer one is revoked");
    assert_eq!(
        sync(&ds, &device, Some(&newer)).await.tls.map(|s| s.digest).as_deref(),
        Some(&*older),
        "a device holding a revoked certificate is given a live one"
    );
    revoke(older_id).await;
    assert!(sync(&ds, &device, None).await.tls.is_none(), "every keystore revoked");
    ds.stop().await;
}

#[tokio::test]
async fn an_organisation_keystore_goes_to_the_devices_serving_its_labels() {
    let (ds, device, admin) = ds_with_device(DsBackend::Sqlite).await;
    let (_, _, default, _) = uploaded(&ds, &admin, 100).await;
    let org = ds.organisation(&admin, "Bank").await;
    ds.label_with_key(&admin, &org, "bank", &[]).await;
    let (chain, key) = keystore(200);
    let body =
        json!({"scope": "organisation", "scope_id": org, "chain_pem": chain, "key_pem": key});
    let (status, stored) = upload(&ds, &admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["data"]["scope"], json!({"kind": "organisation", "id": org}));
    let org_fingerprint = stored["data"]["fingerprint"].as_str().expect("fingerprint").to_owned();
    let unknown =
        json!({"scope": "organisation", "scope_id": "nobody", "chain_pem": chain, "key_pem": key});
    assert_eq!(upload(&ds, &admin, unknown).await.0, StatusCode::BAD_REQUEST);
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);

    let tls_for = |labels: Vec<String>| {
        let request = SyncRequest { labels, ..request(None) };
        let (ds, device) = (&ds, &device);
        async move { device.sync(ds.client(), ds.url(), &request, ds.clock().now()).await.body.tls }
    };
    assert_eq!(tls_for(vec![]).await.map(|s| s.digest), Some(default.clone()), "no label yet");
    assert_eq!(
        tls_for(vec!["bank".into()]).await.map(|s| s.digest),
        Some(org_fingerprint),
        "once it serves the organisation's label"
    );
    ds.stop().await;
}
