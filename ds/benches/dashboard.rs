//! The dashboard's transactions page with a year of usage counters for 100 labels, run with
//! `cargo bench -p t1c-ds --bench dashboard` (needs `postgresql` for the PostgreSQL figures).
//!
//! A DS is started in process ([`TestDs`], its clock at the real time) and filled through its
//! store as connectors fill it: 100 labels in 5 organisations, 200 devices each counting under
//! one label for 2 modules and 3 use cases every day of the last twelve months; the eleven
//! past months are then closed (archived) as the rollover closes them, the current month stays
//! in day rows. Then, signed in as the platform administrator, each page is fetched
//! `T1C_DASHBOARD_RUNS` times (default 20) over HTTPS on loopback and its answer time measured
//! (all of it is the server's work but the loopback round trip); the sign-in form, a page that
//! reads nothing, is the baseline measured in the same run.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use t1c_ds::clock::Clock as _;
use t1c_ds::store::{Device, Month};
use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
use t1c_testkit::ds::{DsBackend, TestDs};

const LABELS: usize = 100;
const ORGANISATIONS: usize = 5;
const DEVICES: usize = 200;
const MODULES: [&str; 2] = ["beid", "pkcs11"];
const USE_CASES: [UseCase; 3] =
    [UseCase::IdentityRead, UseCase::Authentication, UseCase::DigitalSignature];

fn main() {
    let runs: usize =
        std::env::var("T1C_DASHBOARD_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    println!(
        "{LABELS} labels, {DEVICES} devices, {} counter keys a day, 12 months; {runs} runs per page",
        DEVICES * MODULES.len() * USE_CASES.len()
    );
    for (name, backend) in [("SQLite", DsBackend::Sqlite), ("PostgreSQL", DsBackend::Postgres)] {
        runtime.block_on(measure(name, backend, runs));
    }
}

async fn measure(name: &str, backend: DsBackend, runs: usize) {
    let ds = TestDs::start(backend).await.expect("DS");
    let started = Instant::now();
    let rows = fill(&ds).await;
    println!("{name}: filled {rows} day rows in {:.1?}", started.elapsed());
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(
                &std::fs::read(ds.ca_certificate().expect("CA")).expect("CA file"),
            )
            .expect("CA"),
        )
        .build()
        .expect("client");
    let login = client
        .post(format!("{}/dashboard/login", ds.url()))
        .header("origin", ds.url())
        .form(&[("username", "admin"), ("password", &ds.bootstrap_password())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let baseline = time(&client, &ds, "/dashboard/login", &cookie, runs).await;
    println!(
        "{name:<10} {:<44} p50 {:>8.2?}  max {:>8.2?}",
        "sign-in form (baseline)", baseline.0, baseline.1
    );
    for path in [
        "/dashboard/transactions",
        "/dashboard/transactions?by=organisation",
        "/dashboard/transactions?by=module",
        "/dashboard/transactions.csv?by=label",
        "/dashboard/",
    ] {
        let (p50, max) = time(&client, &ds, path, &cookie, runs).await;
        println!(
            "{name:<10} {path:<44} p50 {p50:>8.2?}  max {max:>8.2?}  ({:.1}x baseline; under 1 s: {})",
            p50.as_secs_f64() / baseline.0.as_secs_f64().max(1e-9),
            max < Duration::from_secs(1)
        );
    }
    ds.stop().await;
}

/// The p50 and max answer times of `path`.
async fn time(
    client: &reqwest::Client,
    ds: &TestDs,
    path: &str,
    cookie: &str,
    runs: usize,
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let response = client
            .get(format!("{}{path}", ds.url()))
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = response.bytes().await.expect("body");
        times.push(started.elapsed());
        assert!(!body.is_empty());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() - 1])
}

/// A year of counters; returns how many day rows were stored.
async fn fill(ds: &TestDs) -> usize {
    let token = ds.admin_token().await;
    let mut organisations = Vec::new();
    for o in 0..ORGANISATIONS {
        organisations.push(ds.organisation(&token, &format!("Organisation {o}")).await);
    }
    for l in 0..LABELS {
        let (status, body) = ds
            .call(
                reqwest::Method::POST,
                "/v3_5/labels",
                Some(&token),
                Some(serde_json::json!({
                    "organisation_id": organisations[l % ORGANISATIONS],
                    "name": format!("label-{l:03}"),
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let store = ds.store();
    let now = ds.clock().now();
    for d in 0..DEVICES {
        let device = Device {
            id: format!("{d:032x}"),
            signing_key: "{}".into(),
            encryption_key: "{}".into(),
            installed_with: "3.6.1".into(),
            version: "3.6.1".into(),
            os: ["linux", "windows", "macos"][d % 3].into(),
            os_version: None,
            arch: "x86_64".into(),
            state: "running".into(),
            labels: vec![format!("label-{:03}", d % LABELS)],
            browsers: vec!["Chrome 131".into()],
            modules: vec![],
            failed_installs: vec![],
            registered_at: now,
            last_seen: now,
            revoked_at: None,
        };
        store.create_device(&device).await.expect("device");
    }
    let current = Month::containing(now).expect("month");
    let today = time::OffsetDateTime::from_unix_timestamp(now).expect("now").day();
    let mut months: Vec<Month> = (0..11)
        .scan(current, |m, _| {
            *m = m.previous();
            Some(*m)
        })
        .collect();
    months.reverse();
    months.push(current);
    let mut rows = 0;
    for (seq, month) in months.iter().enumerate() {
        let days = if *month == current {
            u32::from(today)
        } else {
            u32::try_from((month.end() - month.start()) / 86_400).expect("days")
        };
        for d in 0..DEVICES {
            let mut batch = CounterBatch { seq: seq as u64 + 1, rows: Vec::new() };
            for day in 1..=days {
                for module in MODULES {
                    for use_case in USE_CASES {
                        batch.rows.push(DayCount {
                            day: format!("{month}-{day:02}"),
                            label: format!("label-{:03}", d % LABELS),
                            tag: String::new(),
                            module: module.into(),
                            use_case,
                            total: 1 + (d as u64 + u64::from(day)) % 17,
                        });
                    }
                }
            }
            rows += batch.rows.len();
            store.store_counters(&format!("{d:032x}"), &batch, now).await.expect("counters");
        }
        if *month != current {
            store.close_month(*month, now).await.expect("close");
        }
    }
    rows
}
