//! The Distribution Service's HTTP API, black-box: a real DS on a free port
//! ([`t1c_testkit::ds::TestDs`]), driven over HTTPS the way web applications' back ends and
//! operators drive it.
//!
//! What it pins down: bad input is refused in the T1C envelope and writes nothing; API keys
//! answer one 401 whatever is wrong with them, are rate-limited per address and per key, and
//! rotate without downtime; roles and organisations are kept apart (another organisation's
//! objects answer 404, as if they did not exist); every change is audited; versions and the
//! public routes answer as T1C's do.
//!
//! Time is the DS's manual clock: expiries and rate windows are crossed by moving it, never by
//! waiting. The checks that touch the database hardest run on both backends
//! (`<check>::sqlite`, `<check>::postgres`); the rest on SQLite.

use std::collections::HashSet;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use t1c_ds::store::{Filter, KeyOwner, Paging};
use t1c_testkit::ds::{DsBackend, TestDs};

/// Generates `mod <check> { sqlite, postgres }`, each running `checks::<check>` on a DS of its
/// own on that backend.
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                checks::$check(DsBackend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                checks::$check(DsBackend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    malformed_bodies_are_refused_and_write_nothing,
    hostile_strings_are_refused_and_write_nothing,
    sql_text_in_free_text_fields_is_stored_verbatim,
    api_key_failures_get_one_identical_401,
    two_keys_rotate_without_downtime,
    other_organisations_answer_404,
    nul_characters_never_reach_the_database,
);

/// SQL that would do damage if it were ever spliced into a query.
const SQL: [&str; 3] = ["'; DROP TABLE labels; --", "\" OR \"1\"=\"1", "x') OR ('1'='1"];

mod checks {
    use super::*;

    pub async fn malformed_bodies_are_refused_and_write_nothing(backend: DsBackend) {
        let (ds, admin, fixture) = with_fixture(backend).await;
        let before = snapshot(&ds, &fixture).await;
        let (org, label) = (&fixture.organisation, &fixture.label);
        let writes = [
            (Method::POST, "/v3_5/organisations".to_owned()),
            (Method::PATCH, format!("/v3_5/organisations/{org}")),
            (Method::POST, "/v3_5/labels".to_owned()),
            (Method::PATCH, format!("/v3_5/labels/{label}")),
            (Method::POST, format!("/v3_5/labels/{label}/keys")),
            (Method::PUT, "/v3_5/versions".to_owned()),
            (Method::POST, "/v3_5/publisher-keys".to_owned()),
            (Method::POST, "/v3_5/users".to_owned()),
        ];
        for (method, path) in &writes {
            for text in ["{\"name\": \"x\"", "not json", "", "[1, 2]", "{\"name\": \"x\"} trailing"]
            {
                let answer = send_raw(&ds, method.clone(), path, Some(&admin), text).await;
                assert_refused(
                    &answer,
                    StatusCode::BAD_REQUEST,
                    &format!("{method} {path} {text:?}"),
                );
            }
            let oversized = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
            let answer = send_raw(&ds, method.clone(), path, Some(&admin), oversized).await;
            assert_refused(&answer, StatusCode::PAYLOAD_TOO_LARGE, &format!("{method} {path}"));
        }

        let unknown_fields = [
            (Method::POST, "/v3_5/organisations".to_owned(), json!({"name": "Evil", "id": "mine"})),
            (Method::PATCH, format!("/v3_5/organisations/{org}"), json!({"name": "X", "owner": 1})),
            (
                Method::POST,
                "/v3_5/labels".to_owned(),
                json!({"organisation_id": org, "name": "extra", "admin": true}),
            ),
            (Method::PATCH, format!("/v3_5/labels/{label}"), json!({"organisation_id": "other"})),
            (Method::POST, format!("/v3_5/labels/{label}/keys"), json!({"key": "t1c_chosen"})),
            (Method::PUT, "/v3_5/versions".to_owned(), json!({"id": "9.9.9", "latest": true})),
            (
                Method::POST,
                "/v3_5/publisher-keys".to_owned(),
                json!({"name": "p", "public_key": publisher_key(1), "trusted": true}),
            ),
            (
                Method::POST,
                "/v3_5/users".to_owned(),
                json!({"username": "u", "password": PASSWORD, "role": "analyst", "superuser": true}),
            ),
        ];
        let wrong_types = [
            (Method::POST, "/v3_5/organisations".to_owned(), json!({"name": 5})),
            (Method::POST, "/v3_5/organisations".to_owned(), json!({})),
            (Method::PATCH, format!("/v3_5/organisations/{org}"), json!({"name": ["X"]})),
            (
                Method::POST,
                "/v3_5/labels".to_owned(),
                json!({"organisation_id": org, "name": "x", "domains": "https://x.example"}),
            ),
            (Method::POST, "/v3_5/labels".to_owned(), json!({"organisation_id": 7, "name": "x"})),
            (Method::PATCH, format!("/v3_5/labels/{label}"), json!({"tags": [1, 2]})),
            (
                Method::POST,
                format!("/v3_5/labels/{label}/keys"),
                json!({"expires_in_secs": "soon"}),
            ),
            (Method::PUT, "/v3_5/versions".to_owned(), json!({"id": 3.9})),
            (
                Method::PUT,
                "/v3_5/versions".to_owned(),
                json!({"id": "9.9.9", "recommended": "yes"}),
            ),
            (
                Method::PUT,
                "/v3_5/versions".to_owned(),
                json!({"id": "9.9.9", "uris": {"os": "win64"}}),
            ),
            (
                Method::POST,
                "/v3_5/publisher-keys".to_owned(),
                json!({"name": "p", "public_key": 1}),
            ),
            (
                Method::POST,
                "/v3_5/users".to_owned(),
                json!({"username": "u", "password": PASSWORD, "role": "root"}),
            ),
            (
                Method::POST,
                "/v3_5/users".to_owned(),
                json!({"username": "u", "password": 123456789012_u64, "role": "analyst"}),
            ),
        ];
        for (method, path, body) in unknown_fields.into_iter().chain(wrong_types) {
            let context = format!("{method} {path} {body}");
            let answer = ds.call(method, &path, Some(&admin), Some(body)).await;
            assert_refused(&answer, StatusCode::BAD_REQUEST, &context);
        }

        assert_eq!(snapshot(&ds, &fixture).await, before, "a refused request wrote something");
        ds.stop().await;
    }

    pub async fn hostile_strings_are_refused_and_write_nothing(backend: DsBackend) {
        let (ds, admin, fixture) = with_fixture(backend).await;
        let before = snapshot(&ds, &fixture).await;
        let (org, label) = (&fixture.organisation, &fixture.label);
        let long = "x".repeat(10_000);
        let long_origin = format!("https://{}.example", "a".repeat(10_000));

        let mut refused: Vec<(Method, String, Value, StatusCode)> = Vec::new();
        let mut bad_request = |method: Method, path: String, body: Value| {
            refused.push((method, path, body, StatusCode::BAD_REQUEST));
        };
        for sql in SQL {
            bad_request(
                Method::POST,
                "/v3_5/labels".into(),
                json!({"organisation_id": org, "name": sql}),
            );
            bad_request(Method::PATCH, format!("/v3_5/labels/{label}"), json!({"name": sql}));
            bad_request(
                Method::POST,
                "/v3_5/labels".into(),
                json!({"organisation_id": org, "name": "fine", "domains": [sql]}),
            );
            bad_request(Method::PATCH, format!("/v3_5/labels/{label}"), json!({"domains": [sql]}));
            bad_request(Method::PUT, "/v3_5/versions".into(), json!({"id": sql}));
            bad_request(
                Method::PUT,
                "/v3_5/versions".into(),
                json!({"id": "9.9.9", "uris": [{"os": sql, "uri": "a.msi"}]}),
            );
            bad_request(
                Method::POST,
                "/v3_5/publisher-keys".into(),
                json!({"name": "publisher", "public_key": sql}),
            );
        }
        // Every string field, 10 000 characters long.
        bad_request(Method::POST, "/v3_5/organisations".into(), json!({"name": long}));
        bad_request(Method::PATCH, format!("/v3_5/organisations/{org}"), json!({"name": long}));
        for field in ["name", "application"] {
            let mut body = json!({"organisation_id": org, "name": "fine"});
            body[field] = json!(long);
            bad_request(Method::POST, "/v3_5/labels".into(), body);
            bad_request(Method::PATCH, format!("/v3_5/labels/{label}"), json!({field: long}));
        }
        for (field, value) in [("domains", &long), ("domains", &long_origin), ("tags", &long)] {
            let mut body = json!({"organisation_id": org, "name": "fine"});
            body[field] = json!([value]);
            bad_request(Method::POST, "/v3_5/labels".into(), body);
            bad_request(Method::PATCH, format!("/v3_5/labels/{label}"), json!({field: [value]}));
        }
        bad_request(Method::PUT, "/v3_5/versions".into(), json!({"id": long}));
        bad_request(Method::PUT, "/v3_5/versions".into(), json!({"id": format!("1.0.0-{long}")}));
        bad_request(
            Method::PUT,
            "/v3_5/versions".into(),
            json!({"id": "9.9.9", "uris": [{"os": long, "uri": "a.msi"}]}),
        );
        bad_request(
            Method::PUT,
            "/v3_5/versions".into(),
            json!({"id": "9.9.9", "uris": [{"os": "win64", "uri": long}]}),
        );
        bad_request(
            Method::POST,
            "/v3_5/publisher-keys".into(),
            json!({"name": long, "public_key": publisher_key(2)}),
        );
        bad_request(
            Method::POST,
            "/v3_5/publisher-keys".into(),
            json!({"name": "publisher", "public_key": long}),
        );
        bad_request(
            Method::POST,
            "/v3_5/users".into(),
            json!({"username": long, "password": PASSWORD, "role": "analyst", "organisation_id": org}),
        );
        bad_request(
            Method::POST,
            "/v3_5/users".into(),
            json!({"username": "long-password", "password": long, "role": "analyst", "organisation_id": org}),
        );
        bad_request(
            Method::POST,
            "/v3_5/users".into(),
            json!({"username": "short-password", "password": "short", "role": "analyst", "organisation_id": org}),
        );
        // An id that names nothing is an unknown object, whatever its text.
        for id in [long.as_str(), SQL[0]] {
            refused.push((
                Method::POST,
                "/v3_5/labels".into(),
                json!({"organisation_id": id, "name": "fine"}),
                StatusCode::NOT_FOUND,
            ));
            refused.push((
                Method::POST,
                "/v3_5/users".into(),
                json!({"username": "someone", "password": PASSWORD, "role": "analyst", "organisation_id": id}),
                StatusCode::NOT_FOUND,
            ));
        }
        for (method, path, body, status) in refused {
            let context = format!("{method} {path} {}", truncated(&body));
            let answer = ds.call(method, &path, Some(&admin), Some(body)).await;
            assert_refused(&answer, status, &context);
        }
        for query in [format!("?q={long}"), "?limit=abc".into()] {
            let answer =
                ds.call(Method::GET, &format!("/v3_5/labels{query}"), Some(&admin), None).await;
            assert_refused(&answer, StatusCode::BAD_REQUEST, "long search");
        }
        for sql in SQL {
            let path = format!("/v3_5/labels?q={}", percent_encode(sql));
            let (status, body) = ds.call(Method::GET, &path, Some(&admin), None).await;
            assert_eq!(status, StatusCode::OK, "search for {sql:?}: {body}");
            assert_eq!(body["data"]["total"], 0, "search for {sql:?}: {body}");
        }

        assert_eq!(snapshot(&ds, &fixture).await, before, "a refused request wrote something");
        ds.stop().await;
    }

    pub async fn sql_text_in_free_text_fields_is_stored_verbatim(backend: DsBackend) {
        let (ds, admin, fixture) = with_fixture(backend).await;
        let org = ds.organisation(&admin, SQL[0]).await;
        let (status, body) = ds
            .call(
                Method::POST,
                "/v3_5/labels",
                Some(&admin),
                Some(json!({"organisation_id": org, "name": "tagged", "application": SQL[2], "tags": SQL})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let label = body["data"]["id"].as_str().expect("label id").to_owned();
        let (status, body) = ds
            .call(
                Method::POST,
                "/v3_5/users",
                Some(&admin),
                Some(json!({"username": SQL[1], "password": PASSWORD, "role": "analyst", "organisation_id": org})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = ds
            .call(
                Method::POST,
                "/v3_5/publisher-keys",
                Some(&admin),
                Some(json!({"name": SQL[0], "public_key": publisher_key(3)})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let (_, body) =
            ds.call(Method::GET, &format!("/v3_5/labels/{label}"), Some(&admin), None).await;
        assert_eq!(body["data"]["tags"], json!(SQL));
        assert_eq!(body["data"]["application"], SQL[2]);
        let (_, body) =
            ds.call(Method::GET, &format!("/v3_5/organisations/{org}"), Some(&admin), None).await;
        assert_eq!(body["data"]["name"], SQL[0]);
        let analyst = ds.login(SQL[1], PASSWORD).await;
        let (status, body) =
            ds.call(Method::GET, &format!("/v3_5/labels/{label}"), Some(&analyst), None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the account named {:?} logs in and reads: {body}",
            SQL[1]
        );
        let (_, body) = ds.call(Method::GET, "/v3_5/publisher-keys", Some(&admin), None).await;
        assert_eq!(body["data"][0]["name"], SQL[0]);

        // The tables are all still there: the fixture label is listed and its key still works.
        let (_, body) = ds.call(Method::GET, "/v3_5/labels?limit=200", Some(&admin), None).await;
        assert_eq!(body["data"]["total"], 2, "{body}");
        assert_eq!(token_request(&ds, Some(&fixture.key)).await.0, StatusCode::OK);
        ds.stop().await;
    }

    pub async fn api_key_failures_get_one_identical_401(backend: DsBackend) {
        let ds = start(backend).await;
        let admin = ds.admin_token().await;
        let org = ds.organisation(&admin, "Acme").await;
        let (_, key) = ds.label_with_key(&admin, &org, "shop", &["https://shop.example"]).await;

        let (status, _, bytes) = token_request(&ds, Some(&key)).await;
        assert_eq!(status, StatusCode::OK);
        let body: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(body["success"], true, "{body}");
        let jwt = body["data"].as_str().expect("a JWT in data");
        let claims = jwt_claims(jwt);
        assert_eq!(claims["sub"], "shop", "{claims}");

        let (revoked_label, revoked_key) =
            ds.label_with_key(&admin, &org, "revoked", &["https://revoked.example"]).await;
        assert_eq!(token_request(&ds, Some(&revoked_key)).await.0, StatusCode::OK, "cached now");
        let key_id = key_id_of(&ds, &admin, &revoked_label, &revoked_key).await;
        let (status, body) = ds
            .call(
                Method::DELETE,
                &format!("/v3_5/labels/{revoked_label}/keys/{key_id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

        let (expiring_label, _) =
            ds.label_with_key(&admin, &org, "expiring", &["https://expiring.example"]).await;
        let (status, body) = ds
            .call(
                Method::POST,
                &format!("/v3_5/labels/{expiring_label}/keys"),
                Some(&admin),
                Some(json!({"expires_in_secs": 60})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let expiring_key = body["data"]["api_key"].as_str().expect("api_key").to_owned();
        assert_eq!(token_request(&ds, Some(&expiring_key)).await.0, StatusCode::OK);

        // Past the key expiry and the lookup cache (`api_keys.cache_secs`, 5 s by default).
        ds.clock().advance(61);
        assert_eq!(
            token_request(&ds, Some(&key)).await.0,
            StatusCode::OK,
            "a good key still works"
        );

        let unknown = format!("t1c_{}", "A".repeat(43));
        let mut truncated_key = key.clone();
        truncated_key.pop();
        let failures: [(&str, Option<&str>); 7] = [
            ("missing", None),
            ("empty", Some("")),
            ("wrong", Some("not-a-key")),
            ("truncated", Some(&truncated_key)),
            ("well-formed but unknown", Some(&unknown)),
            ("revoked", Some(&revoked_key)),
            ("expired", Some(&expiring_key)),
        ];
        let mut bodies = Vec::new();
        for (what, presented) in failures {
            let (status, _, bytes) = token_request(&ds, presented).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} key");
            let body: Value = serde_json::from_slice(&bytes).expect("JSON");
            assert_envelope(&body, StatusCode::UNAUTHORIZED, what);
            bodies.push((what, bytes));
        }
        for (what, bytes) in &bodies {
            assert_eq!(bytes, &bodies[0].1, "the {what} key's 401 differs from the missing key's");
        }
        ds.stop().await;
    }

    pub async fn two_keys_rotate_without_downtime(backend: DsBackend) {
        let ds = start(backend).await;
        let admin = ds.admin_token().await;
        let org = ds.organisation(&admin, "Acme").await;
        let (label, old) = ds.label_with_key(&admin, &org, "shop", &["https://shop.example"]).await;
        let keys_path = format!("/v3_5/labels/{label}/keys");

        let (status, body) = ds.call(Method::POST, &keys_path, Some(&admin), Some(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let new = body["data"]["api_key"].as_str().expect("api_key").to_owned();
        assert_ne!(new, old);
        assert_eq!(token_request(&ds, Some(&old)).await.0, StatusCode::OK, "the old key");
        assert_eq!(token_request(&ds, Some(&new)).await.0, StatusCode::OK, "the new key");

        let audit_before = audit_total(&ds).await;
        let answer = ds.call(Method::POST, &keys_path, Some(&admin), Some(json!({}))).await;
        assert_refused(&answer, StatusCode::CONFLICT, "a third active key");
        assert_eq!(audit_total(&ds).await, audit_before, "a refused key left an audit entry");
        assert_eq!(
            ds.store().api_keys(&KeyOwner::Label(label.clone())).await.expect("keys").len(),
            2
        );

        let old_id = key_id_of(&ds, &admin, &label, &old).await;
        let (status, body) =
            ds.call(Method::DELETE, &format!("{keys_path}/{old_id}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = ds.call(Method::POST, &keys_path, Some(&admin), Some(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED, "after a revocation a new key fits: {body}");
        let newest = body["data"]["api_key"].as_str().expect("api_key").to_owned();

        ds.clock().advance(6);
        assert_eq!(token_request(&ds, Some(&new)).await.0, StatusCode::OK);
        assert_eq!(token_request(&ds, Some(&newest)).await.0, StatusCode::OK);
        assert_eq!(token_request(&ds, Some(&old)).await.0, StatusCode::UNAUTHORIZED);
        let (_, body) = ds.call(Method::GET, &keys_path, Some(&admin), None).await;
        let listed = body["data"].as_array().expect("keys");
        assert_eq!(listed.len(), 3, "{body}");
        assert!(
            listed.iter().all(|k| k.get("api_key").is_none() && k.get("hash").is_none()),
            "a listed key shows its text or hash: {body}"
        );
        ds.stop().await;
    }

    pub async fn other_organisations_answer_404(backend: DsBackend) {
        let ds = start(backend).await;
        let t = tenants(&ds).await;
        let alice = &t.org_admin_a;
        let before = snapshot_of(&ds, &[&t.label_b]).await;

        let unknown = "00000000-0000-4000-8000-000000000000";
        let (_, missing_org) = ds
            .call(Method::GET, &format!("/v3_5/organisations/{unknown}"), Some(alice), None)
            .await;
        let (_, missing_label) =
            ds.call(Method::GET, &format!("/v3_5/labels/{unknown}"), Some(alice), None).await;
        let b = &t.org_b;
        let lb = &t.label_b;
        let kb = &t.key_id_b;
        let la = &t.label_a;
        let attempts = [
            (Method::GET, format!("/v3_5/organisations/{b}"), None, &missing_org),
            (
                Method::PATCH,
                format!("/v3_5/organisations/{b}"),
                Some(json!({"name": "Mine"})),
                &missing_org,
            ),
            (Method::DELETE, format!("/v3_5/organisations/{b}"), None, &missing_org),
            (Method::GET, format!("/v3_5/labels/{lb}"), None, &missing_label),
            (
                Method::PATCH,
                format!("/v3_5/labels/{lb}"),
                Some(json!({"application": "Mine"})),
                &missing_label,
            ),
            (Method::DELETE, format!("/v3_5/labels/{lb}"), None, &missing_label),
            (Method::GET, format!("/v3_5/labels/{lb}/keys"), None, &missing_label),
            (Method::POST, format!("/v3_5/labels/{lb}/keys"), Some(json!({})), &missing_label),
            (Method::DELETE, format!("/v3_5/labels/{lb}/keys/{kb}"), None, &missing_label),
            (
                Method::POST,
                "/v3_5/labels".into(),
                Some(json!({"organisation_id": b, "name": "planted"})),
                &missing_org,
            ),
            (
                Method::POST,
                "/v3_5/users".into(),
                Some(
                    json!({"username": "mole", "password": PASSWORD, "role": "analyst", "organisation_id": b}),
                ),
                &missing_org,
            ),
        ];
        for (method, path, body, as_if_missing) in attempts {
            let context = format!("{method} {path}");
            let answer = ds.call(method, &path, Some(alice), body).await;
            assert_refused(&answer, StatusCode::NOT_FOUND, &context);
            assert_eq!(&answer.1, as_if_missing, "{context} tells B's object from a missing one");
        }
        for path in [format!("/v3_5/users/{}", t.user_b), format!("/v3_5/labels/{la}/keys/{kb}")] {
            let answer = ds.call(Method::DELETE, &path, Some(alice), None).await;
            assert_refused(&answer, StatusCode::NOT_FOUND, &path);
        }

        for (list, expected) in [
            ("organisations", vec![t.org_a.clone()]),
            ("labels", vec![t.label_a.clone()]),
            ("users", vec![t.user_a.clone(), t.analyst_a.clone()]),
        ] {
            for query in [
                "",
                "?limit=200",
                &format!("?organisation={b}"),
                &format!("?organisation={}", t.org_a),
            ] {
                let path = format!("/v3_5/{list}{query}");
                let (status, body) = ds.call(Method::GET, &path, Some(alice), None).await;
                assert_eq!(status, StatusCode::OK, "{path}: {body}");
                let ids = ids_of(&body);
                let wanted: HashSet<String> = if query.contains(b.as_str()) {
                    HashSet::new()
                } else {
                    expected.iter().cloned().collect()
                };
                assert_eq!(ids, wanted, "{path}: {body}");
                assert_eq!(body["data"]["total"], wanted.len(), "{path}: {body}");
            }
        }

        // Within A, the organisation admin does manage.
        let (status, body) =
            ds.call(Method::GET, &format!("/v3_5/labels/{la}"), Some(alice), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = ds
            .call(
                Method::PATCH,
                &format!("/v3_5/labels/{la}"),
                Some(alice),
                Some(json!({"tags": ["eu"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        assert_eq!(snapshot_of(&ds, &[&t.label_b]).await["b"], before["b"], "B was changed");
        assert_eq!(
            token_request(&ds, Some(&t.key_b)).await.0,
            StatusCode::OK,
            "B's key still works"
        );
        ds.stop().await;
    }

    /// PostgreSQL's text cannot hold NUL: a NUL anywhere in the input must be refused or be
    /// an unknown object, never a database failure (503).
    pub async fn nul_characters_never_reach_the_database(backend: DsBackend) {
        let (ds, admin, fixture) = with_fixture(backend).await;
        let before = snapshot(&ds, &fixture).await;
        let org = &fixture.organisation;
        let nul = "a\u{0}b";
        let answers = [
            (Method::GET, "/v3_5/labels/a%00b".to_owned(), None, StatusCode::NOT_FOUND),
            (Method::GET, "/v3_5/organisations/a%00b".to_owned(), None, StatusCode::NOT_FOUND),
            (Method::GET, "/v3_5/versions/a%00b".to_owned(), None, StatusCode::NOT_FOUND),
            (Method::DELETE, "/v3_5/users/a%00b".to_owned(), None, StatusCode::NOT_FOUND),
            (
                Method::POST,
                "/v3_5/labels".to_owned(),
                Some(json!({"organisation_id": nul, "name": "fine"})),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::POST,
                "/v3_5/organisations".to_owned(),
                Some(json!({"name": nul})),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/v3_5/labels".to_owned(),
                Some(json!({"organisation_id": org, "name": "fine", "tags": [nul]})),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/v3_5/auth/token".to_owned(),
                Some(json!({"username": nul, "password": PASSWORD})),
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for (method, path, body, status) in answers {
            let context = format!("{method} {path} {body:?}");
            let answer = ds.call(method, &path, Some(&admin), body).await;
            assert_refused(&answer, status, &context);
        }
        for query in ["q=a%00b", "organisation=a%00b", "q=%0A"] {
            for list in ["labels", "organisations", "users", "audit"] {
                let path = format!("/v3_5/{list}?{query}");
                let answer = ds.call(Method::GET, &path, Some(&admin), None).await;
                assert_refused(&answer, StatusCode::BAD_REQUEST, &path);
            }
        }
        assert_eq!(snapshot(&ds, &fixture).await, before);
        ds.stop().await;
    }
}

// ----- SQLite only -----

#[tokio::test]
async fn installer_paths_outside_the_installers_directory_are_refused() {
    let (ds, admin, fixture) = with_fixture(DsBackend::Sqlite).await;
    let before = snapshot(&ds, &fixture).await;
    for uri in [
        "../../etc/passwd",
        "/etc/passwd",
        "a/../../b",
        "a/..",
        "..",
        "C:\\x",
        "C:/x",
        "\\\\server\\share\\x.msi",
        "file:///etc/passwd",
        "ftp://example.com/x.msi",
        "http://example.com/x.msi",
        "https://user:secret@example.com/x.msi",
        "a\u{0}.msi",
        "",
    ] {
        let body = json!({"id": "9.9.9", "uris": [{"os": "win64", "uri": uri}]});
        let answer = ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(body)).await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, &format!("installer {uri:?}"));
    }
    assert_eq!(snapshot(&ds, &fixture).await, before);
    let answer = ds.call(Method::GET, "/v3_5/versions/9.9.9", None, None).await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "the refused version");
    ds.stop().await;
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_queries_get_the_envelope() {
    let ds = start(DsBackend::Sqlite).await;
    let admin = ds.admin_token().await;
    for path in ["/v3_5/nothing-here", "/nothing", "/v3_5/labels/a/b/c/d"] {
        let answer = ds.call(Method::GET, path, Some(&admin), None).await;
        assert_refused(&answer, StatusCode::NOT_FOUND, path);
    }
    for (method, path) in [
        (Method::PUT, "/v3_5/labels"),
        (Method::DELETE, "/v3_5/system/status"),
        (Method::POST, "/v3_5/tokens/application"),
        (Method::PATCH, "/v3_5/versions"),
    ] {
        let response = ds
            .client()
            .request(method.clone(), format!("{}{path}", ds.url()))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(response.headers().contains_key("allow"), "{method} {path}: no Allow header");
        let body: Value = response.json().await.expect("JSON");
        assert_envelope(&body, StatusCode::METHOD_NOT_ALLOWED, path);
    }
    for list in ["organisations", "labels", "users", "audit"] {
        for query in ["limit=abc", "limit=0", "limit=1000", "limit=-1", "offset=x", "offset=-5"] {
            let path = format!("/v3_5/{list}?{query}");
            let answer = ds.call(Method::GET, &path, Some(&admin), None).await;
            assert_refused(&answer, StatusCode::BAD_REQUEST, &path);
        }
        let (status, body) = ds
            .call(Method::GET, &format!("/v3_5/{list}?limit=200&offset=0"), Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}: {body}");
    }
    ds.stop().await;
}

#[tokio::test]
async fn failures_from_one_address_are_limited_then_forgiven() {
    let ds = TestDs::start_with(DsBackend::Sqlite, |config| {
        config.api_keys.failures_per_address_per_minute = 3;
    })
    .await
    .expect("DS starts");
    let admin = ds.admin_token().await;
    let org = ds.organisation(&admin, "Acme").await;
    let (_, key) = ds.label_with_key(&admin, &org, "shop", &["https://shop.example"]).await;
    assert_eq!(token_request(&ds, Some(&key)).await.0, StatusCode::OK);

    for attempt in 1..=3 {
        let (status, _, _) = token_request(&ds, Some("t1c_wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {attempt}");
    }
    let (status, headers, bytes) = token_request(&ds, Some(&key)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a valid key over the address's budget");
    let body: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_envelope(&body, StatusCode::TOO_MANY_REQUESTS, "over budget");
    let retry_after = retry_after(&headers);
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(token_request(&ds, Some("t1c_wrong")).await.0, StatusCode::TOO_MANY_REQUESTS);

    ds.clock().advance(60);
    let (status, _, bytes) = token_request(&ds, Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    ds.stop().await;
}

#[tokio::test]
async fn each_key_has_its_own_request_budget() {
    let ds = TestDs::start_with(DsBackend::Sqlite, |config| {
        config.api_keys.requests_per_key_per_minute = 2;
    })
    .await
    .expect("DS starts");
    let admin = ds.admin_token().await;
    let org = ds.organisation(&admin, "Acme").await;
    let (_, busy) = ds.label_with_key(&admin, &org, "busy", &["https://busy.example"]).await;
    let (_, quiet) = ds.label_with_key(&admin, &org, "quiet", &["https://quiet.example"]).await;

    assert_eq!(token_request(&ds, Some(&busy)).await.0, StatusCode::OK);
    assert_eq!(token_request(&ds, Some(&busy)).await.0, StatusCode::OK);
    let (status, headers, bytes) = token_request(&ds, Some(&busy)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_envelope(&serde_json::from_slice(&bytes).expect("JSON"), status, "busy key");
    assert!((1..=60).contains(&retry_after(&headers)));
    assert_eq!(token_request(&ds, Some(&quiet)).await.0, StatusCode::OK, "another label's key");

    ds.clock().advance(60);
    assert_eq!(token_request(&ds, Some(&busy)).await.0, StatusCode::OK, "a new minute");
    ds.stop().await;
}

#[tokio::test]
async fn organisation_admins_cannot_act_beyond_their_organisation() {
    let ds = start(DsBackend::Sqlite).await;
    let t = tenants(&ds).await;
    let alice = &t.org_admin_a;
    let before = snapshot_of(&ds, &[&t.label_a, &t.label_b]).await;
    let attempts = [
        (Method::POST, "/v3_5/organisations".to_owned(), Some(json!({"name": "Own"}))),
        (
            Method::PATCH,
            format!("/v3_5/organisations/{}", t.org_a),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/v3_5/organisations/{}", t.org_a), None),
        (Method::PUT, "/v3_5/versions".to_owned(), Some(version_body("9.0.0"))),
        (Method::DELETE, "/v3_5/versions/3.8.2".to_owned(), None),
        (Method::GET, "/v3_5/versions/3.8.2/keys".to_owned(), None),
        (Method::POST, "/v3_5/versions/3.8.2/keys".to_owned(), Some(json!({}))),
        (
            Method::POST,
            "/v3_5/publisher-keys".to_owned(),
            Some(json!({"name": "mine", "public_key": publisher_key(4)})),
        ),
        (Method::DELETE, "/v3_5/publisher-keys/0123456789abcdef".to_owned(), None),
        (
            Method::POST,
            "/v3_5/users".to_owned(),
            Some(json!({"username": "root2", "password": PASSWORD, "role": "platform-admin"})),
        ),
        (Method::DELETE, format!("/v3_5/users/{}", t.admin_id), None),
    ];
    for (method, path, body) in attempts {
        let context = format!("{method} {path}");
        let answer = ds.call(method, &path, Some(alice), body).await;
        assert_refused(&answer, StatusCode::FORBIDDEN, &context);
    }
    assert_eq!(snapshot_of(&ds, &[&t.label_a, &t.label_b]).await, before);

    let (status, body) = ds
        .call(
            Method::POST,
            "/v3_5/users",
            Some(alice),
            Some(json!({"username": "amy", "password": PASSWORD, "role": "analyst", "organisation_id": t.org_a})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "an analyst of A: {body}");
    ds.stop().await;
}

#[tokio::test]
async fn analysts_read_their_organisation_and_change_nothing() {
    let ds = start(DsBackend::Sqlite).await;
    let t = tenants(&ds).await;
    let alan = &t.analyst_token_a;
    let la = &t.label_a;
    let before = snapshot_of(&ds, &[&t.label_a, &t.label_b]).await;

    let (status, body) =
        ds.call(Method::GET, &format!("/v3_5/labels/{la}"), Some(alan), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = ds.call(Method::GET, "/v3_5/labels", Some(alan), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids_of(&body), HashSet::from([la.clone()]));
    let (status, body) =
        ds.call(Method::GET, &format!("/v3_5/labels/{la}/keys"), Some(alan), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer =
        ds.call(Method::GET, &format!("/v3_5/labels/{}", t.label_b), Some(alan), None).await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "B's label");

    let writes = [
        (
            Method::POST,
            "/v3_5/labels".to_owned(),
            Some(json!({"organisation_id": t.org_a, "name": "mine"})),
        ),
        (Method::PATCH, format!("/v3_5/labels/{la}"), Some(json!({"tags": ["x"]}))),
        (Method::DELETE, format!("/v3_5/labels/{la}"), None),
        (Method::POST, format!("/v3_5/labels/{la}/keys"), Some(json!({}))),
        (Method::DELETE, format!("/v3_5/labels/{la}/keys/{}", t.key_id_a), None),
        (Method::POST, "/v3_5/organisations".to_owned(), Some(json!({"name": "Own"}))),
        (
            Method::PATCH,
            format!("/v3_5/organisations/{}", t.org_a),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/v3_5/organisations/{}", t.org_a), None),
        (Method::PUT, "/v3_5/versions".to_owned(), Some(version_body("9.0.0"))),
        (
            Method::POST,
            "/v3_5/publisher-keys".to_owned(),
            Some(json!({"name": "mine", "public_key": publisher_key(5)})),
        ),
        (
            Method::POST,
            "/v3_5/users".to_owned(),
            Some(
                json!({"username": "friend", "password": PASSWORD, "role": "analyst", "organisation_id": t.org_a}),
            ),
        ),
        (Method::DELETE, format!("/v3_5/users/{}", t.user_a), None),
        (Method::GET, "/v3_5/users".to_owned(), None),
    ];
    for (method, path, body) in writes {
        let context = format!("{method} {path}");
        let answer = ds.call(method, &path, Some(alan), body).await;
        assert_refused(&answer, StatusCode::FORBIDDEN, &context);
    }
    assert_eq!(snapshot_of(&ds, &[&t.label_a, &t.label_b]).await, before);
    ds.stop().await;
}

#[tokio::test]
async fn sessions_end_when_they_expire() {
    let ds = start(DsBackend::Sqlite).await;
    let t = tenants(&ds).await;
    let (status, body) = ds.call(Method::GET, "/v3_5/labels", Some(&t.org_admin_a), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ds.clock().advance(ds.config().sessions.lifetime_secs - 1);
    assert_eq!(
        ds.call(Method::GET, "/v3_5/labels", Some(&t.org_admin_a), None).await.0,
        StatusCode::OK
    );
    ds.clock().advance(2);
    let answer = ds.call(Method::GET, "/v3_5/labels", Some(&t.org_admin_a), None).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "an expired session");
    ds.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let ds = start(DsBackend::Sqlite).await;
    let admin = ds.admin_token().await;
    let other = ds.admin_token().await;
    let (status, body) = ds.call(Method::DELETE, "/v3_5/auth/token", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let answer = ds.call(Method::GET, "/v3_5/organisations", Some(&admin), None).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "after logout");
    let (status, _) = ds.call(Method::GET, "/v3_5/organisations", Some(&other), None).await;
    assert_eq!(status, StatusCode::OK, "another session of the same account lives on");
    let answer = ds.call(Method::GET, "/v3_5/organisations", None, None).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "no token");
    ds.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let ds = start(DsBackend::Sqlite).await;
    let mut bodies = Vec::new();
    for (username, password) in
        [("admin", "wrong password!"), ("nobody-at-all", "wrong password!"), ("admin", "")]
    {
        let response = ds
            .client()
            .post(format!("{}/v3_5/auth/token", ds.url()))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{username}");
        bodies.push(response.bytes().await.expect("body"));
    }
    let body: Value = serde_json::from_slice(&bodies[0]).expect("JSON");
    assert_envelope(&body, StatusCode::UNAUTHORIZED, "login");
    assert!(bodies.iter().all(|b| *b == bodies[0]), "the 401s differ: {bodies:?}");
    ds.stop().await;
}

#[tokio::test]
async fn every_change_is_audited_newest_first() {
    let ds = start(DsBackend::Sqlite).await;
    let t = tenants(&ds).await;
    let admin = &t.admin;
    let baseline = audit_total(&ds).await;

    let org = ds.organisation(admin, "Audited").await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let ds = &ds;
        async move {
            let (status, answer) = ds.call(method.clone(), &path, Some(admin), body).await;
            assert!(status.is_success(), "{method} {path}: {status} {answer}");
            answer
        }
    };
    call(Method::PATCH, format!("/v3_5/organisations/{org}"), Some(json!({"name": "Audited NV"})))
        .await;
    let created = call(
        Method::POST,
        "/v3_5/labels".into(),
        Some(json!({"organisation_id": t.org_a, "name": "audited", "domains": ["https://a.example"]})),
    )
    .await;
    let label = created["data"]["id"].as_str().expect("id").to_owned();
    call(Method::PATCH, format!("/v3_5/labels/{label}"), Some(json!({"tags": ["eu"]}))).await;
    let key = call(Method::POST, format!("/v3_5/labels/{label}/keys"), Some(json!({}))).await;
    let key_id = key["data"]["id"].as_str().expect("key id").to_owned();
    call(Method::DELETE, format!("/v3_5/labels/{label}/keys/{key_id}"), None).await;
    call(Method::DELETE, format!("/v3_5/labels/{label}"), None).await;
    call(Method::PUT, "/v3_5/versions".into(), Some(version_body("3.9.0"))).await;
    call(
        Method::POST,
        "/v3_5/labels".into(),
        Some(json!({"organisation_id": t.org_b, "name": "audited-b"})),
    )
    .await;

    let expected = [
        ("organisation.create", Some(org.as_str())),
        ("organisation.rename", Some(org.as_str())),
        ("label.create", Some(t.org_a.as_str())),
        ("label.update", Some(t.org_a.as_str())),
        ("api_key.create", Some(t.org_a.as_str())),
        ("api_key.revoke", Some(t.org_a.as_str())),
        ("label.delete", Some(t.org_a.as_str())),
        ("version.put", None),
        ("label.create", Some(t.org_b.as_str())),
    ];
    let (status, body) = ds.call(Method::GET, "/v3_5/audit?limit=200", Some(admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["data"]["items"].as_array().expect("items");
    let added = u64::try_from(expected.len()).expect("small");
    assert_eq!(body["data"]["total"], baseline + added, "{body}");
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "not newest first: {ids:?}");
    let newest: Vec<(String, Option<String>, String)> = entries[..expected.len()]
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["organisation_id"].as_str().map(str::to_owned),
                e["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let wanted: Vec<(String, Option<String>, String)> = expected
        .iter()
        .map(|(action, org)| {
            ((*action).to_owned(), org.map(str::to_owned), "user:admin".to_owned())
        })
        .collect();
    assert_eq!(newest, wanted);
    let put = entries.iter().find(|e| e["action"] == "version.put").expect("version.put");
    assert_eq!(put["object_id"], "3.9.0", "{put}");
    assert_eq!(put["detail"]["recommended"], true, "{put}");
    let api_key = key["data"]["api_key"].as_str().expect("api_key");
    assert!(!body.to_string().contains(api_key), "the audit log holds an API key");

    // The organisation admin sees A's entries only.
    let (status, body) =
        ds.call(Method::GET, "/v3_5/audit?limit=200", Some(&t.org_admin_a), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["data"]["items"].as_array().expect("items");
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["organisation_id"] == t.org_a.as_str()),
        "an entry of another organisation: {body}"
    );
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in
        ["label.create", "label.update", "api_key.create", "api_key.revoke", "label.delete"]
    {
        assert!(actions.contains(&action), "{action} missing from A's log: {actions:?}");
    }
    let (_, body) = ds
        .call(
            Method::GET,
            &format!("/v3_5/audit?organisation={}", t.org_b),
            Some(&t.org_admin_a),
            None,
        )
        .await;
    assert_eq!(body["data"]["total"], 0, "{body}");
    ds.stop().await;
}

#[tokio::test]
async fn versions_are_put_in_t1c_shape_and_read_publicly() {
    let ds = start(DsBackend::Sqlite).await;
    let admin = ds.admin_token().await;
    let answer = ds.call(Method::GET, "/v3_5/versions/latest", None, None).await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "latest with no version");

    let t1c_body = json!({"id": "3.8.2", "recommended": true, "mandatory": false, "allowed": true,
        "uris": [{"os": "WIN64", "uri": "t1c-3.8.2.msi"}]});
    let (status, body) = ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(t1c_body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], "3.8.2");
    let stored = ds.store().version("3.8.2").await.expect("stored");
    assert!(stored.recommended && !stored.mandatory && stored.allowed);
    assert_eq!(stored.installers.len(), 1);
    assert_eq!(stored.installers[0].source, "t1c-3.8.2.msi");
    assert_eq!(stored.installers[0].os.to_string(), "win64");

    for id in ["3.10.0", "3.9.1", "4.0.0-rc.1"] {
        let (status, body) =
            ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(version_body(id))).await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
    }
    let (status, body) = ds.call(Method::GET, "/v3_5/versions/latest", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["id"], "3.10.0", "the highest release by semver, not text: {body}");

    let (status, body) = ds.call(Method::GET, "/v3_5/versions/3.8.2", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["recommended"], true);
    assert_eq!(body["data"]["mandatory"], false);
    assert_eq!(body["data"]["allowed"], true);
    assert_eq!(body["data"]["downloads"][0]["os"], "win64", "{body}");
    assert!(body["data"].get("installers").is_none(), "installer sources are not public: {body}");
    let answer = ds.call(Method::GET, "/v3_5/versions/9.9.9", None, None).await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "an unknown version");

    // PUT replaces: flags and installers follow the last body.
    let replaced =
        json!({"id": "3.8.2", "recommended": false, "mandatory": true, "allowed": false});
    let (status, body) = ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(replaced)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = ds.store().version("3.8.2").await.expect("stored");
    assert!(
        !stored.recommended && stored.mandatory && !stored.allowed && stored.installers.is_empty()
    );
    ds.stop().await;
}

#[tokio::test]
async fn health_status_and_openapi_answer_without_credentials() {
    let ds = start(DsBackend::Sqlite).await;
    for path in ["/healthz", "/readyz"] {
        let (status, body) = ds.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["status"], "ok", "{path}: {body}");
    }
    let (status, body) = ds.call(Method::GET, "/v3_5/system/status", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["data"]["status"], "ok", "{body}");
    assert!(body["data"]["version"].is_string(), "{body}");

    let (status, body) = ds.call(Method::GET, "/v3_5/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", body["openapi"]);
    let paths = body["paths"].as_object().expect("paths");
    for path in
        ["/v3_5/tokens/application", "/v3_5/versions", "/v3_5/labels/{id}/keys", "/v3_5/audit"]
    {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    assert!(paths["/v3_5/tokens/application"]["get"].is_object());
    ds.stop().await;
}

// ----- Fixtures and helpers -----

/// A password that passes the rules (12 characters or more).
const PASSWORD: &str = "correct horse battery";

async fn start(backend: DsBackend) -> TestDs {
    TestDs::start(backend).await.expect("DS starts")
}

/// What the bad-input checks are tried against: an organisation, a label with a key and a
/// version, so that every route has something to refuse to change.
struct Fixture {
    organisation: String,
    label: String,
    key: String,
}

async fn with_fixture(backend: DsBackend) -> (TestDs, String, Fixture) {
    let ds = start(backend).await;
    let admin = ds.admin_token().await;
    let organisation = ds.organisation(&admin, "Acme").await;
    let (label, key) =
        ds.label_with_key(&admin, &organisation, "shop", &["https://shop.example"]).await;
    let (status, body) =
        ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(version_body("3.8.2"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (ds, admin, Fixture { organisation, label, key })
}

/// Two organisations, each with a label and key, an organisation administrator each, and an
/// analyst for A; the sessions of A's accounts.
struct Tenants {
    admin: String,
    admin_id: String,
    org_a: String,
    org_b: String,
    label_a: String,
    label_b: String,
    key_id_a: String,
    key_b: String,
    key_id_b: String,
    user_a: String,
    analyst_a: String,
    user_b: String,
    org_admin_a: String,
    analyst_token_a: String,
}

async fn tenants(ds: &TestDs) -> Tenants {
    let admin = ds.admin_token().await;
    let org_a = ds.organisation(&admin, "Org A").await;
    let org_b = ds.organisation(&admin, "Org B").await;
    let (label_a, key_a) =
        ds.label_with_key(&admin, &org_a, "shop-a", &["https://a.example"]).await;
    let (label_b, key_b) =
        ds.label_with_key(&admin, &org_b, "shop-b", &["https://b.example"]).await;
    let key_id_a = key_id_of(ds, &admin, &label_a, &key_a).await;
    let key_id_b = key_id_of(ds, &admin, &label_b, &key_b).await;
    let user_a = account(ds, &admin, "alice", "organisation-admin", &org_a).await;
    let analyst_a = account(ds, &admin, "alan", "analyst", &org_a).await;
    let user_b = account(ds, &admin, "bob", "organisation-admin", &org_b).await;
    let (status, body) =
        ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(version_body("3.8.2"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_id = ds.store().user_by_name("admin").await.expect("bootstrap admin").id;
    Tenants {
        org_admin_a: ds.login("alice", PASSWORD).await,
        analyst_token_a: ds.login("alan", PASSWORD).await,
        admin,
        admin_id,
        org_a,
        org_b,
        label_a,
        label_b,
        key_id_a,
        key_b,
        key_id_b,
        user_a,
        analyst_a,
        user_b,
    }
}

/// Creates an account as `admin`; returns its id.
async fn account(ds: &TestDs, admin: &str, username: &str, role: &str, org: &str) -> String {
    let (status, body) = ds
        .call(
            Method::POST,
            "/v3_5/users",
            Some(admin),
            Some(json!({"username": username, "password": PASSWORD, "role": role, "organisation_id": org})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{username}: {body}");
    assert!(body["data"].get("password").is_none(), "a chosen password is echoed: {body}");
    body["data"]["id"].as_str().expect("user id").to_owned()
}

/// A version body in T1C's shape with one Windows installer.
fn version_body(id: &str) -> Value {
    json!({"id": id, "recommended": true, "mandatory": false, "allowed": true,
        "uris": [{"os": "win64", "uri": format!("t1c-{id}.msi")}]})
}

/// A valid Ed25519 public key, base64, from a seed byte.
fn publisher_key(seed: u8) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// The id of the key of `label` whose text is `key` (found by its hint).
async fn key_id_of(ds: &TestDs, admin: &str, label: &str, key: &str) -> String {
    let (status, body) =
        ds.call(Method::GET, &format!("/v3_5/labels/{label}/keys"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["hint"].as_str().is_some_and(|hint| key.starts_with(hint)))
        .and_then(|k| k["id"].as_str())
        .expect("the key is listed")
        .to_owned()
}

/// `GET /v3_5/tokens/application` with `apikey` (absent when `None`): status, headers and the
/// body's exact bytes.
async fn token_request(ds: &TestDs, apikey: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = ds.client().get(format!("{}/v3_5/tokens/application", ds.url()));
    if let Some(key) = apikey {
        request = request.header("apikey", key);
    }
    let response = request.send().await.expect("answers");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.expect("body").to_vec())
}

/// Sends `body` as-is with a JSON content type.
async fn send_raw(
    ds: &TestDs,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut request = ds
        .client()
        .request(method, format!("{}{path}", ds.url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answers");
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The T1C code of each status the DS answers with.
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "106997",
        401 => "104025",
        403 => "104030",
        404 => "112999",
        405 => "106405",
        409 => "106409",
        413 => "106413",
        429 => "104429",
        other => panic!("no code expected for {other}"),
    }
}

/// `body` is the error envelope for `status`: `{success: false, code, description}`, nothing
/// else.
#[track_caller]
fn assert_envelope(body: &Value, status: StatusCode, context: &str) {
    assert_eq!(body["success"], false, "{context}: {body}");
    assert_eq!(body["code"], code_for(status), "{context}: {body}");
    assert!(
        body["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{context}: no description in {body}"
    );
    assert_eq!(body.as_object().map(serde_json::Map::len), Some(3), "{context}: {body}");
}

/// The answer is `status` with its envelope.
#[track_caller]
fn assert_refused(answer: &(StatusCode, Value), status: StatusCode, context: &str) {
    assert_eq!(answer.0, status, "{context}: {}", answer.1);
    assert_envelope(&answer.1, status, context);
}

fn retry_after(headers: &HeaderMap) -> u64 {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds")
}

/// The claims of a JWT (not verified: the token tests do that).
fn jwt_claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {jwt}");
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
    serde_json::from_slice(&payload).expect("JSON claims")
}

/// The ids of a list answer's items.
fn ids_of(body: &Value) -> HashSet<String> {
    body["data"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

async fn audit_total(ds: &TestDs) -> u64 {
    ds.store().audit_log(&Filter::default(), Paging::default()).await.expect("audit").total
}

/// Everything the store holds that an operator can change, read from the store itself.
async fn snapshot(ds: &TestDs, fixture: &Fixture) -> Value {
    snapshot_of(ds, &[&fixture.label]).await
}

/// [`snapshot`], with the keys of `labels`; `b` holds the second label's part alone.
async fn snapshot_of(ds: &TestDs, labels: &[&String]) -> Value {
    let store = ds.store();
    let all = Paging { offset: 0, limit: Paging::MAX_LIMIT };
    let none = Filter::default();
    let mut versions = store.versions().await.expect("versions");
    versions.sort_by(|a, b| a.id.cmp(&b.id));
    let mut keys = Vec::new();
    for label in labels {
        keys.push(json!(store.api_keys(&KeyOwner::Label((*label).clone())).await.expect("keys")));
    }
    let labels_listed = store.labels(&none, all).await.expect("labels");
    let b = labels.get(1).map(|id| {
        json!({
            "label": labels_listed.items.iter().find(|l| &&l.id == id),
            "keys": keys.get(1),
        })
    });
    json!({
        "audit": store.audit_log(&none, Paging::default()).await.expect("audit").total,
        "organisations": store.organisations(&none, all).await.expect("organisations"),
        "labels": labels_listed,
        "users": store.users(&none, all).await.expect("users"),
        "versions": versions,
        "publisher_keys": store.publisher_keys().await.expect("publisher keys"),
        "keys": keys,
        "b": b,
    })
}

/// `value` shortened for messages.
fn truncated(value: &Value) -> String {
    value.to_string().chars().take(120).collect()
}

/// Percent-encodes everything but unreserved characters (for query values).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
