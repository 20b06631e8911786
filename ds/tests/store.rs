//! The storage conformance suite: every behaviour of [`Store`] the DS relies on, written once in
//! `checks` and run against both backends, a fresh SQLite file and a fresh PostgreSQL database
//! per test (`<check>::sqlite`, `<check>::postgres`).
//!
//! Times are plain numbers passed in; nothing here waits on a clock.

use std::sync::Arc;

use serde_json::json;
use sqlx::Row;
use t1c_ds::store::{
    ApiKey, AuditEvent, Backend, Device, DeviceReport, Filter, Installer, KeyOwner, Label,
    Organisation, Paging, ProtocolKeysRecord, PublisherKey, Role, SigningKeyRecord, SqlStore,
    Store, StoreError, UsageFilter, User, Version,
};
use t1c_ds::store::{BundleRecord, Rollout, RolloutReport, RolloutState, RolloutStatus};
use t1c_ds::store::{KeystoreScope, PrivateKeyPem, TlsKeystoreRecord};
use t1c_ds::store::{Month, MonthFilter, OidcLogin, OidcSession};
use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
use t1c_ds_protocol::platform::Os;
use t1c_testkit::postgres::TestDatabase;
use tempfile::TempDir;

/// Generates `mod <check> { sqlite, postgres }`, each opening its own database and running
/// `checks::<check>` on it.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = Db::open(Backend::Sqlite).await;
                checks::$check(Given::given(&db)).await;
                db.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = Db::open(Backend::Postgres).await;
                checks::$check(Given::given(&db)).await;
                db.close().await;
            }
        }
    )*};
}

conformance!(
    organisations_round_trip,
    organisations_page_and_filter,
    organisation_rename,
    organisation_names_are_unique,
    organisation_delete_cascades,
    unknown_organisation_is_not_found,
    labels_round_trip_and_update,
    labels_are_filtered_by_organisation,
    label_needs_its_organisation,
    label_names_are_unique,
    label_delete_removes_its_keys,
    versions_put_get_list,
    version_put_replaces_flags_and_installers,
    version_delete_removes_installers_and_keys,
    api_keys_for_labels_and_versions,
    api_keys_active_limit,
    api_key_revoke,
    api_key_hashes_are_unique,
    every_change_is_audited_once,
    audit_log_filters_by_organisation,
    failed_changes_leave_no_trace,
    publisher_keys_lifecycle,
    users_round_trip,
    sessions_live_until_expiry,
    oidc_sign_ins_are_taken_once_and_oidc_sessions_expire,
    user_delete_ends_sessions,
    signing_keys_lifecycle,
    signing_key_generations_are_unique,
    hostile_values_round_trip,
    two_processes_share_one_database,
    concurrent_key_creation_keeps_the_limit,
    reopening_keeps_data,
    registration_tokens_are_single_use,
    a_sync_is_written_whole_or_not_at_all,
    deleted_label_names_are_never_reused,
    devices_round_trip_and_revoke,
    message_ids_are_seen_once,
    counters_keep_the_newest_sequence,
    closing_a_month_archives_and_resets_it,
    late_counts_become_adjustments_once,
    two_processes_close_a_month_once,
    rollover_closes_due_months_in_order,
    protocol_key_generations_are_unique,
    tls_keystores_lifecycle,
    organisation_keystores_round_trip,
    bundles_and_rollouts_lifecycle,
);

// ----- The fixture -----

/// One fresh database and a store on it.
struct Db {
    store: Arc<SqlStore>,
    url: String,
    _dir: Option<TempDir>,
    _server: Option<TestDatabase>,
}

impl Db {
    async fn open(backend: Backend) -> Db {
        let (url, dir, server) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("ds.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let server = tokio::task::spawn_blocking(TestDatabase::start)
                    .await
                    .expect("join")
                    .expect("a PostgreSQL test database");
                (server.url().to_owned(), None, Some(server))
            }
        };
        let store = Arc::new(SqlStore::open(&url, 4).await.expect("store opens"));
        assert_eq!(store.backend(), backend);
        Db { store, url, _dir: dir, _server: server }
    }

    /// Another store on the same database: a second DS process.
    async fn reopen(&self) -> SqlStore {
        SqlStore::open(&self.url, 4).await.expect("store reopens")
    }

    async fn close(self) {
        self.store.close().await;
    }
}

/// What a check takes: the store alone, or the database when it opens more stores.
trait Given {
    fn given(db: &Db) -> &Self;
}

impl Given for dyn Store {
    fn given(db: &Db) -> &Self {
        &*db.store
    }
}

impl Given for Db {
    fn given(db: &Db) -> &Self {
        db
    }
}

// ----- Builders -----

const T0: i64 = 1_700_000_000;

fn event(action: &'static str, organisation_id: Option<&str>) -> AuditEvent {
    AuditEvent {
        actor: "user:admin".into(),
        action,
        organisation_id: organisation_id.map(str::to_owned),
        detail: json!({ "test": action }),
        at: T0,
    }
}

fn organisation(id: &str, name: &str) -> Organisation {
    Organisation { id: id.into(), name: name.into(), created_at: T0, updated_at: T0 }
}

fn label(id: &str, organisation_id: &str, name: &str) -> Label {
    Label {
        id: id.into(),
        organisation_id: organisation_id.into(),
        name: name.into(),
        application: format!("{name} app"),
        domains: vec!["https://shop.example".into(), "https://www.shop.example:8443".into()],
        tags: vec!["retail".into(), "eu".into()],
        created_at: T0,
        updated_at: T0,
    }
}

fn version(id: &str, installers: &[(Os, &str)]) -> Version {
    Version {
        id: id.into(),
        recommended: true,
        mandatory: false,
        allowed: true,
        installers: installers
            .iter()
            .map(|&(os, source)| Installer { os, source: source.into() })
            .collect(),
        created_at: T0,
        updated_at: T0,
    }
}

/// A key whose hash is `[n; 32]`.
fn key(id: &str, owner: KeyOwner, n: u8) -> ApiKey {
    ApiKey {
        id: id.into(),
        owner,
        hash: [n; 32],
        hint: format!("t1c_{n:02x}"),
        created_at: T0,
        expires_at: None,
        revoked_at: None,
    }
}

fn label_owner(id: &str) -> KeyOwner {
    KeyOwner::Label(id.into())
}

fn user(id: &str, username: &str, role: Role, organisation_id: Option<&str>) -> User {
    User {
        id: id.into(),
        username: username.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${username}"),
        role,
        organisation_id: organisation_id.map(str::to_owned),
        created_at: T0,
    }
}

fn signing_key(generation: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: format!("kid-{generation}"),
        generation,
        algorithm: "ES256".into(),
        private_pkcs8: Some(vec![0x30, 0x81, generation as u8, 0x00, 0xff]),
        public_jwk: format!(r#"{{"kty":"EC","kid":"kid-{generation}"}}"#),
        created_at: T0 + generation,
        activates_at: T0 + generation + 3600,
        published_until: None,
    }
}

fn tls_keystore(id: &str, scope: KeystoreScope, not_after: i64) -> TlsKeystoreRecord {
    TlsKeystoreRecord {
        id: id.into(),
        scope,
        dns_names: vec!["localhost".into(), "t1c.local".into()],
        chain_pem: format!("-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----\n"),
        key_pem: PrivateKeyPem::new(format!("-----BEGIN PRIVATE KEY-----\n{id}\n")),
        not_after,
        fingerprint: format!("fp-{id}"),
        created_at: T0,
        revoked_at: None,
    }
}

fn by_org(id: &str) -> Filter {
    Filter { organisation_id: Some(id.into()), name_contains: None }
}

fn named(text: &str) -> Filter {
    Filter { organisation_id: None, name_contains: Some(text.into()) }
}

fn page(offset: u32, limit: u32) -> Paging {
    Paging { offset, limit }
}

fn all() -> Paging {
    page(0, Paging::MAX_LIMIT)
}

async fn audit_total(store: &dyn Store) -> u64 {
    store.audit_log(&Filter::default(), page(0, 1)).await.expect("audit log").total
}

async fn organisation_names(store: &dyn Store, filter: &Filter) -> Vec<String> {
    let listed = store.organisations(filter, all()).await.expect("organisations");
    listed.items.into_iter().map(|o| o.name).collect()
}

/// Creates organisation `org-<n>` named `Org <n>`.
async fn given_organisation(store: &dyn Store, n: u32) -> Organisation {
    let org = organisation(&format!("org-{n}"), &format!("Org {n}"));
    store.create_organisation(&org, &event("organisation.create", Some(&org.id))).await.unwrap();
    org
}

async fn given_label(store: &dyn Store, id: &str, organisation_id: &str) -> Label {
    let l = label(id, organisation_id, &format!("{id}-name"));
    store.create_label(&l, &event("label.create", Some(organisation_id))).await.unwrap();
    l
}

async fn given_key(store: &dyn Store, k: &ApiKey) {
    store.create_api_key(k, 2, &event("api_key.create", None)).await.unwrap();
}

#[track_caller]
fn assert_conflict(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected a conflict: {result:?}");
}

#[track_caller]
fn assert_not_found(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "expected not found: {result:?}");
}

#[track_caller]
fn assert_refused(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(matches!(result, Err(StoreError::Refused(_))), "expected a refusal: {result:?}");
}

// ----- The checks -----

mod checks {

    fn device(id: &str) -> Device {
        Device {
            id: id.into(),
            signing_key: r#"{"kty":"OKP","crv":"Ed25519","x":"a"}"#.into(),
            encryption_key: r#"{"kty":"OKP","crv":"X25519","x":"b"}"#.into(),
            installed_with: "3.1.0".into(),
            version: "3.1.0".into(),
            os: "linux".into(),
            os_version: None,
            arch: "x86_64".into(),
            state: "running".into(),
            labels: vec![],
            browsers: vec![],
            modules: vec![],
            failed_installs: vec![],
            registered_at: T0,
            last_seen: T0,
            revoked_at: None,
        }
    }

    pub async fn deleted_label_names_are_never_reused(store: &dyn Store) {
        store
            .create_organisation(
                &organisation("o1", "One"),
                &event("organisation.create", Some("o1")),
            )
            .await
            .unwrap();
        store
            .create_organisation(
                &organisation("o2", "Two"),
                &event("organisation.create", Some("o2")),
            )
            .await
            .unwrap();
        store
            .create_label(&label("l1", "o1", "shop"), &event("label.create", Some("o1")))
            .await
            .unwrap();
        store
            .create_label(&label("l2", "o1", "kiosk"), &event("label.create", Some("o1")))
            .await
            .unwrap();
        store.delete_label("l1", &event("label.delete", Some("o1"))).await.unwrap();
        let reused = store
            .create_label(&label("l3", "o2", "shop"), &event("label.create", Some("o2")))
            .await;
        assert!(matches!(reused, Err(StoreError::Conflict(_))), "{reused:?}");
        store.delete_organisation("o1", &event("organisation.delete", Some("o1"))).await.unwrap();
        let reused = store
            .create_label(&label("l4", "o2", "kiosk"), &event("label.create", Some("o2")))
            .await;
        assert!(
            matches!(reused, Err(StoreError::Conflict(_))),
            "names of a deleted organisation's labels too"
        );
        store
            .create_label(&label("l5", "o2", "fresh"), &event("label.create", Some("o2")))
            .await
            .unwrap();
    }

    pub async fn a_sync_is_written_whole_or_not_at_all(store: &dyn Store) {
        store.create_device(&device("d1")).await.unwrap();
        let batch = |seq, total| CounterBatch {
            seq,
            rows: vec![DayCount {
                day: "2026-11-30".into(),
                label: "shop".into(),
                tag: String::new(),
                module: "beid".into(),
                use_case: UseCase::FileUpload,
                total,
            }],
        };
        let report = |version: &str, seen_at| DeviceReport {
            version: version.into(),
            os: "linux".into(),
            os_version: None,
            arch: "x86_64".into(),
            state: "running".into(),
            labels: vec![],
            browsers: vec![],
            modules: vec![],
            failed_installs: vec![],
            rollouts: vec![],
            seen_at,
        };
        let sum = || async {
            let filter = UsageFilter {
                labels: None,
                from_day: "2026-11-01".into(),
                to_day: "2026-11-30".into(),
            };
            store.usage(&filter).await.unwrap().iter().map(|r| r.total).sum::<i64>()
        };
        assert_eq!(
            store.apply_sync("d1", "m1", &batch(1, 4), &report("3.2.0", T0 + 1)).await.unwrap(),
            Some(vec![])
        );
        assert_eq!(sum().await, 4);
        assert_eq!(store.device("d1").await.unwrap().version, "3.2.0");
        assert_eq!(
            store.apply_sync("d1", "m1", &batch(2, 9), &report("3.3.0", T0 + 2)).await.unwrap(),
            None,
            "a replay"
        );
        assert_eq!(sum().await, 4, "a replay stores no counters");
        let d1 = store.device("d1").await.unwrap();
        assert_eq!((d1.version.as_str(), d1.last_seen), ("3.2.0", T0 + 1), "nor the report");
        assert!(
            store.apply_sync("nobody", "m2", &batch(1, 1), &report("3.2.0", T0)).await.is_err()
        );
        assert_eq!(sum().await, 4, "a failed sync leaves nothing behind");
    }

    pub async fn registration_tokens_are_single_use(store: &dyn Store) {
        store.put_version(&version("3.1.0", &[]), &event("version.put", None)).await.unwrap();
        store.create_registration_token(&[1; 32], "3.1.0", T0, T0 + 300).await.unwrap();
        store.create_registration_token(&[2; 32], "3.1.0", T0, T0 + 300).await.unwrap();
        assert_eq!(
            store.consume_registration_token(&[1; 32], T0 + 10).await.unwrap().as_deref(),
            Some("3.1.0")
        );
        assert_eq!(
            store.consume_registration_token(&[1; 32], T0 + 11).await.unwrap(),
            None,
            "burnt"
        );
        assert_eq!(
            store.consume_registration_token(&[2; 32], T0 + 300).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(store.consume_registration_token(&[3; 32], T0).await.unwrap(), None, "unknown");
        assert!(matches!(
            store.create_registration_token(&[4; 32], "9.9.9", T0, T0 + 1).await,
            Err(StoreError::Refused(_))
        ));
    }

    pub async fn devices_round_trip_and_revoke(store: &dyn Store) {
        store.create_device(&device("d1")).await.unwrap();
        store.create_device(&device("d2")).await.unwrap();
        assert!(matches!(store.create_device(&device("d1")).await, Err(StoreError::Conflict(_))));
        let report = DeviceReport {
            version: "3.2.0".into(),
            os: "windows".into(),
            os_version: None,
            arch: "x86_64".into(),
            state: "blocked".into(),
            labels: vec!["shop".into()],
            browsers: vec!["Chrome 131".into()],
            modules: vec![],
            failed_installs: vec![],
            rollouts: vec![],
            seen_at: T0 + 60,
        };
        store.record_sync("d2", &report).await.unwrap();
        let d2 = store.device("d2").await.unwrap();
        assert_eq!(
            (d2.version.as_str(), d2.state.as_str(), d2.last_seen),
            ("3.2.0", "blocked", T0 + 60)
        );
        assert_eq!(d2.browsers, vec!["Chrome 131".to_owned()]);
        let listed = store.devices(&Filter::default(), Paging::default()).await.unwrap();
        assert_eq!(
            listed.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["d2", "d1"],
            "most recently seen first"
        );
        let by_version = Filter { organisation_id: None, name_contains: Some("3.2".into()) };
        assert_eq!(store.devices(&by_version, Paging::default()).await.unwrap().total, 1);
        store.revoke_device("d1", T0 + 5, &event("device.revoke", None)).await.unwrap();
        assert_eq!(store.device("d1").await.unwrap().revoked_at, Some(T0 + 5));
        assert!(matches!(
            store.revoke_device("d1", T0 + 6, &event("device.revoke", None)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(store.record_sync("nobody", &report).await, Err(StoreError::NotFound)));
    }

    pub async fn message_ids_are_seen_once(store: &dyn Store) {
        assert!(store.note_message("d1", "m1", T0).await.unwrap());
        assert!(!store.note_message("d1", "m1", T0 + 1).await.unwrap(), "a replay");
        assert!(store.note_message("d2", "m1", T0).await.unwrap(), "ids are per device");
        assert_eq!(store.purge_messages(T0 + 1).await.unwrap(), 2);
        assert!(
            store.note_message("d1", "m1", T0 + 2).await.unwrap(),
            "forgotten after the window"
        );
    }

    pub async fn counters_keep_the_newest_sequence(store: &dyn Store) {
        store.create_device(&device("d1")).await.unwrap();
        store.create_device(&device("d2")).await.unwrap();
        let batch = |seq, total, day: &str| CounterBatch {
            seq,
            rows: vec![DayCount {
                day: day.into(),
                label: "shop".into(),
                tag: String::new(),
                module: "beid".into(),
                use_case: UseCase::Authentication,
                total,
            }],
        };
        let sum = || async {
            let filter = UsageFilter {
                labels: None,
                from_day: "2024-02-01".into(),
                to_day: "2024-02-29".into(),
            };
            store.usage(&filter).await.unwrap().iter().map(|r| r.total).sum::<i64>()
        };
        store.store_counters("d1", &batch(1, 3, "2024-02-29"), T0).await.unwrap();
        store.store_counters("d1", &batch(1, 3, "2024-02-29"), T0).await.unwrap();
        assert_eq!(sum().await, 3, "a resend counts once");
        store.store_counters("d1", &batch(3, 8, "2024-02-29"), T0).await.unwrap();
        store.store_counters("d1", &batch(2, 5, "2024-02-29"), T0).await.unwrap();
        assert_eq!(sum().await, 8, "an older batch after a newer one changes nothing");
        store.store_counters("d2", &batch(1, 2, "2024-02-29"), T0).await.unwrap();
        store.store_counters("d2", &batch(2, 4, "2024-03-01"), T0).await.unwrap();
        assert_eq!(sum().await, 10, "summed over devices, each count in its own day");
        let one_label = UsageFilter {
            labels: Some(vec!["other".into()]),
            from_day: "2024-01-01".into(),
            to_day: "2024-12-31".into(),
        };
        assert!(store.usage(&one_label).await.unwrap().is_empty());
        let rows = store
            .usage(&UsageFilter {
                labels: Some(vec!["shop".into()]),
                from_day: "2024-03-01".into(),
                to_day: "2024-03-01".into(),
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].use_case.as_str(), rows[0].total), ("authentication", 4));
    }

    /// One count of `shop` (tag `t`, module `beid`).
    fn count(seq: u64, day: &str, use_case: UseCase, total: u64) -> CounterBatch {
        CounterBatch {
            seq,
            rows: vec![DayCount {
                day: day.into(),
                label: "shop".into(),
                tag: "t".into(),
                module: "beid".into(),
                use_case,
                total,
            }],
        }
    }

    fn month(text: &str) -> Month {
        text.parse().unwrap()
    }

    /// (use case, total, adjustment) archived for one month.
    async fn archived(store: &dyn Store, m: &str) -> Vec<(String, i64, i64)> {
        let filter = MonthFilter { labels: None, from_month: m.into(), to_month: m.into() };
        let rows = store.usage_months(&filter).await.unwrap();
        rows.into_iter().map(|r| (r.use_case, r.total, r.adjustment)).collect()
    }

    async fn day_total(store: &dyn Store, from: &str, to: &str) -> i64 {
        let filter = UsageFilter { labels: None, from_day: from.into(), to_day: to.into() };
        store.usage(&filter).await.unwrap().iter().map(|r| r.total).sum()
    }

    fn entry(use_case: &str, total: i64, adjustment: i64) -> (String, i64, i64) {
        (use_case.into(), total, adjustment)
    }

    pub async fn closing_a_month_archives_and_resets_it(store: &dyn Store) {
        use UseCase::{Authentication as Auth, DigitalSignature as Sign};
        store.create_device(&device("d1")).await.unwrap();
        store.create_device(&device("d2")).await.unwrap();
        store.store_counters("d1", &count(1, "2028-01-01", Auth, 3), T0).await.unwrap();
        store.store_counters("d1", &count(2, "2028-01-31", Auth, 4), T0).await.unwrap();
        store.store_counters("d2", &count(1, "2028-01-15", Auth, 5), T0).await.unwrap();
        store.store_counters("d2", &count(2, "2028-01-15", Sign, 1), T0).await.unwrap();
        store.store_counters("d2", &count(3, "2028-02-01", Auth, 7), T0).await.unwrap();
        assert!(store.close_month(month("2028-01"), T0).await.unwrap());
        let january = vec![entry("authentication", 12, 0), entry("digital_signature", 1, 0)];
        assert_eq!(archived(store, "2028-01").await, january, "one entry per key, over devices");
        assert_eq!(day_total(store, "2028-01-01", "2028-01-31").await, 0, "day rows reset");
        assert_eq!(day_total(store, "2028-02-01", "2028-02-29").await, 7, "February untouched");
        assert_eq!(store.oldest_counter_day().await.unwrap().as_deref(), Some("2028-02-01"));
        assert!(!store.close_month(month("2028-01"), T0 + 1).await.unwrap(), "closed once");
        assert_eq!(archived(store, "2028-01").await, january, "a second close changes nothing");
        assert_eq!(store.closed_months().await.unwrap(), vec![month("2028-01")]);
        let other = MonthFilter {
            labels: Some(vec!["other".into()]),
            from_month: "2000-01".into(),
            to_month: "2099-12".into(),
        };
        assert!(store.usage_months(&other).await.unwrap().is_empty());
    }

    pub async fn late_counts_become_adjustments_once(store: &dyn Store) {
        use UseCase::{Authentication as Auth, DigitalSignature as Sign};
        let feb = month("2028-02");
        store.create_device(&device("d1")).await.unwrap();
        store.store_counters("d1", &count(1, "2028-02-29", Auth, 3), T0).await.unwrap();
        assert!(store.close_month(feb, T0).await.unwrap());
        // Two more that leap day, sent after the close: the difference is the adjustment.
        store.store_counters("d1", &count(2, "2028-02-29", Auth, 5), T0).await.unwrap();
        assert_eq!(store.fold_late_counters(feb).await.unwrap(), 1);
        assert_eq!(archived(store, "2028-02").await, vec![entry("authentication", 3, 2)]);
        store.store_counters("d1", &count(2, "2028-02-29", Auth, 5), T0).await.unwrap();
        store.store_counters("d1", &count(1, "2028-02-29", Auth, 9), T0).await.unwrap();
        store.fold_late_counters(feb).await.unwrap();
        assert_eq!(
            archived(store, "2028-02").await,
            vec![entry("authentication", 3, 2)],
            "a resend or an older batch counts nothing"
        );
        store.store_counters("d1", &count(3, "2028-02-10", Sign, 4), T0).await.unwrap();
        store.fold_late_counters(feb).await.unwrap();
        let adjusted = vec![entry("authentication", 3, 2), entry("digital_signature", 0, 4)];
        assert_eq!(archived(store, "2028-02").await, adjusted, "a key new to the closed month");
        // Once March is closed February's per-device rows are gone: later counts are dropped.
        assert!(store.close_month(month("2028-03"), T0).await.unwrap());
        store.store_counters("d1", &count(4, "2028-02-29", Auth, 50), T0).await.unwrap();
        assert_eq!(store.fold_late_counters(feb).await.unwrap(), 1);
        assert_eq!(archived(store, "2028-02").await, adjusted);
        assert_eq!(store.oldest_counter_day().await.unwrap(), None);
        // An open month is not folded.
        store.store_counters("d1", &count(5, "2028-04-02", Auth, 1), T0).await.unwrap();
        assert_eq!(store.fold_late_counters(month("2028-04")).await.unwrap(), 0);
        assert_eq!(day_total(store, "2028-04-01", "2028-04-30").await, 1);
    }

    pub async fn two_processes_close_a_month_once(db: &Db) {
        let stores: [Arc<dyn Store>; 2] = [db.store.clone(), Arc::new(db.reopen().await)];
        stores[0].create_device(&device("d1")).await.unwrap();
        for (seq, day) in [(1, "2028-01-10"), (2, "2028-02-10"), (3, "2028-03-10")] {
            stores[0]
                .store_counters("d1", &count(seq, day, UseCase::Authentication, 6), T0)
                .await
                .unwrap();
        }
        for m in ["2028-01", "2028-02", "2028-03"] {
            let racers: Vec<_> = stores
                .iter()
                .map(|store| {
                    let store = store.clone();
                    tokio::spawn(async move { store.close_month(month(m), T0).await.unwrap() })
                })
                .collect();
            let mut won = 0;
            for racer in racers {
                won += usize::from(racer.await.unwrap());
            }
            assert_eq!(won, 1, "{m} closed by exactly one process");
            assert_eq!(archived(&*stores[1], m).await, vec![entry("authentication", 6, 0)]);
        }
    }

    pub async fn rollover_closes_due_months_in_order(store: &dyn Store) {
        use UseCase::Authentication as Auth;
        use t1c_ds::clock::{Clock, ManualClock};
        use t1c_ds::devices::rollover::roll_over;
        const GRACE: i64 = 72 * 3600;
        let closed_by = |at: i64| async move { roll_over(store, at, GRACE).await.unwrap().closed };
        let clock = ManualClock::at(month("2028-01").start() + 10 * 86_400);
        store.create_device(&device("d1")).await.unwrap();
        store.store_counters("d1", &count(1, "2028-01-31", Auth, 2), clock.now()).await.unwrap();
        assert!(closed_by(clock.now()).await.is_empty(), "January is running");
        // Within the grace period after January, a late count still lands in its own day.
        clock.set(month("2028-02").start() + GRACE - 1);
        assert!(closed_by(clock.now()).await.is_empty(), "within the grace period");
        store.store_counters("d1", &count(2, "2028-01-31", Auth, 3), clock.now()).await.unwrap();
        store.store_counters("d1", &count(3, "2028-02-29", Auth, 4), clock.now()).await.unwrap();
        clock.set(month("2028-02").start() + GRACE);
        assert_eq!(closed_by(clock.now()).await, vec![month("2028-01")]);
        assert_eq!(archived(store, "2028-01").await, vec![entry("authentication", 3, 0)]);
        assert!(closed_by(clock.now()).await.is_empty(), "a rerun changes nothing");
        // February 2028 has 29 days: it ends on March 1st, not 29 days after February 1st.
        clock.set(month("2028-02").start() + 29 * 86_400 + GRACE - 1);
        assert!(closed_by(clock.now()).await.is_empty(), "the leap day is still February's");
        clock.advance(1);
        assert_eq!(closed_by(clock.now()).await, vec![month("2028-02")]);
        assert_eq!(archived(store, "2028-02").await, vec![entry("authentication", 4, 0)]);
        // Counts in March and May, then the DS is down until July; a run before crashed right
        // after closing March. The next run closes April, May and June, in order.
        store.store_counters("d1", &count(4, "2028-03-15", Auth, 5), clock.now()).await.unwrap();
        store.store_counters("d1", &count(5, "2028-05-20", Auth, 6), clock.now()).await.unwrap();
        assert!(store.close_month(month("2028-03"), clock.now()).await.unwrap());
        clock.set(month("2028-07").start() + 10 * 86_400);
        let missed = vec![month("2028-04"), month("2028-05"), month("2028-06")];
        assert_eq!(closed_by(clock.now()).await, missed);
        assert_eq!(archived(store, "2028-03").await, vec![entry("authentication", 5, 0)]);
        assert!(archived(store, "2028-04").await.is_empty());
        assert_eq!(archived(store, "2028-05").await, vec![entry("authentication", 6, 0)]);
        let closed: Vec<String> =
            store.closed_months().await.unwrap().iter().map(ToString::to_string).collect();
        assert_eq!(closed, ["2028-01", "2028-02", "2028-03", "2028-04", "2028-05", "2028-06"]);
        // A late count for June (whose closed rows are kept) is folded in by the next run.
        store.store_counters("d1", &count(6, "2028-06-30", Auth, 2), clock.now()).await.unwrap();
        assert_eq!(roll_over(store, clock.now(), GRACE).await.unwrap().folded, 1);
        assert_eq!(archived(store, "2028-06").await, vec![entry("authentication", 0, 2)]);
    }

    pub async fn protocol_key_generations_are_unique(store: &dyn Store) {
        let record = |generation: i64| ProtocolKeysRecord {
            generation,
            signing_kid: format!("s{generation}"),
            encryption_kid: format!("e{generation}"),
            private_keys: Some("{}".into()),
            public_keys: "{}".into(),
            created_at: T0,
            activates_at: T0,
            published_until: None,
        };
        store.add_protocol_keys(&record(1)).await.unwrap();
        assert!(matches!(store.add_protocol_keys(&record(1)).await, Err(StoreError::Conflict(_))));
        store.add_protocol_keys(&record(2)).await.unwrap();
        store.retire_protocol_keys(1, T0 + 10).await.unwrap();
        assert_eq!(
            store.purge_protocol_keys(T0 + 10).await.unwrap(),
            0,
            "still published at its last moment"
        );
        assert_eq!(store.purge_protocol_keys(T0 + 11).await.unwrap(), 1);
        assert_eq!(
            store.protocol_keys().await.unwrap().iter().map(|r| r.generation).collect::<Vec<_>>(),
            [2]
        );
    }

    use super::*;

    pub async fn organisations_round_trip(store: &dyn Store) {
        store.ping().await.unwrap();
        let org = organisation("org-1", "Acme");
        store
            .create_organisation(&org, &event("organisation.create", Some("org-1")))
            .await
            .unwrap();
        assert_eq!(store.organisation("org-1").await.unwrap(), org);
        let listed = store.organisations(&Filter::default(), Paging::default()).await.unwrap();
        assert_eq!(listed.items, vec![org]);
        assert_eq!(listed.total, 1);
    }

    pub async fn organisations_page_and_filter(store: &dyn Store) {
        for (i, name) in
            ["alpha", "bravo", "charlie", "delta", "echo", "Charlie Two"].iter().enumerate()
        {
            let org = organisation(&format!("org-{i}"), name);
            store.create_organisation(&org, &event("organisation.create", None)).await.unwrap();
        }
        let lower: Vec<_> = ["alpha", "bravo", "charlie", "delta", "echo"].map(String::from).into();

        let first = store.organisations(&Filter::default(), page(0, 2)).await.unwrap();
        assert_eq!(first.total, 6);
        assert_eq!(first.items.len(), 2);
        // Ordering by name differs in collation between backends for mixed case; page over
        // the lower-case names only.
        let lower_filter = Filter { organisation_id: None, name_contains: Some("a".into()) };
        let names = organisation_names(store, &lower_filter).await;
        assert_eq!(names.len(), 5, "{names:?}"); // alpha bravo charlie delta "Charlie Two"
        let paged = store.organisations(&named("o"), page(1, 2)).await.unwrap();
        // "o" is in bravo, charlie-two, echo (and not in alpha, charlie, delta).
        assert_eq!(paged.total, 3);
        assert_eq!(paged.items.len(), 2);
        let past_end = store.organisations(&Filter::default(), page(10, 5)).await.unwrap();
        assert!(past_end.items.is_empty());
        assert_eq!(past_end.total, 6);

        // Pages of one cover every organisation once.
        let mut seen = Vec::new();
        for offset in 0..6 {
            let one = store.organisations(&Filter::default(), page(offset, 1)).await.unwrap();
            assert_eq!(one.items.len(), 1);
            seen.push(one.items[0].name.clone());
        }
        seen.sort();
        let mut expected = lower.clone();
        expected.push("Charlie Two".into());
        expected.sort();
        assert_eq!(seen, expected);

        // Case-insensitive contains.
        let mut found = organisation_names(store, &named("CHARL")).await;
        found.sort();
        assert_eq!(found, vec!["Charlie Two".to_owned(), "charlie".to_owned()]);
        assert_eq!(organisation_names(store, &named("nothing")).await, Vec::<String>::new());

        // `%`, `_` and `\` are literal.
        for (i, name) in ["100% Cotton", "a_b", "axb", r"back\slash"].iter().enumerate() {
            let org = organisation(&format!("lit-{i}"), name);
            store.create_organisation(&org, &event("organisation.create", None)).await.unwrap();
        }
        assert_eq!(organisation_names(store, &named("%")).await, vec!["100% Cotton"]);
        assert_eq!(organisation_names(store, &named("0% c")).await, vec!["100% Cotton"]);
        assert_eq!(organisation_names(store, &named("a_b")).await, vec!["a_b"]);
        assert_eq!(organisation_names(store, &named("_")).await, vec!["a_b"]);
        assert_eq!(organisation_names(store, &named(r"\")).await, vec![r"back\slash"]);
        assert_eq!(organisation_names(store, &named(r"k\s")).await, vec![r"back\slash"]);

        // Non-ASCII names are found by their own text, and by ASCII letters in any case
        // (SQLite folds only ASCII case; PostgreSQL folds by its locale).
        let bank = organisation("org-u", "Ünïcødé Bank");
        store.create_organisation(&bank, &event("organisation.create", None)).await.unwrap();
        assert_eq!(organisation_names(store, &named("Ünïcødé")).await, vec!["Ünïcødé Bank"]);
        assert_eq!(organisation_names(store, &named("ødé bANK")).await, vec!["Ünïcødé Bank"]);

        // The organisation scope of an organisation list is the organisation itself.
        assert_eq!(organisation_names(store, &by_org("org-1")).await, vec!["bravo"]);
    }

    pub async fn organisation_rename(store: &dyn Store) {
        given_organisation(store, 1).await;
        let renamed = store
            .rename_organisation(
                "org-1",
                "Renamed",
                T0 + 60,
                &event("organisation.rename", Some("org-1")),
            )
            .await
            .unwrap();
        assert_eq!(
            renamed,
            Organisation {
                id: "org-1".into(),
                name: "Renamed".into(),
                created_at: T0,
                updated_at: T0 + 60
            }
        );
        assert_eq!(store.organisation("org-1").await.unwrap(), renamed);
    }

    pub async fn organisation_names_are_unique(store: &dyn Store) {
        given_organisation(store, 1).await;
        given_organisation(store, 2).await;
        assert_conflict(
            store
                .create_organisation(
                    &organisation("org-3", "Org 1"),
                    &event("organisation.create", None),
                )
                .await,
        );
        assert_conflict(
            store
                .rename_organisation("org-2", "Org 1", T0 + 1, &event("organisation.rename", None))
                .await,
        );
        assert_eq!(store.organisation("org-2").await.unwrap().name, "Org 2");
        assert_not_found(store.organisation("org-3").await);
    }

    pub async fn organisation_delete_cascades(store: &dyn Store) {
        let doomed = given_organisation(store, 1).await;
        let kept = given_organisation(store, 2).await;
        given_label(store, "l-1", &doomed.id).await;
        given_label(store, "l-2", &doomed.id).await;
        given_label(store, "l-3", &kept.id).await;
        given_key(store, &key("k-1", label_owner("l-1"), 1)).await;
        given_key(store, &key("k-2", label_owner("l-2"), 2)).await;
        given_key(store, &key("k-3", label_owner("l-3"), 3)).await;
        let audit = event("user.create", None);
        store
            .create_user(
                &user("u-1", "doomed-admin", Role::OrganisationAdmin, Some(&doomed.id)),
                &audit,
            )
            .await
            .unwrap();
        store
            .create_user(
                &user("u-2", "kept-admin", Role::OrganisationAdmin, Some(&kept.id)),
                &audit,
            )
            .await
            .unwrap();
        store.create_user(&user("u-3", "root", Role::PlatformAdmin, None), &audit).await.unwrap();
        store.create_session(&[9; 32], "u-1", T0, T0 + 3600).await.unwrap();

        store
            .delete_organisation(&doomed.id, &event("organisation.delete", Some(&doomed.id)))
            .await
            .unwrap();

        assert_not_found(store.organisation(&doomed.id).await);
        assert_not_found(store.label("l-1").await);
        assert_not_found(store.label("l-2").await);
        assert_not_found(store.api_key("k-1").await);
        assert_not_found(store.api_key("k-2").await);
        assert!(store.api_key_by_hash(&[1; 32]).await.unwrap().is_none());
        assert!(store.api_keys(&label_owner("l-1")).await.unwrap().is_empty());
        assert_not_found(store.user_by_name("doomed-admin").await);
        assert!(store.session_user(&[9; 32], T0).await.unwrap().is_none());
        // The other organisation and the platform accounts stay.
        assert_eq!(store.organisation(&kept.id).await.unwrap(), kept);
        assert_eq!(store.label("l-3").await.unwrap().organisation_id, kept.id);
        assert_eq!(store.api_key("k-3").await.unwrap().id, "k-3");
        assert_eq!(store.user_count().await.unwrap(), 2);
        store.user_by_name("root").await.unwrap();
    }

    pub async fn unknown_organisation_is_not_found(store: &dyn Store) {
        assert_not_found(store.organisation("nope").await);
        assert_not_found(
            store.rename_organisation("nope", "x", T0, &event("organisation.rename", None)).await,
        );
        assert_not_found(
            store.delete_organisation("nope", &event("organisation.delete", None)).await,
        );
        assert_not_found(store.label("nope").await);
        assert_not_found(
            store.update_label(&label("nope", "org-1", "x"), &event("label.update", None)).await,
        );
        assert_not_found(store.delete_label("nope", &event("label.delete", None)).await);
        assert_not_found(store.version("9.9.9").await);
        assert_not_found(store.delete_version("9.9.9", &event("version.delete", None)).await);
        assert_not_found(store.api_key("nope").await);
        assert_not_found(store.revoke_api_key("nope", T0, &event("api_key.revoke", None)).await);
        assert_not_found(
            store.revoke_publisher_key("nope", T0, &event("publisher_key.revoke", None)).await,
        );
        assert_not_found(store.user_by_name("nope").await);
        assert_not_found(store.delete_user("nope", &event("user.delete", None)).await);
        assert_not_found(store.retire_signing_key("nope", T0).await);
        assert_eq!(audit_total(store).await, 0, "failed changes are not audited");
    }

    pub async fn labels_round_trip_and_update(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        let mut l = label("l-1", &org.id, "shop");
        l.domains = vec![];
        l.tags = vec!["only".into()];
        store.create_label(&l, &event("label.create", Some(&org.id))).await.unwrap();
        assert_eq!(store.label("l-1").await.unwrap(), l);

        let mut changed = l.clone();
        changed.name = "shop-renamed".into();
        changed.application = "The Shop".into();
        changed.domains = vec![
            "https://a.example".into(),
            "https://b.example".into(),
            "http://localhost:3000".into(),
        ];
        changed.tags = vec![];
        changed.updated_at = T0 + 5;
        // The organisation and creation time are not the update's to change.
        let mut attempt = changed.clone();
        attempt.organisation_id = "org-elsewhere".into();
        attempt.created_at = 1;
        store.update_label(&attempt, &event("label.update", Some(&org.id))).await.unwrap();
        assert_eq!(store.label("l-1").await.unwrap(), changed);
    }

    pub async fn labels_are_filtered_by_organisation(store: &dyn Store) {
        let a = given_organisation(store, 1).await;
        let b = given_organisation(store, 2).await;
        let a1 = given_label(store, "a1", &a.id).await;
        let a2 = given_label(store, "a2", &a.id).await;
        let b1 = given_label(store, "b1", &b.id).await;

        let of_a = store.labels(&by_org(&a.id), all()).await.unwrap();
        assert_eq!(of_a.items, vec![a1.clone(), a2.clone()]);
        assert_eq!(of_a.total, 2);
        let of_b = store.labels(&by_org(&b.id), all()).await.unwrap();
        assert_eq!(of_b.items, vec![b1.clone()]);
        let everything = store.labels(&Filter::default(), page(1, 1)).await.unwrap();
        assert_eq!(everything.total, 3);
        assert_eq!(everything.items, vec![a2.clone()]);
        let scoped_search =
            Filter { organisation_id: Some(a.id.clone()), name_contains: Some("A2-".into()) };
        assert_eq!(store.labels(&scoped_search, all()).await.unwrap().items, vec![a2]);
        let wrong_scope =
            Filter { organisation_id: Some(b.id.clone()), name_contains: Some("a2".into()) };
        assert_eq!(store.labels(&wrong_scope, all()).await.unwrap().total, 0);
    }

    pub async fn label_needs_its_organisation(store: &dyn Store) {
        assert_refused(
            store
                .create_label(&label("l-1", "org-missing", "shop"), &event("label.create", None))
                .await,
        );
        assert_not_found(store.label("l-1").await);
        assert_eq!(audit_total(store).await, 0);
    }

    pub async fn label_names_are_unique(store: &dyn Store) {
        let a = given_organisation(store, 1).await;
        let b = given_organisation(store, 2).await;
        given_label(store, "l-1", &a.id).await;
        let other = given_label(store, "l-2", &b.id).await;
        // Unique across organisations: the name is the `sub` of the label's tokens.
        assert_conflict(
            store
                .create_label(&label("l-3", &b.id, "l-1-name"), &event("label.create", None))
                .await,
        );
        let mut clash = other.clone();
        clash.name = "l-1-name".into();
        assert_conflict(store.update_label(&clash, &event("label.update", None)).await);
        assert_eq!(store.label("l-2").await.unwrap(), other);
        assert_not_found(store.label("l-3").await);
    }

    pub async fn label_delete_removes_its_keys(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        given_label(store, "l-1", &org.id).await;
        given_label(store, "l-2", &org.id).await;
        given_key(store, &key("k-1", label_owner("l-1"), 1)).await;
        given_key(store, &key("k-2", label_owner("l-1"), 2)).await;
        given_key(store, &key("k-3", label_owner("l-2"), 3)).await;
        store.delete_label("l-1", &event("label.delete", Some(&org.id))).await.unwrap();
        assert_not_found(store.label("l-1").await);
        assert_not_found(store.api_key("k-1").await);
        assert_not_found(store.api_key("k-2").await);
        assert!(store.api_key_by_hash(&[2; 32]).await.unwrap().is_none());
        assert_eq!(store.api_keys(&label_owner("l-2")).await.unwrap().len(), 1);
        assert_not_found(store.delete_label("l-1", &event("label.delete", None)).await);
        // Usage is counted under a label's name: a deleted label's name is never reused.
        assert_conflict(
            store
                .create_label(&label("l-9", &org.id, "l-1-name"), &event("label.create", None))
                .await,
        );
    }

    pub async fn versions_put_get_list(store: &dyn Store) {
        let v1 = version(
            "3.8.2",
            &[(Os::Win64, "3.8.2/t1c-win64.msi"), (Os::Unix, "https://cdn.example/t1c.deb")],
        );
        let mut v2 = version("4.0.0", &[]);
        v2.recommended = false;
        v2.mandatory = true;
        v2.allowed = false;
        store.put_version(&v1, &event("version.put", None)).await.unwrap();
        store.put_version(&v2, &event("version.put", None)).await.unwrap();

        let got = store.version("3.8.2").await.unwrap();
        assert_eq!(sorted(got.clone()), sorted(v1.clone()));
        assert_eq!(store.version("4.0.0").await.unwrap(), v2);
        let mut listed: Vec<_> = store.versions().await.unwrap().into_iter().map(sorted).collect();
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(listed, vec![sorted(v1), v2]);
    }

    pub async fn version_put_replaces_flags_and_installers(store: &dyn Store) {
        let first =
            version("3.8.2", &[(Os::Win64, "a.msi"), (Os::Macos, "a.pkg"), (Os::Unix, "a.deb")]);
        store.put_version(&first, &event("version.put", None)).await.unwrap();
        given_key(store, &key("k-1", KeyOwner::Version("3.8.2".into()), 1)).await;

        let mut second = version("3.8.2", &[(Os::Macosarm, "b-arm.pkg"), (Os::Win64, "b.msi")]);
        second.recommended = false;
        second.mandatory = true;
        second.allowed = false;
        second.updated_at = T0 + 100;
        store.put_version(&second, &event("version.put", None)).await.unwrap();

        let got = store.version("3.8.2").await.unwrap();
        assert!(!got.recommended && got.mandatory && !got.allowed, "{got:?}");
        assert_eq!(got.updated_at, T0 + 100);
        assert_eq!(got.created_at, T0, "an upsert keeps the creation time");
        assert_eq!(sorted(got), sorted(second));
        assert_eq!(store.versions().await.unwrap().len(), 1);
        // Replacing a version's policy keeps its installation keys.
        assert_eq!(store.api_key("k-1").await.unwrap().id, "k-1");
    }

    pub async fn version_delete_removes_installers_and_keys(store: &dyn Store) {
        let v = version("3.8.2", &[(Os::Win64, "a.msi")]);
        store.put_version(&v, &event("version.put", None)).await.unwrap();
        store
            .put_version(&version("3.9.0", &[(Os::Win64, "b.msi")]), &event("version.put", None))
            .await
            .unwrap();
        given_key(store, &key("k-1", KeyOwner::Version("3.8.2".into()), 1)).await;
        given_key(store, &key("k-2", KeyOwner::Version("3.9.0".into()), 2)).await;
        store.delete_version("3.8.2", &event("version.delete", None)).await.unwrap();
        assert_not_found(store.version("3.8.2").await);
        assert_not_found(store.api_key("k-1").await);
        assert_eq!(store.api_key("k-2").await.unwrap().id, "k-2");
        // Putting it again starts without the old installers.
        store.put_version(&version("3.8.2", &[]), &event("version.put", None)).await.unwrap();
        assert!(store.version("3.8.2").await.unwrap().installers.is_empty());
        assert_eq!(store.version("3.9.0").await.unwrap().installers.len(), 1);
    }

    pub async fn api_keys_for_labels_and_versions(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        let l = given_label(store, "l-1", &org.id).await;
        store.put_version(&version("3.8.2", &[]), &event("version.put", None)).await.unwrap();
        let mut label_key = key("k-1", label_owner("l-1"), 1);
        label_key.expires_at = Some(T0 + 86_400);
        let version_key = key("k-2", KeyOwner::Version("3.8.2".into()), 2);
        given_key(store, &label_key).await;
        given_key(store, &version_key).await;

        assert_eq!(store.api_key("k-1").await.unwrap(), label_key);
        assert_eq!(store.api_keys(&label_owner("l-1")).await.unwrap(), vec![label_key.clone()]);
        assert_eq!(
            store.api_keys(&KeyOwner::Version("3.8.2".into())).await.unwrap(),
            vec![version_key.clone()]
        );

        let resolved = store.api_key_by_hash(&[1; 32]).await.unwrap().expect("label key");
        assert_eq!(resolved.key, label_key);
        assert_eq!(resolved.label, Some(l));
        let resolved = store.api_key_by_hash(&[2; 32]).await.unwrap().expect("version key");
        assert_eq!(resolved.key, version_key);
        assert_eq!(resolved.label, None);
        assert!(store.api_key_by_hash(&[3; 32]).await.unwrap().is_none());

        // A key for an owner that does not exist is refused.
        assert_refused(
            store
                .create_api_key(
                    &key("k-3", label_owner("missing"), 3),
                    2,
                    &event("api_key.create", None),
                )
                .await,
        );
        assert_refused(
            store
                .create_api_key(
                    &key("k-4", KeyOwner::Version("0.0.1".into()), 4),
                    2,
                    &event("api_key.create", None),
                )
                .await,
        );
    }

    pub async fn api_keys_active_limit(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        given_label(store, "l-1", &org.id).await;
        given_label(store, "l-2", &org.id).await;
        let create = |k: ApiKey| async move {
            store.create_api_key(&k, 2, &event("api_key.create", None)).await
        };
        create(key("k-1", label_owner("l-1"), 1)).await.unwrap();
        create(key("k-2", label_owner("l-1"), 2)).await.unwrap();
        assert_refused(create(key("k-3", label_owner("l-1"), 3)).await);
        assert_not_found(store.api_key("k-3").await);
        // The limit is per owner.
        create(key("k-4", label_owner("l-2"), 4)).await.unwrap();

        // A revoked key does not count.
        store.revoke_api_key("k-1", T0 + 10, &event("api_key.revoke", None)).await.unwrap();
        let mut third = key("k-3", label_owner("l-1"), 3);
        third.created_at = T0 + 20;
        create(third).await.unwrap();
        let mut fourth = key("k-5", label_owner("l-1"), 5);
        fourth.created_at = T0 + 20;
        assert_refused(create(fourth.clone()).await);

        // A key that expired by the new key's creation does not count; one expiring later does.
        let mut expiring = key("k-6", label_owner("l-2"), 6);
        expiring.expires_at = Some(T0 + 100);
        create(expiring).await.unwrap();
        let mut before_expiry = key("k-7", label_owner("l-2"), 7);
        before_expiry.created_at = T0 + 99;
        assert_refused(create(before_expiry.clone()).await);
        before_expiry.created_at = T0 + 100;
        create(before_expiry).await.unwrap();
        assert_eq!(store.api_keys(&label_owner("l-2")).await.unwrap().len(), 3);

        // A limit of zero refuses everything; a larger one allows more.
        assert_refused(store.create_api_key(&fourth, 0, &event("api_key.create", None)).await);
        store.create_api_key(&fourth, 3, &event("api_key.create", None)).await.unwrap();
    }

    pub async fn api_key_revoke(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        let l = given_label(store, "l-1", &org.id).await;
        given_key(store, &key("k-1", label_owner("l-1"), 1)).await;
        store
            .revoke_api_key("k-1", T0 + 30, &event("api_key.revoke", Some(&org.id)))
            .await
            .unwrap();
        let revoked = store.api_key("k-1").await.unwrap();
        assert_eq!(revoked.revoked_at, Some(T0 + 30));
        assert!(!revoked.is_active(T0 + 31));
        assert_not_found(
            store.revoke_api_key("k-1", T0 + 40, &event("api_key.revoke", None)).await,
        );
        assert_eq!(
            store.api_key("k-1").await.unwrap().revoked_at,
            Some(T0 + 30),
            "the first revocation stands"
        );
        // Found by hash whatever its state, so the caller can tell "revoked" from "unknown".
        let resolved = store.api_key_by_hash(&[1; 32]).await.unwrap().expect("revoked key");
        assert_eq!(resolved.key, revoked);
        assert_eq!(resolved.label, Some(l));
    }

    pub async fn api_key_hashes_are_unique(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        given_label(store, "l-1", &org.id).await;
        given_label(store, "l-2", &org.id).await;
        given_key(store, &key("k-1", label_owner("l-1"), 1)).await;
        assert_conflict(
            store
                .create_api_key(
                    &key("k-2", label_owner("l-2"), 1),
                    2,
                    &event("api_key.create", None),
                )
                .await,
        );
        assert_conflict(
            store
                .create_api_key(
                    &key("k-1", label_owner("l-2"), 2),
                    2,
                    &event("api_key.create", None),
                )
                .await,
        );
        assert!(store.api_keys(&label_owner("l-2")).await.unwrap().is_empty());
    }

    pub async fn every_change_is_audited_once(store: &dyn Store) {
        let mut expected: Vec<(&str, String)> = Vec::new();
        macro_rules! audited {
            ($action:literal, $id:expr, $call:expr) => {{
                let before = audit_total(store).await;
                $call.await.unwrap();
                assert_eq!(audit_total(store).await, before + 1, "{} writes one entry", $action);
                expected.push(($action, String::from($id)));
            }};
        }
        let org = organisation("org-1", "Acme");
        audited!(
            "organisation.create",
            "org-1",
            store.create_organisation(&org, &event("organisation.create", Some("org-1")))
        );
        audited!(
            "organisation.rename",
            "org-1",
            store.rename_organisation(
                "org-1",
                "Acme 2",
                T0,
                &event("organisation.rename", Some("org-1"))
            )
        );
        let l = label("l-1", "org-1", "shop");
        audited!(
            "label.create",
            "l-1",
            store.create_label(&l, &event("label.create", Some("org-1")))
        );
        audited!(
            "label.update",
            "l-1",
            store.update_label(&l, &event("label.update", Some("org-1")))
        );
        let v = version("3.8.2", &[(Os::Win64, "a.msi"), (Os::Unix, "a.deb")]);
        audited!("version.put", "3.8.2", store.put_version(&v, &event("version.put", None)));
        audited!("version.put", "3.8.2", store.put_version(&v, &event("version.put", None)));
        audited!(
            "api_key.create",
            "k-1",
            store.create_api_key(
                &key("k-1", label_owner("l-1"), 1),
                2,
                &event("api_key.create", Some("org-1"))
            )
        );
        audited!(
            "api_key.revoke",
            "k-1",
            store.revoke_api_key("k-1", T0, &event("api_key.revoke", Some("org-1")))
        );
        audited!(
            "api_key.create",
            "k-2",
            store.create_api_key(
                &key("k-2", KeyOwner::Version("3.8.2".into()), 2),
                2,
                &event("api_key.create", None)
            )
        );
        let p = PublisherKey {
            id: "p-1".into(),
            name: "Acme".into(),
            public_key: "AAAA".into(),
            created_at: T0,
            revoked_at: None,
        };
        audited!(
            "publisher_key.create",
            "p-1",
            store.create_publisher_key(&p, &event("publisher_key.create", None))
        );
        audited!(
            "publisher_key.revoke",
            "p-1",
            store.revoke_publisher_key("p-1", T0, &event("publisher_key.revoke", None))
        );
        let u = user("u-1", "alice", Role::Analyst, Some("org-1"));
        audited!("user.create", "u-1", store.create_user(&u, &event("user.create", Some("org-1"))));
        audited!(
            "user.delete",
            "u-1",
            store.delete_user("u-1", &event("user.delete", Some("org-1")))
        );
        audited!(
            "version.delete",
            "3.8.2",
            store.delete_version("3.8.2", &event("version.delete", None))
        );
        audited!(
            "label.delete",
            "l-1",
            store.delete_label("l-1", &event("label.delete", Some("org-1")))
        );
        audited!(
            "organisation.delete",
            "org-1",
            store.delete_organisation("org-1", &event("organisation.delete", Some("org-1")))
        );

        // Sessions and signing keys are machinery, not operator changes: not audited.
        let before = audit_total(store).await;
        let u = user("u-1", "alice", Role::PlatformAdmin, None);
        store.create_user(&u, &event("user.create", None)).await.unwrap();
        store.create_session(&[1; 32], "u-1", T0, T0 + 10).await.unwrap();
        store.delete_session(&[1; 32]).await.unwrap();
        store.purge_sessions(T0).await.unwrap();
        store.add_signing_key(&signing_key(1)).await.unwrap();
        store.retire_signing_key("kid-1", T0).await.unwrap();
        store.purge_signing_keys(T0 + 1).await.unwrap();
        assert_eq!(audit_total(store).await, before + 1);
        expected.push(("user.create", "u-1".into()));

        let log = store.audit_log(&Filter::default(), all()).await.unwrap();
        assert_eq!(log.total, expected.len() as u64);
        let newest_first: Vec<_> =
            expected.iter().rev().map(|(a, id)| (a.to_string(), id.clone())).collect();
        let got: Vec<_> =
            log.items.iter().map(|e| (e.action.clone(), e.object_id.clone())).collect();
        assert_eq!(got, newest_first);
        assert!(log.items.windows(2).all(|w| w[0].id > w[1].id), "ids decrease");
        let first = log.items.last().unwrap();
        assert_eq!(first.actor, "user:admin");
        assert_eq!(first.at, T0);
        assert_eq!(first.object_kind, "organisation");
        assert_eq!(first.organisation_id.as_deref(), Some("org-1"));
        assert_eq!(first.detail, json!({ "test": "organisation.create" }));
        let kinds: Vec<_> = log.items.iter().map(|e| e.object_kind.as_str()).collect();
        for kind in ["organisation", "label", "version", "api_key", "publisher_key", "user"] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }

        // Paging, and the action search.
        let second_page = store.audit_log(&Filter::default(), page(2, 3)).await.unwrap();
        assert_eq!(second_page.items, log.items[2..5].to_vec());
        let revokes = store.audit_log(&named("REVOKE"), all()).await.unwrap();
        assert_eq!(revokes.total, 2);
        assert!(revokes.items.iter().all(|e| e.action.ends_with(".revoke")));
    }

    pub async fn audit_log_filters_by_organisation(store: &dyn Store) {
        let a = given_organisation(store, 1).await;
        let b = given_organisation(store, 2).await;
        given_label(store, "a1", &a.id).await;
        given_label(store, "b1", &b.id).await;
        given_label(store, "a2", &a.id).await;
        store.put_version(&version("1.0.0", &[]), &event("version.put", None)).await.unwrap();

        let of_a = store.audit_log(&by_org(&a.id), all()).await.unwrap();
        let got: Vec<_> =
            of_a.items.iter().map(|e| (e.action.as_str(), e.object_id.as_str())).collect();
        assert_eq!(
            got,
            vec![("label.create", "a2"), ("label.create", "a1"), ("organisation.create", "org-1")]
        );
        assert_eq!(of_a.total, 3);
        assert_eq!(store.audit_log(&by_org(&b.id), all()).await.unwrap().total, 2);
        assert_eq!(store.audit_log(&by_org("org-none"), all()).await.unwrap().total, 0);
        assert_eq!(audit_total(store).await, 6);
        // Deleting an organisation keeps its history.
        store.delete_organisation(&a.id, &event("organisation.delete", Some(&a.id))).await.unwrap();
        assert_eq!(store.audit_log(&by_org(&a.id), all()).await.unwrap().total, 4);
    }

    pub async fn failed_changes_leave_no_trace(store: &dyn Store) {
        let a = given_organisation(store, 1).await;
        let b = given_organisation(store, 2).await;
        let la = given_label(store, "l-a", &a.id).await;
        given_label(store, "l-b", &b.id).await;
        given_key(store, &key("k-1", label_owner("l-a"), 1)).await;
        given_key(store, &key("k-2", label_owner("l-a"), 2)).await;
        store
            .create_user(&user("u-1", "alice", Role::Analyst, None), &event("user.create", None))
            .await
            .unwrap();
        let v = version("1.0.0", &[(Os::Win64, "a.msi")]);
        store.put_version(&v, &event("version.put", None)).await.unwrap();
        store.add_signing_key(&signing_key(1)).await.unwrap();
        let audit_before = store.audit_log(&Filter::default(), all()).await.unwrap();
        let organisations_before = store.organisations(&Filter::default(), all()).await.unwrap();
        let labels_before = store.labels(&Filter::default(), all()).await.unwrap();

        assert_conflict(
            store
                .create_organisation(
                    &organisation("org-3", "Org 1"),
                    &event("organisation.create", None),
                )
                .await,
        );
        assert_conflict(
            store
                .rename_organisation(&b.id, "Org 1", T0 + 9, &event("organisation.rename", None))
                .await,
        );
        assert_conflict(
            store
                .create_label(&label("l-c", &b.id, "l-a-name"), &event("label.create", None))
                .await,
        );
        let mut clash = la.clone();
        clash.name = "l-b-name".into();
        clash.tags = vec!["changed".into()];
        assert_conflict(store.update_label(&clash, &event("label.update", None)).await);
        assert_refused(
            store
                .create_label(&label("l-d", "org-missing", "new"), &event("label.create", None))
                .await,
        );
        assert_refused(
            store
                .create_api_key(
                    &key("k-3", label_owner("l-a"), 3),
                    2,
                    &event("api_key.create", None),
                )
                .await,
        );
        assert_conflict(
            store
                .create_api_key(
                    &key("k-4", label_owner("l-b"), 1),
                    2,
                    &event("api_key.create", None),
                )
                .await,
        );
        assert_conflict(
            store
                .create_user(
                    &user("u-2", "alice", Role::PlatformAdmin, None),
                    &event("user.create", None),
                )
                .await,
        );
        assert_refused(
            store
                .create_user(
                    &user("u-3", "bob", Role::Analyst, Some("org-missing")),
                    &event("user.create", None),
                )
                .await,
        );
        // A version put whose installers clash (two for one platform) fails as a whole: the
        // flags and installers of the stored version stay.
        let mut broken = version("1.0.0", &[(Os::Unix, "x.deb"), (Os::Unix, "y.deb")]);
        broken.mandatory = true;
        assert!(store.put_version(&broken, &event("version.put", None)).await.is_err());
        let mut new_broken = broken.clone();
        new_broken.id = "2.0.0".into();
        assert!(store.put_version(&new_broken, &event("version.put", None)).await.is_err());
        assert_conflict(
            store
                .add_signing_key(&SigningKeyRecord { kid: "other".into(), ..signing_key(1) })
                .await,
        );

        assert_eq!(store.audit_log(&Filter::default(), all()).await.unwrap(), audit_before);
        assert_eq!(
            store.organisations(&Filter::default(), all()).await.unwrap(),
            organisations_before
        );
        assert_eq!(store.labels(&Filter::default(), all()).await.unwrap(), labels_before);
        assert_eq!(store.api_keys(&label_owner("l-a")).await.unwrap().len(), 2);
        assert!(store.api_keys(&label_owner("l-b")).await.unwrap().is_empty());
        assert_eq!(store.user_count().await.unwrap(), 1);
        assert_eq!(store.user_by_name("alice").await.unwrap().role, Role::Analyst);
        assert_eq!(store.version("1.0.0").await.unwrap(), v);
        assert_not_found(store.version("2.0.0").await);
        assert_eq!(store.signing_keys().await.unwrap(), vec![signing_key(1)]);
    }

    pub async fn publisher_keys_lifecycle(store: &dyn Store) {
        let one = PublisherKey {
            id: "p-1".into(),
            name: "Acme Modules".into(),
            public_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
            created_at: T0,
            revoked_at: None,
        };
        let two = PublisherKey {
            id: "p-2".into(),
            public_key: "AAAA".into(),
            created_at: T0 + 1,
            ..one.clone()
        };
        store.create_publisher_key(&one, &event("publisher_key.create", None)).await.unwrap();
        store.create_publisher_key(&two, &event("publisher_key.create", None)).await.unwrap();
        assert_eq!(store.publisher_keys().await.unwrap(), vec![one.clone(), two.clone()]);
        // The same public key twice, or the same id, conflicts.
        let copy = PublisherKey { id: "p-3".into(), ..one.clone() };
        assert_conflict(
            store.create_publisher_key(&copy, &event("publisher_key.create", None)).await,
        );
        let same_id = PublisherKey { public_key: "BBBB".into(), ..one.clone() };
        assert_conflict(
            store.create_publisher_key(&same_id, &event("publisher_key.create", None)).await,
        );

        store
            .revoke_publisher_key("p-1", T0 + 50, &event("publisher_key.revoke", None))
            .await
            .unwrap();
        assert_not_found(
            store.revoke_publisher_key("p-1", T0 + 60, &event("publisher_key.revoke", None)).await,
        );
        let keys = store.publisher_keys().await.unwrap();
        assert_eq!(keys, vec![PublisherKey { revoked_at: Some(T0 + 50), ..one }, two]);
    }

    pub async fn tls_keystores_lifecycle(store: &dyn Store) {
        let before = audit_total(store).await;
        let soon = tls_keystore("ks-soon", KeystoreScope::Default, T0 + 100);
        let later = tls_keystore("ks-later", KeystoreScope::Version("3.1.0".into()), T0 + 900);
        store.create_tls_keystore(&soon, &event("tls_keystore.create", None)).await.unwrap();
        store.create_tls_keystore(&later, &event("tls_keystore.create", None)).await.unwrap();
        assert_eq!(
            store.tls_keystores().await.unwrap(),
            vec![later.clone(), soon.clone()],
            "the latest expiry first, chain and key round trip"
        );
        assert_conflict(
            store.create_tls_keystore(&soon, &event("tls_keystore.create", None)).await,
        );
        store
            .revoke_tls_keystore("ks-soon", T0 + 50, &event("tls_keystore.revoke", None))
            .await
            .unwrap();
        assert_not_found(
            store
                .revoke_tls_keystore("ks-soon", T0 + 60, &event("tls_keystore.revoke", None))
                .await,
        );
        assert_not_found(
            store
                .revoke_tls_keystore("ks-none", T0 + 60, &event("tls_keystore.revoke", None))
                .await,
        );
        assert_eq!(
            store.tls_keystores().await.unwrap(),
            vec![later, TlsKeystoreRecord { revoked_at: Some(T0 + 50), ..soon }]
        );
        assert_eq!(audit_total(store).await, before + 3, "two uploads and a revocation");
    }

    pub async fn organisation_keystores_round_trip(store: &dyn Store) {
        let org = given_organisation(store, 1).await;
        let k = tls_keystore("ks-org", KeystoreScope::Organisation(org.id.clone()), T0 + 100);
        store.create_tls_keystore(&k, &event("tls_keystore.create", None)).await.unwrap();
        assert_eq!(store.tls_keystores().await.unwrap(), vec![k]);
    }

    fn bundle_record(digest: &str, version: &str) -> BundleRecord {
        BundleRecord {
            digest: digest.into(),
            module: "beid".into(),
            version: version.into(),
            signer: "0011223344556677".into(),
            contract: "0.1.0".into(),
            capabilities: vec!["reader".into()],
            description: "Belgian eID \u{1F1E7}\u{1F1EA}".into(),
            size: 3,
            created_at: T0,
        }
    }

    fn new_rollout(id: &str, bundle: &str, threshold: u32) -> Rollout {
        Rollout {
            id: id.into(),
            bundle: bundle.into(),
            module: "beid".into(),
            connector_versions: ">=3.6.0".into(),
            labels: vec!["l-1".into()],
            organisations: vec![],
            percent: 10,
            failure_threshold: threshold,
            state: RolloutState::Active,
            state_reason: None,
            counted_since: T0,
            sequence: 0,
            created_at: T0,
            updated_at: T0,
        }
    }

    pub async fn bundles_and_rollouts_lifecycle(store: &dyn Store) {
        let before = audit_total(store).await;
        let b1 = bundle_record(&"a".repeat(64), "1.0.0");
        store.create_bundle(&b1, b"one", &event("bundle.upload", None)).await.unwrap();
        assert_eq!(store.bundle(&b1.digest).await.unwrap(), b1);
        assert_eq!(store.bundle_content(&b1.digest).await.unwrap(), b"one");
        assert_conflict(store.create_bundle(&b1, b"one", &event("bundle.upload", None)).await);
        let same_version = bundle_record(&"b".repeat(64), "1.0.0");
        assert_conflict(
            store.create_bundle(&same_version, b"x", &event("bundle.upload", None)).await,
        );
        let listed = store.bundles(&Filter::default(), Paging::default()).await.unwrap();
        assert_eq!((listed.items, listed.total), (vec![b1.clone()], 1));
        assert_not_found(store.bundle("missing").await);

        let serial = store.assignment_serial().await.unwrap();
        let r1 = new_rollout("r-1", &b1.digest, 2);
        store.create_rollout(&r1, &event("rollout.create", None)).await.unwrap();
        let stored = store.rollouts().await.unwrap();
        assert_eq!(stored, vec![Rollout { sequence: serial + 1, ..r1.clone() }]);
        assert!(store.assignment_serial().await.unwrap() > serial, "a change moves the serial");
        assert!(
            matches!(
                store.delete_bundle(&b1.digest, &event("bundle.delete", None)).await,
                Err(StoreError::Refused(_))
            ),
            "a rollout uses it"
        );

        let raised = store.raise_rollout("r-1", 50, T0 + 1, &event("rollout.raise", None)).await;
        assert_eq!(raised.unwrap().percent, 50);
        assert!(matches!(
            store.raise_rollout("r-1", 20, T0 + 2, &event("rollout.raise", None)).await,
            Err(StoreError::Refused(_))
        ));
        assert_not_found(store.raise_rollout("r-x", 60, T0, &event("rollout.raise", None)).await);

        // Failures: the threshold pauses it once reached; a resume counts afresh.
        for d in ["d1", "d2", "d3"] {
            store.create_device(&device(d)).await.unwrap();
        }
        let failed = |d: &str, at: i64| {
            let report = DeviceReport {
                version: "3.6.1".into(),
                os: "linux".into(),
                os_version: None,
                arch: "x86_64".into(),
                state: "running".into(),
                labels: vec![],
                browsers: vec![],
                modules: vec![],
                failed_installs: vec![],
                rollouts: vec![RolloutReport {
                    rollout_id: "r-1".into(),
                    status: RolloutStatus::Failed,
                    reason: Some("signature".into()),
                }],
                seen_at: at,
            };
            let (d, m) = (d.to_owned(), format!("m-{d}-{at}"));
            async move { store.apply_sync(&d, &m, &CounterBatch::default(), &report).await }
        };
        assert_eq!(failed("d1", T0 + 10).await.unwrap(), Some(vec!["r-1".to_owned()]));
        assert_eq!(failed("d1", T0 + 11).await.unwrap(), Some(vec![]), "not a new failure");
        assert!(store.pause_failing_rollouts(&["r-1".into()], T0 + 11).await.unwrap().is_empty());
        assert_eq!(failed("d2", T0 + 12).await.unwrap(), Some(vec!["r-1".to_owned()]));
        let paused = store.pause_failing_rollouts(&["r-1".into()], T0 + 12).await.unwrap();
        assert_eq!(paused, ["r-1"]);
        let r = store.rollout("r-1").await.unwrap();
        assert_eq!(
            (r.state, r.state_reason.as_deref()),
            (RolloutState::Paused, Some("failure threshold reached"))
        );
        let progress = store.rollout_progress().await.unwrap()["r-1"];
        assert_eq!((progress.assigned, progress.failed, progress.failed_since_resume), (2, 2, 2));

        let resumed = store
            .set_rollout_state(
                "r-1",
                &[RolloutState::Paused],
                RolloutState::Active,
                None,
                T0 + 20,
                &event("rollout.resume", None),
            )
            .await
            .unwrap();
        assert_eq!((resumed.state, resumed.counted_since), (RolloutState::Active, T0 + 20));
        assert_eq!(store.rollout_progress().await.unwrap()["r-1"].failed_since_resume, 0);
        assert_eq!(failed("d2", T0 + 20).await.unwrap(), Some(vec![]), "still failed: no change");
        assert_eq!(failed("d3", T0 + 21).await.unwrap(), Some(vec!["r-1".to_owned()]));
        assert!(
            store.pause_failing_rollouts(&["r-1".into()], T0 + 21).await.unwrap().is_empty(),
            "one failure since the resume, threshold two"
        );
        assert!(matches!(
            store
                .set_rollout_state(
                    "r-1",
                    &[RolloutState::Paused],
                    RolloutState::Active,
                    None,
                    T0 + 22,
                    &event("rollout.resume", None)
                )
                .await,
            Err(StoreError::Refused(_))
        ));
        let back = store
            .set_rollout_state(
                "r-1",
                &[RolloutState::Active, RolloutState::Paused],
                RolloutState::RolledBack,
                Some("bad"),
                T0 + 30,
                &event("rollout.rollback", None),
            )
            .await
            .unwrap();
        assert_eq!(back.state, RolloutState::RolledBack);
        assert!(matches!(
            store.raise_rollout("r-1", 100, T0 + 31, &event("rollout.raise", None)).await,
            Err(StoreError::Refused(_))
        ));
        // upload, create, raise, pause (by the threshold), resume, rollback
        assert_eq!(audit_total(store).await, before + 6);

        let unused = bundle_record(&"c".repeat(64), "2.0.0");
        store.create_bundle(&unused, b"two", &event("bundle.upload", None)).await.unwrap();
        store.delete_bundle(&unused.digest, &event("bundle.delete", None)).await.unwrap();
        assert_not_found(store.delete_bundle(&unused.digest, &event("bundle.delete", None)).await);
    }

    pub async fn users_round_trip(store: &dyn Store) {
        let a = given_organisation(store, 1).await;
        let b = given_organisation(store, 2).await;
        assert_eq!(store.user_count().await.unwrap(), 0);
        let root = user("u-0", "root", Role::PlatformAdmin, None);
        let alice = user("u-1", "alice", Role::OrganisationAdmin, Some(&a.id));
        let bob = user("u-2", "bob", Role::Analyst, Some(&a.id));
        let carol = user("u-3", "carol", Role::Analyst, Some(&b.id));
        for u in [&root, &alice, &bob, &carol] {
            store
                .create_user(u, &event("user.create", u.organisation_id.as_deref()))
                .await
                .unwrap();
        }
        assert_eq!(store.user_count().await.unwrap(), 4);
        assert_eq!(store.user_by_name("alice").await.unwrap(), alice);
        assert_eq!(store.user_by_name("root").await.unwrap(), root);
        assert_not_found(store.user_by_name("ALICE").await);

        let of_a = store.users(&by_org(&a.id), all()).await.unwrap();
        assert_eq!(of_a.items, vec![alice.clone(), bob.clone()]);
        assert_eq!(of_a.total, 2);
        let everyone = store.users(&Filter::default(), page(1, 2)).await.unwrap();
        assert_eq!(everyone.total, 4);
        assert_eq!(everyone.items, vec![bob.clone(), carol.clone()]);
        assert_eq!(store.users(&named("O"), all()).await.unwrap().items, vec![bob, carol, root]);

        assert_conflict(
            store
                .create_user(
                    &user("u-9", "alice", Role::Analyst, None),
                    &event("user.create", None),
                )
                .await,
        );
        assert_conflict(
            store
                .create_user(
                    &user("u-1", "alice2", Role::Analyst, None),
                    &event("user.create", None),
                )
                .await,
        );
        assert_eq!(store.user_count().await.unwrap(), 4);
    }

    pub async fn sessions_live_until_expiry(store: &dyn Store) {
        let alice = user("u-1", "alice", Role::PlatformAdmin, None);
        store.create_user(&alice, &event("user.create", None)).await.unwrap();
        store.create_session(&[1; 32], "u-1", T0, T0 + 100).await.unwrap();
        store.create_session(&[2; 32], "u-1", T0, T0 + 200).await.unwrap();
        store.create_session(&[3; 32], "u-1", T0, T0 + 300).await.unwrap();
        assert_conflict(store.create_session(&[3; 32], "u-1", T0, T0 + 300).await);
        assert_refused(store.create_session(&[4; 32], "u-missing", T0, T0 + 300).await);

        assert_eq!(store.session_user(&[1; 32], T0).await.unwrap(), Some(alice.clone()));
        assert_eq!(store.session_user(&[1; 32], T0 + 99).await.unwrap(), Some(alice.clone()));
        assert_eq!(store.session_user(&[1; 32], T0 + 100).await.unwrap(), None, "at expiry");
        assert_eq!(store.session_user(&[1; 32], T0 + 101).await.unwrap(), None);
        assert_eq!(store.session_user(&[9; 32], T0).await.unwrap(), None);

        store.delete_session(&[2; 32]).await.unwrap();
        assert_eq!(store.session_user(&[2; 32], T0).await.unwrap(), None);
        store.delete_session(&[2; 32]).await.unwrap();

        assert_eq!(store.purge_sessions(T0 + 99).await.unwrap(), 0);
        assert_eq!(store.purge_sessions(T0 + 100).await.unwrap(), 1);
        assert_eq!(store.purge_sessions(T0 + 100).await.unwrap(), 0);
        assert_eq!(store.session_user(&[3; 32], T0 + 100).await.unwrap(), Some(alice));
        assert_eq!(store.purge_sessions(T0 + 1000).await.unwrap(), 1);
        assert_eq!(store.session_user(&[3; 32], T0).await.unwrap(), None);
    }

    pub async fn oidc_sign_ins_are_taken_once_and_oidc_sessions_expire(store: &dyn Store) {
        let login = |expires_at| OidcLogin {
            nonce: "n".into(),
            code_verifier: "v".repeat(43).into(),
            redirect_uri: "https://ds.example/dashboard/oidc/callback".into(),
            created_at: T0,
            expires_at,
        };
        store.create_oidc_login(&[1; 32], &login(T0 + 600)).await.unwrap();
        store.create_oidc_login(&[2; 32], &login(T0 + 600)).await.unwrap();
        store.create_oidc_login(&[3; 32], &login(T0 + 10)).await.unwrap();
        assert_conflict(store.create_oidc_login(&[1; 32], &login(T0 + 600)).await);
        assert_eq!(store.take_oidc_login(&[1; 32], T0 + 1).await.unwrap(), Some(login(T0 + 600)));
        assert_eq!(store.take_oidc_login(&[1; 32], T0 + 1).await.unwrap(), None, "taken once");
        assert_eq!(store.take_oidc_login(&[3; 32], T0 + 10).await.unwrap(), None, "expired");
        assert_eq!(store.take_oidc_login(&[9; 32], T0).await.unwrap(), None);

        let session = OidcSession {
            subject: "sub-1".into(),
            username: Some("alice".into()),
            role: Role::OrganisationAdmin,
            organisation_id: Some("org-1".into()),
            created_at: T0,
            expires_at: T0 + 100,
        };
        store.create_oidc_session(&[5; 32], &session).await.unwrap();
        store
            .create_oidc_session(
                &[6; 32],
                &OidcSession { username: None, expires_at: T0 + 300, ..session.clone() },
            )
            .await
            .unwrap();
        assert_eq!(store.oidc_session(&[5; 32], T0 + 99).await.unwrap(), Some(session.clone()));
        assert_eq!(store.oidc_session(&[5; 32], T0 + 100).await.unwrap(), None, "at expiry");
        assert_eq!(store.session_user(&[5; 32], T0).await.unwrap(), None, "not a local session");
        store.delete_session(&[6; 32]).await.unwrap();
        assert_eq!(store.oidc_session(&[6; 32], T0).await.unwrap(), None);
        // The expired session and the sign-in never taken (taking removes, even when expired).
        assert_eq!(store.purge_sessions(T0 + 1000).await.unwrap(), 2);
        assert_eq!(store.take_oidc_login(&[2; 32], T0).await.unwrap(), None, "purged");
    }

    pub async fn user_delete_ends_sessions(store: &dyn Store) {
        let alice = user("u-1", "alice", Role::PlatformAdmin, None);
        let bob = user("u-2", "bob", Role::PlatformAdmin, None);
        store.create_user(&alice, &event("user.create", None)).await.unwrap();
        store.create_user(&bob, &event("user.create", None)).await.unwrap();
        store.create_session(&[1; 32], "u-1", T0, T0 + 100).await.unwrap();
        store.create_session(&[2; 32], "u-2", T0, T0 + 100).await.unwrap();
        store.delete_user("u-1", &event("user.delete", None)).await.unwrap();
        assert_eq!(store.session_user(&[1; 32], T0).await.unwrap(), None);
        assert_eq!(store.session_user(&[2; 32], T0).await.unwrap(), Some(bob));
        assert_not_found(store.user_by_name("alice").await);
        assert_eq!(
            store.purge_sessions(T0 + 1000).await.unwrap(),
            1,
            "only bob's session was left"
        );
        assert_not_found(store.delete_user("u-1", &event("user.delete", None)).await);
        // The name is free again.
        store
            .create_user(&user("u-3", "alice", Role::Analyst, None), &event("user.create", None))
            .await
            .unwrap();
    }

    pub async fn signing_keys_lifecycle(store: &dyn Store) {
        assert!(store.signing_keys().await.unwrap().is_empty());
        let mut no_private = signing_key(3);
        no_private.private_pkcs8 = None;
        no_private.published_until = Some(T0 + 10);
        for k in [signing_key(2), signing_key(1), no_private.clone()] {
            store.add_signing_key(&k).await.unwrap();
        }
        assert_eq!(
            store.signing_keys().await.unwrap(),
            vec![signing_key(1), signing_key(2), no_private.clone()]
        );

        store.retire_signing_key("kid-1", T0 + 500).await.unwrap();
        let retired = store.signing_keys().await.unwrap().remove(0);
        assert_eq!(
            retired,
            SigningKeyRecord {
                private_pkcs8: None,
                published_until: Some(T0 + 500),
                ..signing_key(1)
            }
        );

        // Only keys whose publication ended before `now` go.
        assert_eq!(store.purge_signing_keys(T0 + 10).await.unwrap(), 0);
        assert_eq!(store.purge_signing_keys(T0 + 11).await.unwrap(), 1);
        assert_eq!(store.purge_signing_keys(T0 + 500).await.unwrap(), 0);
        let left: Vec<_> =
            store.signing_keys().await.unwrap().into_iter().map(|k| k.generation).collect();
        assert_eq!(left, vec![1, 2]);
        assert_eq!(store.purge_signing_keys(i64::MAX).await.unwrap(), 1);
        assert_eq!(
            store.signing_keys().await.unwrap(),
            vec![signing_key(2)],
            "the signing key stays"
        );
    }

    pub async fn signing_key_generations_are_unique(db: &Db) {
        // Two DS processes race to add the next key: one wins, the other sees a conflict and
        // reads the winner's.
        let other = db.reopen().await;
        db.store.add_signing_key(&signing_key(1)).await.unwrap();
        let mine = SigningKeyRecord { kid: "mine".into(), ..signing_key(2) };
        let theirs = SigningKeyRecord { kid: "theirs".into(), ..signing_key(2) };
        let (a, b) = tokio::join!(db.store.add_signing_key(&mine), other.add_signing_key(&theirs));
        assert!(a.is_ok() != b.is_ok(), "exactly one wins: {a:?} {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert_conflict(loser);
        let keys = other.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys, db.store.signing_keys().await.unwrap());
        // The same kid in another generation conflicts too.
        assert_conflict(
            db.store.add_signing_key(&SigningKeyRecord { generation: 7, ..signing_key(1) }).await,
        );
        other.close().await;
    }

    pub async fn hostile_values_round_trip(db: &Db) {
        let store: &dyn Store = &*db.store;
        let long = "é🔑x".repeat(10 * 1024 / 3);
        let hostile = [
            "'; DROP TABLE organisations; --".to_owned(),
            r#"Robert'); DELETE FROM labels WHERE ('1'='1"#.to_owned(),
            "quote ' double \" backtick ` semicolon ;".to_owned(),
            r"back\slash \\ \' \n \0 end\".to_owned(),
            "unicode: Ünïcødé — 日本語 — 🙂 — \u{202e}rtl".to_owned(),
            "$1 $2 ?1 :name @p1 %s %% _".to_owned(),
            "tab\tnewline\ncr\r".to_owned(),
            long.clone(),
        ];
        for (i, text) in hostile.iter().enumerate() {
            let org = organisation(&format!("org-{text}-{i}"), text);
            store
                .create_organisation(&org, &event("organisation.create", Some(&org.id)))
                .await
                .unwrap();
            assert_eq!(store.organisation(&org.id).await.unwrap(), org);
            let mut l = label(&format!("label-{i}-{text}"), &org.id, &format!("{text}-label"));
            l.application = text.clone();
            l.domains = vec![text.clone(), format!("\"{text}\"")];
            l.tags = vec![text.clone(), String::new(), "[\"nested\"]".into()];
            store.create_label(&l, &event("label.create", Some(&org.id))).await.unwrap();
            assert_eq!(store.label(&l.id).await.unwrap(), l);
            let u = user(&format!("u-{i}"), text, Role::Analyst, Some(&org.id));
            store.create_user(&u, &event("user.create", None)).await.unwrap();
            assert_eq!(store.user_by_name(text).await.unwrap(), u);
            let p = PublisherKey {
                id: text.clone(),
                name: text.clone(),
                public_key: format!("pk-{i}"),
                created_at: T0,
                revoked_at: None,
            };
            store.create_publisher_key(&p, &event("publisher_key.create", None)).await.unwrap();
            let audit = AuditEvent {
                actor: text.clone(),
                detail: json!({ "name": text, "list": [text] }),
                ..event("x.y", Some(&org.id))
            };
            store
                .put_version(&version(&format!("1.0.{i}"), &[(Os::Win64, text)]), &audit)
                .await
                .unwrap();
            let newest =
                store.audit_log(&Filter::default(), page(0, 1)).await.unwrap().items.remove(0);
            assert_eq!(newest.actor, *text);
            assert_eq!(newest.detail, audit.detail);
            assert_eq!(
                store.version(&format!("1.0.{i}")).await.unwrap().installers[0].source,
                *text
            );
            // Searching for the text itself finds exactly it: nothing in it is read as SQL
            // or as a pattern.
            let found = store.organisations(&named(text), all()).await.unwrap();
            assert_eq!(
                found.items.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
                vec![org.id.clone()],
                "{text:?}"
            );
        }
        let keys = store.publisher_keys().await.unwrap();
        assert_eq!(keys.len(), hostile.len());
        assert_eq!(
            store.organisations(&Filter::default(), all()).await.unwrap().total,
            hostile.len() as u64
        );
        assert_eq!(
            store.labels(&Filter::default(), all()).await.unwrap().total,
            hostile.len() as u64
        );
        assert_eq!(store.user_count().await.unwrap(), hostile.len() as u64);

        // Every table is still there.
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        for table in [
            "organisations",
            "labels",
            "versions",
            "installers",
            "api_keys",
            "publisher_keys",
            "users",
            "sessions",
            "audit_log",
            "signing_keys",
        ] {
            let count: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap()
                .get(0);
            assert!(count >= 0, "{table}");
        }
        pool.close().await;
    }

    pub async fn two_processes_share_one_database(db: &Db) {
        let one: &dyn Store = &*db.store;
        let other = db.reopen().await;
        let two: &dyn Store = &other;
        let org = given_organisation(one, 1).await;
        assert_eq!(two.organisation(&org.id).await.unwrap(), org);
        let l = given_label(two, "l-1", &org.id).await;
        assert_eq!(one.label("l-1").await.unwrap(), l);
        given_key(one, &key("k-1", label_owner("l-1"), 1)).await;
        assert_eq!(two.api_key_by_hash(&[1; 32]).await.unwrap().unwrap().label, Some(l));
        two.revoke_api_key("k-1", T0 + 1, &event("api_key.revoke", None)).await.unwrap();
        assert_eq!(one.api_key("k-1").await.unwrap().revoked_at, Some(T0 + 1));
        assert_conflict(
            two.create_organisation(
                &organisation("org-9", "Org 1"),
                &event("organisation.create", None),
            )
            .await,
        );
        one.create_user(
            &user("u-1", "alice", Role::PlatformAdmin, None),
            &event("user.create", None),
        )
        .await
        .unwrap();
        two.create_session(&[5; 32], "u-1", T0, T0 + 10).await.unwrap();
        assert_eq!(one.session_user(&[5; 32], T0).await.unwrap().unwrap().username, "alice");
        one.delete_organisation(&org.id, &event("organisation.delete", None)).await.unwrap();
        assert_not_found(two.label("l-1").await);
        let log_one = one.audit_log(&Filter::default(), all()).await.unwrap();
        assert_eq!(log_one, two.audit_log(&Filter::default(), all()).await.unwrap());
        assert_eq!(log_one.total, 6);
        other.close().await;
    }

    pub async fn concurrent_key_creation_keeps_the_limit(db: &Db) {
        let stores: [Arc<dyn Store>; 2] = [db.store.clone(), Arc::new(db.reopen().await)];
        let org = given_organisation(&*stores[0], 1).await;
        given_label(&*stores[0], "l-1", &org.id).await;
        // One key already there, so each racer reads a count of one or two.
        given_key(&*stores[0], &key("k-0", label_owner("l-1"), 100)).await;
        let audit_before = audit_total(&*stores[0]).await;

        let racers: Vec<_> = (0..20u8)
            .map(|n| {
                let store = stores[usize::from(n % 2)].clone();
                tokio::spawn(async move {
                    let k = key(&format!("k-{}", n + 1), label_owner("l-1"), n);
                    store.create_api_key(&k, 2, &event("api_key.create", None)).await
                })
            })
            .collect();
        let mut created = 0;
        for racer in racers {
            match racer.await.expect("racer") {
                Ok(()) => created += 1,
                Err(StoreError::Refused(_)) => {}
                Err(other) => panic!("a racer failed other than by refusal: {other:?}"),
            }
        }
        assert_eq!(created, 1, "one more key fits under the limit of two");
        let keys = stores[1].api_keys(&label_owner("l-1")).await.unwrap();
        assert_eq!(keys.iter().filter(|k| k.is_active(T0)).count(), 2, "{keys:?}");
        assert_eq!(audit_total(&*stores[1]).await, audit_before + 1);

        // From empty, with both slots free.
        given_label(&*stores[0], "l-2", &org.id).await;
        let racers: Vec<_> = (0..20u8)
            .map(|n| {
                let store = stores[usize::from(n % 2)].clone();
                tokio::spawn(async move {
                    let k = key(&format!("k2-{n}"), label_owner("l-2"), 200 + n);
                    store.create_api_key(&k, 2, &event("api_key.create", None)).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.expect("racer"));
        }
        let created = outcomes.iter().filter(|r| r.is_ok()).count();
        let others: Vec<_> = outcomes
            .iter()
            .filter(|r| !matches!(r, Ok(()) | Err(StoreError::Refused(_))))
            .collect();
        assert!(others.is_empty(), "racers failed other than by refusal: {others:?}");
        assert_eq!(created, 2);
        assert_eq!(stores[0].api_keys(&label_owner("l-2")).await.unwrap().len(), 2);
    }

    pub async fn reopening_keeps_data(db: &Db) {
        let org = given_organisation(&*db.store, 1).await;
        given_label(&*db.store, "l-1", &org.id).await;
        db.store.add_signing_key(&signing_key(1)).await.unwrap();
        db.store.close().await;

        // Opening again runs the migrator again: nothing to apply, nothing lost.
        let again = db.reopen().await;
        assert_eq!(again.organisation(&org.id).await.unwrap(), org);
        assert_eq!(again.label("l-1").await.unwrap().organisation_id, org.id);
        assert_eq!(again.signing_keys().await.unwrap(), vec![signing_key(1)]);
        assert_eq!(audit_total(&again).await, 2);
        let third = db.reopen().await;
        assert_eq!(third.organisations(&Filter::default(), all()).await.unwrap().total, 1);
        third.close().await;
        again.close().await;

        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let applied: Vec<i64> =
            sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
        let distinct: std::collections::BTreeSet<_> = applied.iter().collect();
        assert_eq!(applied.len(), distinct.len(), "each migration applied once: {applied:?}");
        assert!(!applied.is_empty());
        pool.close().await;
    }

    /// Installers in platform order, as a comparable value.
    fn sorted(mut v: Version) -> Version {
        v.installers.sort_by_key(|i| i.os.as_str());
        v
    }
}
