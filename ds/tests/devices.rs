//! The device protocol against a running DS, with simulated devices (`TestDevice`): registration,
//! the sealed sync and every refusal, sections sent only when they change, T1C's version rules,
//! and counters that never count twice.

use reqwest::{Method, StatusCode};
use serde_json::json;
use t1c_ds::clock::Clock as _;
use t1c_ds::store::{Filter, Paging, UsageFilter};
use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
use t1c_ds_protocol::messages::{DeviceState, Digests, Platform, SyncAnswer, SyncRequest};
use t1c_ds_protocol::version::UpgradeAdvice;
use t1c_testkit::ds::{DsBackend, TestDevice, TestDs};

fn windows(version: &str) -> Platform {
    Platform {
        os: "windows".into(),
        arch: "x86_64".into(),
        version: version.into(),
        os_version: None,
    }
}

fn request(version: &str) -> SyncRequest {
    SyncRequest {
        state: DeviceState::Running,
        platform: windows(version),
        labels: vec!["shop".into()],
        user_agents: vec![
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
        ],
        modules: vec![],
        failed_installs: vec![],
        digests: Digests::default(),
        counters: CounterBatch::default(),
    }
}

/// A DS with version 3.1.0 (and its installation key), an organisation and a label `shop`.
async fn ds_with_version(backend: DsBackend) -> (TestDs, String, String) {
    let ds = TestDs::start(backend).await.expect("DS");
    let admin = ds.admin_token().await;
    let key = ds
        .version_with_key(
            &admin,
            json!({"id": "3.1.0", "recommended": false, "allowed": true, "uris": [{"os": "win64", "uri": "t1c-3.1.0.msi"}]}),
        )
        .await;
    let org = ds.organisation(&admin, "Acme").await;
    ds.label_with_key(&admin, &org, "shop", &["https://shop.example"]).await;
    (ds, key, admin)
}

async fn device(ds: &TestDs, key: &str, version: &str) -> TestDevice {
    TestDevice::register(ds.client(), ds.url(), key, windows(version)).await.expect("registers")
}

async fn registers_and_syncs(backend: DsBackend) {
    let (ds, key, admin) = ds_with_version(backend).await;
    let device = device(&ds, &key, "3.1.0").await;
    let now = ds.clock().now();
    let first = device.sync(ds.client(), ds.url(), &request("3.1.0"), now).await.body;
    assert_eq!(first.upgrade.advice, UpgradeAdvice::None);
    let config = first.config.clone().expect("the first sync gets the configuration");
    assert_eq!(config.body.cors, vec!["https://shop.example".to_owned()]);
    let jwt = first.jwt_keys.clone().expect("and the JWT keys");
    assert!(!jwt.body["keys"].as_array().expect("keys").is_empty());
    let ds_keys = first.ds_keys.clone().expect("and the DS keys");
    let digests = Digests {
        config: Some(config.digest),
        jwt_keys: Some(jwt.digest),
        publisher_keys: first.publisher_keys.clone().map(|s| s.digest),
        ds_keys: Some(ds_keys.digest),
        tls: None,
        modules: first.modules.clone().map(|s| s.digest),
    };
    assert!(first.modules.is_some(), "and its (empty) module assignment");
    let unchanged = SyncRequest { digests: digests.clone(), ..request("3.1.0") };
    let second = device.sync(ds.client(), ds.url(), &unchanged, now).await.body;
    assert!(
        second.config.is_none()
            && second.jwt_keys.is_none()
            && second.ds_keys.is_none()
            && second.publisher_keys.is_none()
            && second.modules.is_none(),
        "nothing changed, nothing sent: {second:?}"
    );
    assert!(
        (25_920..=31_680).contains(&second.next_sync_in),
        "8 h ± 10 %: {}",
        second.next_sync_in
    );

    // An operator adds a domain: the next sync after the sections' cache gets the new list.
    let labels = ds.store().labels(&Filter::default(), Paging::default()).await.expect("labels");
    let label = &labels.items[0].id;
    let (status, body) = ds
        .call(
            Method::PATCH,
            &format!("/v3_5/labels/{label}"),
            Some(&admin),
            Some(json!({"domains": ["https://shop.example", "https://new.example"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
    let third = device.sync(ds.client(), ds.url(), &unchanged, ds.clock().now()).await.body;
    let config = third.config.expect("the changed section");
    assert_eq!(
        config.body.cors,
        vec!["https://new.example".to_owned(), "https://shop.example".to_owned()]
    );
    assert!(third.jwt_keys.is_none(), "only what changed");

    // The operators see the device, its version, browser and labels.
    let (status, body) = ds.call(Method::GET, "/v3_5/devices", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = &body["data"]["items"][0];
    assert_eq!(listed["id"], device.id.as_str());
    assert_eq!(listed["version"], "3.1.0");
    assert_eq!(listed["browsers"], json!(["Chrome 131"]));
    assert_eq!(listed["labels"], json!(["shop"]));
    ds.stop().await;
}

#[tokio::test]
async fn registers_and_syncs_on_sqlite() {
    registers_and_syncs(DsBackend::Sqlite).await;
}

#[tokio::test]
async fn registers_and_syncs_on_postgres() {
    registers_and_syncs(DsBackend::Postgres).await;
}

#[tokio::test]
async fn registration_needs_an_installation_key_and_a_fresh_token() {
    let (ds, key, admin) = ds_with_version(DsBackend::Sqlite).await;
    let org = ds.organisation(&admin, "Other").await;
    let (_, label_key) = ds.label_with_key(&admin, &org, "other", &[]).await;
    assert!(
        TestDevice::register(ds.client(), ds.url(), &label_key, windows("3.1.0")).await.is_err(),
        "a label key registers nothing"
    );
    assert!(
        TestDevice::register(ds.client(), ds.url(), "t1c_nope", windows("3.1.0")).await.is_err()
    );
    // A token is single use and lives five minutes.
    let token = |ds: &TestDs| {
        let (client, url, key) = (ds.client().clone(), ds.url().to_owned(), key.clone());
        async move {
            let answer: serde_json::Value = client
                .post(format!("{url}/v3_5/devices/registration-tokens"))
                .header("apikey", key)
                .send()
                .await
                .expect("answers")
                .json()
                .await
                .expect("json");
            answer["data"]["registration_token"].as_str().expect("token").to_owned()
        }
    };
    let keys = t1c_ds_protocol::seal::PrivateKeys::generate("d-sig", "d-enc").expect("keys");
    let (signing, encryption) = keys.public();
    let registration = |token: String| {
        json!({
            "registration_token": token,
            "signing_key": serde_json::to_value(signing.as_ref()).expect("jwk"),
            "encryption_key": serde_json::to_value(encryption.as_ref()).expect("jwk"),
            "platform": {"os": "linux", "arch": "x86_64", "version": "3.1.0"},
        })
    };
    let post = |jws: String| {
        let (client, url) = (ds.client().clone(), ds.url().to_owned());
        async move {
            let response =
                client.post(format!("{url}/v3_5/devices")).body(jws).send().await.expect("answers");
            let status = response.status();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let once = token(&ds).await;
    let jws = TestDevice::self_signed(&keys, &registration(once)).expect("jws");
    assert_eq!(post(jws.clone()).await.0, StatusCode::OK);
    let (status, reused) = post(jws).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token is burnt by its first use");
    let expiring = token(&ds).await;
    ds.clock().advance(t1c_ds::devices::REGISTRATION_TOKEN_SECS + 1);
    let (status, expired) =
        post(TestDevice::self_signed(&keys, &registration(expiring)).expect("jws")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(reused, expired, "one answer whatever the reason");
    // Signed by another key than the one it carries: refused.
    let other = t1c_ds_protocol::seal::PrivateKeys::generate("x-sig", "x-enc").expect("keys");
    let fresh = token(&ds).await;
    let (status, _) =
        post(TestDevice::self_signed(&other, &registration(fresh)).expect("jws")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for garbage in ["", "a.b.c", "not a jws", &"x".repeat(20_000)] {
        let (status, _) = post(garbage.to_owned()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{garbage:.20}");
    }
    ds.stop().await;
}

#[tokio::test]
async fn every_bad_message_is_refused_alike_and_stores_nothing() {
    let (ds, key, _) = ds_with_version(DsBackend::Sqlite).await;
    let alice = device(&ds, &key, "3.1.0").await;
    let bob = device(&ds, &key, "3.1.0").await;
    let now = ds.clock().now();
    let counted = |seq| SyncRequest {
        counters: CounterBatch {
            seq,
            rows: vec![DayCount {
                day: "2026-11-30".into(),
                label: "shop".into(),
                tag: String::new(),
                module: "beid".into(),
                use_case: UseCase::IdentityRead,
                total: 5,
            }],
        },
        ..request("3.1.0")
    };
    let id = t1c_ds_protocol::seal::message_id().expect("id");
    let sealed = alice.seal(counted(1), now, &id, &alice.id);
    let (status, _) = alice.post(ds.client(), ds.url(), &alice.id, sealed.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let usage = || async {
        let filter = UsageFilter {
            labels: None,
            from_day: "2026-01-01".into(),
            to_day: "2026-12-31".into(),
        };
        ds.store().usage(&filter).await.expect("usage")
    };
    let before = usage().await;
    let (status, replayed) = alice.post(ds.client(), ds.url(), &alice.id, sealed).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replay");
    let fresh = || t1c_ds_protocol::seal::message_id().expect("id");
    let cases = [
        (
            "another device's id in the envelope",
            alice.seal(counted(2), now, &fresh(), &bob.id),
            alice.id.clone(),
        ),
        (
            "alice's message on bob's route",
            alice.seal(counted(2), now, &fresh(), &alice.id),
            bob.id.clone(),
        ),
        ("expired", alice.seal(counted(2), now - 301, &fresh(), &alice.id), alice.id.clone()),
        ("future-dated", alice.seal(counted(2), now + 301, &fresh(), &alice.id), alice.id.clone()),
        ("garbage", "eyJhbGciOiJub25lIn0.e30.".to_owned(), alice.id.clone()),
        (
            "truncated",
            alice.seal(counted(2), now, &fresh(), &alice.id)[..200].to_owned(),
            alice.id.clone(),
        ),
    ];
    for (what, sealed, route) in cases {
        let (status, body) = alice.post(ds.client(), ds.url(), &route, sealed).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body, replayed, "{what}: one answer for every refusal");
    }
    assert_eq!(usage().await, before, "nothing counted from refused messages");

    // Absurd counters from an authentic device: a clear 400, nothing stored.
    let mut absurd = counted(3);
    absurd.counters.rows[0].total = t1c_ds_protocol::counters::MAX_DAY_TOTAL + 1;
    let (status, body) = alice
        .post(ds.client(), ds.url(), &alice.id, alice.seal(absurd, now, &fresh(), &alice.id))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(usage().await, before);

    // Unknown and revoked devices are told to register again.
    let (status, body) = alice
        .post(
            ds.client(),
            ds.url(),
            &"0".repeat(32),
            alice.seal(counted(4), now, &fresh(), &"0".repeat(32)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains(t1c_ds_protocol::messages::codes::REGISTER_AGAIN), "{body}");
    let admin = ds.admin_token().await;
    let (status, _) =
        ds.call(Method::DELETE, &format!("/v3_5/devices/{}", bob.id), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = bob
        .post(ds.client(), ds.url(), &bob.id, bob.seal(request("3.1.0"), now, &fresh(), &bob.id))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains(t1c_ds_protocol::messages::codes::REGISTER_AGAIN), "{body}");
    ds.stop().await;
}

#[tokio::test]
async fn counters_never_count_twice() {
    let (ds, key, admin) = ds_with_version(DsBackend::Sqlite).await;
    let device = device(&ds, &key, "3.1.0").await;
    let now = ds.clock().now();
    let batch = |seq, total| SyncRequest {
        counters: CounterBatch {
            seq,
            rows: vec![DayCount {
                day: "2026-11-29".into(),
                label: "shop".into(),
                tag: "branch-7".into(),
                module: "beid".into(),
                use_case: UseCase::DigitalSignature,
                total,
            }],
        },
        ..request("3.1.0")
    };
    let total = || async {
        let (status, body) = ds
            .call(Method::GET, "/v3_5/usage?from=2026-11-01&to=2026-11-30", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]
            .as_array()
            .map_or(0, |rows| rows.iter().map(|r| r["total"].as_i64().unwrap_or(0)).sum::<i64>())
    };
    device.sync(ds.client(), ds.url(), &batch(1, 3), now).await;
    assert_eq!(total().await, 3);
    for _ in 0..3 {
        device.sync(ds.client(), ds.url(), &batch(1, 3), now).await;
    }
    assert_eq!(total().await, 3, "a resent batch counts once");
    let stored = device.sync(ds.client(), ds.url(), &batch(2, 7), now).await.body;
    assert_eq!(stored.counters_stored, 2);
    assert_eq!(total().await, 7, "absolute totals: the newer batch replaces");
    device.sync(ds.client(), ds.url(), &batch(1, 3), now).await;
    assert_eq!(total().await, 7, "an old batch after a newer one changes nothing");
    let (_, body) =
        ds.call(Method::GET, "/v3_5/usage?from=2026-11-29&to=2026-11-29", Some(&admin), None).await;
    assert_eq!(body["data"][0]["day"], "2026-11-29", "a count lands in its own day");
    assert_eq!(body["data"][0]["tag"], "branch-7");
    ds.stop().await;
}

#[tokio::test]
async fn t1c_version_rules() {
    let (ds, key, admin) = ds_with_version(DsBackend::Sqlite).await;
    let put = |body: serde_json::Value| {
        let admin = admin.clone();
        let ds = &ds;
        async move {
            let (status, answer) =
                ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
    };
    put(json!({"id": "3.0.0", "allowed": true})).await;
    put(json!({"id": "2.0.0", "allowed": false})).await;
    let advice = |version: &'static str| {
        let ds = &ds;
        let key = key.clone();
        async move {
            let device = device(ds, &key, version).await;
            let answer: SyncAnswer =
                device.sync(ds.client(), ds.url(), &request(version), ds.clock().now()).await.body;
            answer.upgrade
        }
    };
    assert_eq!(advice("3.1.0").await.advice, UpgradeAdvice::None, "the latest: nothing");
    assert_eq!(
        advice("3.0.0").await.advice,
        UpgradeAdvice::None,
        "allowed, and nothing recommended"
    );
    put(json!({"id": "3.1.0", "recommended": true, "allowed": true, "uris": [{"os": "win64", "uri": "t1c-3.1.0.msi"}]})).await;
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
    let notify = advice("3.0.0").await;
    assert_eq!(notify.advice, UpgradeAdvice::Notify);
    assert_eq!(notify.download.as_deref(), Some("/v3_5/downloads/installers/win64/versions/3.1.0"));
    assert_eq!(advice("2.0.0").await.advice, UpgradeAdvice::Block, "not allowed");
    assert_eq!(advice("1.0.0").await.advice, UpgradeAdvice::Block, "unknown to the DS");
    put(json!({"id": "3.1.0", "mandatory": true, "allowed": true, "uris": [{"os": "win64", "uri": "t1c-3.1.0.msi"}]})).await;
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
    let block = advice("3.0.0").await;
    assert_eq!(block.advice, UpgradeAdvice::Block, "the latest is mandatory");
    assert!(block.download.is_some(), "with the link");
    ds.stop().await;
}
