//! Module delivery against a running DS: uploads refused exactly as a connector refuses them,
//! bundle downloads, and staged rollouts seen by simulated devices through their signed
//! assignments (raise, pause by the failure threshold, resume, rollback, progress).

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use t1c_bundle::{Bundle, SigningKey, TrustStore};
use t1c_ds::clock::Clock as _;
use t1c_ds::modules::rollout::member;
use t1c_ds_protocol::assignment::{AssignmentError, ModuleAssignment};
use t1c_ds_protocol::messages::{
    DeviceState, Digests, FailedInstall, InstalledModule, Platform, SyncRequest,
};
use t1c_testkit::bundle::{bundle_with, signed_bundle};
use t1c_testkit::ds::{DsBackend, TestDevice, TestDs};

const V1: &str = "t1c-module-hello";
const V2: &str = "t1c-test-hello-next";

fn platform() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "x86_64".into(),
        version: "3.6.1".into(),
        os_version: None,
    }
}

fn request(modules: Vec<InstalledModule>, failed: Vec<FailedInstall>) -> SyncRequest {
    SyncRequest {
        state: DeviceState::Running,
        platform: platform(),
        labels: vec!["shop".into()],
        user_agents: vec![],
        modules,
        failed_installs: failed,
        digests: Digests::default(),
        counters: Default::default(),
    }
}

/// Trusts `key` as a publisher key.
async fn trust(ds: &TestDs, admin: &str, key: &SigningKey) {
    let public = base64::engine::general_purpose::STANDARD.encode(key.public_key().as_bytes());
    let (status, body) = ds
        .call(
            Method::POST,
            "/v3_5/publisher-keys",
            Some(admin),
            Some(json!({"name": "Partner", "public_key": public})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn upload(
    ds: &TestDs,
    token: Option<&str>,
    bytes: &[u8],
    media: &str,
) -> (StatusCode, Value) {
    let mut request = ds
        .client()
        .post(format!("{}/v3_5/bundles", ds.url()))
        .header("content-type", media)
        .body(bytes.to_vec());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("upload");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What the connector's installer says about `bytes`, as the DS must say it.
fn connector_refusal(bytes: &[u8], key: &SigningKey) -> String {
    let trust: TrustStore = [key.public_key()].into_iter().collect();
    let runtime =
        t1c_runtime::Runtime::new(t1c_runtime::RuntimeConfig::default()).expect("runtime");
    match Bundle::read(bytes).and_then(|b| b.verify(&trust)) {
        Err(err) => format!("the bundle is refused: {err}"),
        Ok(bundle) => runtime.load_bundle(&bundle).expect_err("refused").to_string(),
    }
}

#[tokio::test]
async fn uploads_are_refused_as_a_connector_refuses_them() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let admin = ds.admin_token().await;
    let key = SigningKey::generate();
    let good = signed_bundle(V1, &key);

    // Signed by a key the DS does not trust (yet).
    let (status, body) = upload(&ds, Some(&admin), &good, "application/octet-stream").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "106422");
    let untrusted =
        Bundle::read(&good).expect("reads").verify(&TrustStore::new()).expect_err("untrusted");
    assert_eq!(body["description"], format!("the bundle is refused: {untrusted}"));

    trust(&ds, &admin, &key).await;
    for (what, bytes) in [
        ("garbage", b"not a zip at all".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("version mismatch", bundle_with(V1, &key, |m| m.version = semver::Version::new(9, 9, 9))),
        ("future contract", bundle_with(V1, &key, |m| m.contract = semver::Version::new(1, 0, 0))),
        (
            "undeclared capability",
            bundle_with(V1, &key, |m| m.capabilities.push(t1c_bundle::Capability::Files)),
        ),
    ] {
        let (status, body) = upload(&ds, Some(&admin), &bytes, "application/octet-stream").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["description"], connector_refusal(&bytes, &key), "{what}");
    }
    assert_eq!(
        upload(&ds, Some(&admin), &good, "application/json").await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        upload(&ds, None, &good, "application/octet-stream").await.0,
        StatusCode::UNAUTHORIZED
    );
    let listed =
        ds.store().bundles(&Default::default(), Default::default()).await.expect("bundles");
    assert_eq!(listed.total, 0, "nothing refused is stored");

    let (status, body) = upload(&ds, Some(&admin), &good, "application/octet-stream").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let digest = Bundle::read(&good).expect("reads").digest().to_string();
    assert_eq!(body["data"]["digest"], digest.as_str());
    assert_eq!(body["data"]["module"], "hello");
    assert_eq!(body["data"]["version"], "0.1.0");
    assert_eq!(body["data"]["signer"], key.public_key().id().to_string());
    assert_eq!(
        upload(&ds, Some(&admin), &good, "application/octet-stream").await.0,
        StatusCode::CONFLICT
    );

    // Connectors download it by digest, without credentials; it never changes.
    let url = format!("{}/v3_5/bundles/{digest}/content", ds.url());
    let response = ds.client().get(&url).send().await.expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().expect("etag").to_owned();
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), good.as_slice());
    let again = ds.client().get(&url).header("if-none-match", etag).send().await.expect("again");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = format!("{}/v3_5/bundles/{}/content", ds.url(), "0".repeat(64));
    assert_eq!(ds.client().get(missing).send().await.expect("404").status(), StatusCode::NOT_FOUND);

    let (status, listed) = ds.call(Method::GET, "/v3_5/bundles?q=hel", Some(&admin), None).await;
    assert_eq!((status, listed["data"]["total"].as_u64()), (StatusCode::OK, Some(1)), "{listed}");
    ds.stop().await;
}

/// A DS with version 3.6.1, a label `shop`, both hello bundles uploaded; returns the DS, the
/// admin token, the installation key and the bundles' (digest, bytes).
async fn ds_with_bundles(backend: DsBackend) -> (TestDs, String, String, [(String, Vec<u8>); 2]) {
    let ds = TestDs::start(backend).await.expect("DS");
    let admin = ds.admin_token().await;
    let installation_key =
        ds.version_with_key(&admin, json!({"id": "3.6.1", "allowed": true})).await;
    let org = ds.organisation(&admin, "Acme").await;
    ds.label_with_key(&admin, &org, "shop", &[]).await;
    let key = SigningKey::generate();
    trust(&ds, &admin, &key).await;
    let mut bundles = Vec::new();
    for package in [V1, V2] {
        let bytes = signed_bundle(package, &key);
        let (status, body) = upload(&ds, Some(&admin), &bytes, "application/octet-stream").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        bundles.push((body["data"]["digest"].as_str().expect("digest").to_owned(), bytes));
    }
    let [one, two]: [(String, Vec<u8>); 2] = bundles.try_into().expect("two");
    (ds, admin, installation_key, [one, two])
}

async fn start_rollout(ds: &TestDs, admin: &str, body: Value) -> Value {
    let (status, created) = ds.call(Method::POST, "/v3_5/rollouts", Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"].clone()
}

/// One sync; returns the verified assignment (when sent) and its digest.
async fn assignment_of(
    ds: &TestDs,
    device: &TestDevice,
    request: &SyncRequest,
) -> Option<(ModuleAssignment, String)> {
    let now = ds.clock().now();
    let answer = device.sync(ds.client(), ds.url(), request, now).await.body;
    let section = answer.modules?;
    let assignment = device.assignment(&section.body, now, None).expect("a valid assignment");
    Some((assignment, section.digest))
}

fn version_of(assignment: &ModuleAssignment) -> Option<&str> {
    assignment.modules.iter().find(|m| m.name == "hello").map(|m| m.version.as_str())
}

async fn a_rollout_goes_out_in_steps(backend: DsBackend) {
    let (ds, admin, key, [(d1, _), (d2, _)]) = ds_with_bundles(backend).await;
    let base = start_rollout(&ds, &admin, json!({"bundle": d1, "percent": 100})).await;
    let next = start_rollout(
        &ds,
        &admin,
        json!({"bundle": d2, "percent": 10, "failure_threshold": 2, "connector_versions": ">=3.6.0, <4"}),
    )
    .await;
    let next_id = next["id"].as_str().expect("id").to_owned();
    assert_eq!(base["progress"]["assigned"], 0);
    let mut devices = Vec::new();
    for _ in 0..30 {
        devices.push(
            TestDevice::register(ds.client(), ds.url(), &key, platform()).await.expect("registers"),
        );
    }
    // Failures count from the second after a rollout starts.
    ds.clock().advance(1);
    let members = |percent: u8| -> Vec<usize> {
        (0..devices.len()).filter(|&i| member(&next_id, &devices[i].id, percent)).collect()
    };
    let assigned_versions = || async {
        let mut versions = Vec::new();
        for device in &devices {
            let (assignment, _) =
                assignment_of(&ds, device, &request(vec![], vec![])).await.expect("an assignment");
            assert_eq!(assignment.device_id, device.id);
            versions.push(version_of(&assignment).expect("hello").to_owned());
        }
        versions
    };
    let at = |versions: &[String], v: &str| -> Vec<usize> {
        (0..versions.len()).filter(|&i| versions[i] == v).collect()
    };
    let first = assigned_versions().await;
    assert_eq!(at(&first, "0.2.0"), members(10), "the 10 %: exactly the hash's choice");
    assert_eq!(at(&first, "0.1.0").len() + members(10).len(), devices.len(), "the rest: the base");

    // Raised to 60 %: the first 10 % stay in.
    let (status, raised) = ds
        .call(
            Method::PATCH,
            &format!("/v3_5/rollouts/{next_id}"),
            Some(&admin),
            Some(json!({"percent": 60})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    let (status, _) = ds
        .call(
            Method::PATCH,
            &format!("/v3_5/rollouts/{next_id}"),
            Some(&admin),
            Some(json!({"percent": 20})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "never lowered");
    let second = assigned_versions().await;
    assert_eq!(at(&second, "0.2.0"), members(60));
    assert!(members(10).iter().all(|i| second[*i] == "0.2.0"));
    let in_rollout = members(60);
    assert!(in_rollout.len() >= 3, "enough devices for the threshold: {}", in_rollout.len());

    // One device installs it; two report failures: the threshold (2) pauses the rollout.
    let installed =
        InstalledModule { name: "hello".into(), version: "0.2.0".into(), digest: d2.clone() };
    let failed =
        FailedInstall { name: "hello".into(), version: "0.2.0".into(), reason: "disk full".into() };
    let runs_it = &devices[in_rollout[0]];
    assignment_of(&ds, runs_it, &request(vec![installed.clone()], vec![])).await;
    assignment_of(&ds, &devices[in_rollout[1]], &request(vec![], vec![failed.clone()])).await;
    let (_, view) =
        ds.call(Method::GET, &format!("/v3_5/rollouts/{next_id}"), Some(&admin), None).await;
    assert_eq!(view["data"]["state"], "active", "one failure: below the threshold");
    assignment_of(&ds, &devices[in_rollout[2]], &request(vec![], vec![failed.clone()])).await;
    let (_, view) =
        ds.call(Method::GET, &format!("/v3_5/rollouts/{next_id}"), Some(&admin), None).await;
    let data = &view["data"];
    assert_eq!(data["state"], "paused", "{view}");
    assert_eq!(data["state_reason"], "failure threshold reached");
    assert_eq!(data["progress"]["installed"], 1);
    assert_eq!(data["progress"]["failed"], 2);
    assert_eq!(data["progress"]["assigned"].as_u64(), Some(in_rollout.len() as u64));

    // Paused: the device running it keeps it; the others go back to the base.
    let (kept, _) =
        assignment_of(&ds, runs_it, &request(vec![installed.clone()], vec![])).await.expect("sent");
    assert_eq!(version_of(&kept), Some("0.2.0"));
    let other = &devices[in_rollout[3.min(in_rollout.len() - 1)]];
    let (held, held_digest) =
        assignment_of(&ds, other, &request(vec![], vec![])).await.expect("sent");
    assert_eq!(version_of(&held), Some("0.1.0"), "no new installs while paused");
    let unchanged = SyncRequest {
        digests: Digests { modules: Some(held_digest.clone()), ..Digests::default() },
        ..request(vec![], vec![])
    };
    assert!(assignment_of(&ds, other, &unchanged).await.is_none(), "the same: not sent again");

    // Resumed: earlier failures no longer count; an older assignment is now stale.
    let (status, resumed) = ds
        .call(Method::POST, &format!("/v3_5/rollouts/{next_id}/resume"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["data"]["progress"]["failed_since_resume"], 0);
    let (newer, _) = assignment_of(&ds, other, &unchanged).await.expect("changed: sent");
    assert!(newer.serial > held.serial, "the serial moved on");
    let now = ds.clock().now();
    let answer = other.sync(ds.client(), ds.url(), &request(vec![], vec![]), now).await.body;
    let jws = answer.modules.expect("sent without a digest").body;
    assert_eq!(
        other.assignment(&jws, now, Some((newer.serial + 1, 0))),
        Err(AssignmentError::Stale),
        "a connector holding a newer one refuses it"
    );

    // Re-signed before it expires: half its lifetime later the same content comes again, later.
    let (fresh, fresh_digest) =
        assignment_of(&ds, other, &request(vec![], vec![])).await.expect("sent");
    let steady = SyncRequest {
        digests: Digests { modules: Some(fresh_digest), ..Digests::default() },
        ..request(vec![], vec![])
    };
    ds.clock().advance((fresh.expires_at - fresh.issued_at) / 2);
    let (renewed, _) = assignment_of(&ds, other, &steady).await.expect("re-signed");
    assert_eq!((renewed.serial, &renewed.modules), (fresh.serial, &fresh.modules));
    assert!(renewed.issued_at > fresh.issued_at && renewed.expires_at > fresh.expires_at);

    // Rolled back: everyone on the base again, for good (a new session: days have passed).
    let admin = ds.admin_token().await;
    let (status, _) = ds
        .call(Method::POST, &format!("/v3_5/rollouts/{next_id}/rollback"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let third = assigned_versions().await;
    assert!(third.iter().all(|v| v == "0.1.0"), "{third:?}");
    let (status, _) = ds
        .call(Method::POST, &format!("/v3_5/rollouts/{next_id}/resume"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a rolled-back rollout stays so");
    let (status, body) =
        ds.call(Method::DELETE, &format!("/v3_5/bundles/{d2}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a rollout uses it: {body}");
    ds.stop().await;
}

#[tokio::test]
async fn a_rollout_goes_out_in_steps_on_sqlite() {
    a_rollout_goes_out_in_steps(DsBackend::Sqlite).await;
}

#[tokio::test]
async fn a_rollout_goes_out_in_steps_on_postgres() {
    a_rollout_goes_out_in_steps(DsBackend::Postgres).await;
}

#[tokio::test]
async fn rollouts_target_versions_and_labels_and_only_admins_run_them() {
    let (ds, admin, key, [(d1, _), _]) = ds_with_bundles(DsBackend::Sqlite).await;
    let org = ds.organisation(&admin, "Bank").await;
    let (bank_label, _) = ds.label_with_key(&admin, &org, "bank", &[]).await;
    for bad in [
        json!({"bundle": "0".repeat(64), "percent": 10}),
        json!({"bundle": d1, "percent": 101}),
        json!({"bundle": d1, "percent": 10, "connector_versions": "three"}),
        json!({"bundle": d1, "percent": 10, "labels": ["nope"]}),
        json!({"bundle": d1, "percent": 10, "organisations": ["nope"]}),
    ] {
        let (status, body) =
            ds.call(Method::POST, "/v3_5/rollouts", Some(&admin), Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    start_rollout(&ds, &admin, json!({"bundle": d1, "percent": 100, "labels": [bank_label], "connector_versions": ">=3.6.0"})).await;
    let device =
        TestDevice::register(ds.client(), ds.url(), &key, platform()).await.expect("registers");
    let (shop_only, _) = assignment_of(&ds, &device, &request(vec![], vec![])).await.expect("sent");
    assert!(shop_only.modules.is_empty(), "not a bank device");
    let bank = SyncRequest { labels: vec!["bank".into()], ..request(vec![], vec![]) };
    let (banked, _) = assignment_of(&ds, &device, &bank).await.expect("sent");
    assert_eq!(version_of(&banked), Some("0.1.0"));

    // An analyst reads nothing here unless platform-wide; an organisation admin changes nothing.
    let (status, body) = ds
        .call(Method::POST, "/v3_5/users", Some(&admin), Some(json!({"username": "orgadmin", "password": "correct horse battery", "role": "organisation-admin", "organisation_id": org})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = ds.login("orgadmin", "correct horse battery").await;
    assert_eq!(
        ds.call(Method::GET, "/v3_5/rollouts", Some(&token), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = ds
        .call(
            Method::POST,
            "/v3_5/rollouts",
            Some(&token),
            Some(json!({"bundle": d1, "percent": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        ds.call(Method::GET, "/v3_5/rollouts", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    ds.stop().await;
}
