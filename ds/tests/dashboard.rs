//! The dashboard's routes against a running DS ([`TestDs`]), driven as a browser drives them:
//! a session cookie, forms with their synchronizer token, `Origin` and `Sec-Fetch-Site`.
//!
//! What it pins down: the session cookie's attributes, sign-in failures counted per address,
//! every change refused without the token or from another origin, an organisation
//! administrator kept to its organisation in every page and in the CSV, the CSV being the table
//! the page shows, the Content-Security-Policy, and the embedded assets' caching. The checks
//! whose SQL differs between backends run on both.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::json;
use t1c_ds::store::Device;
use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
use t1c_testkit::ds::{DsBackend, TestDs};

/// A browser's view of the dashboard: its cookie and the page's synchronizer token.
struct Browser {
    client: reqwest::Client,
    url: String,
    cookie: Option<String>,
    csrf: Option<String>,
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
        Self { client, url: ds.url().to_owned(), cookie: None, csrf: None }
    }

    fn origin(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(&self.url).expect("origin"));
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        headers
    }

    /// GETs `path`; returns status, headers and body, and keeps the page's token.
    async fn get(&mut self, path: &str) -> (StatusCode, HeaderMap, String) {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("GET");
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.text().await.unwrap_or_default();
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        (status, headers, body)
    }

    /// POSTs a form to `path` with `headers`, adding the page's token unless `fields` holds one.
    async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: HeaderMap,
    ) -> (StatusCode, HeaderMap, String) {
        let mut form: Vec<(String, String)> =
            fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if !fields.iter().any(|(k, _)| *k == "csrf")
            && let Some(token) = &self.csrf
        {
            form.push(("csrf".into(), token.clone()));
        }
        let mut request =
            self.client.post(format!("{}{path}", self.url)).headers(headers).form(&form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("POST");
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        self.post_with(path, fields, self.origin()).await
    }

    /// Signs in; panics unless the DS answers with the session cookie.
    async fn sign_in(&mut self, username: &str, password: &str) {
        let (status, headers, body) =
            self.post("/dashboard/login", &[("username", username), ("password", password)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let cookie = headers["set-cookie"].to_str().expect("cookie").to_owned();
        self.cookie = Some(cookie.split(';').next().expect("pair").to_owned());
        self.get("/dashboard/").await;
    }
}

/// Linux releases devices report.
const DEBIAN: &str = "Debian GNU/Linux 12 (bookworm)";
const UBUNTU: &str = "Ubuntu 24.04.1 LTS";

/// The rows of chart `id`'s table: (row heading, first value), in page order.
fn chart_rows(page: &str, id: &str) -> Vec<(String, i64)> {
    let start =
        page.find(&format!("<table id=\"{id}\"")).unwrap_or_else(|| panic!("no table {id}"));
    let table = &page[start..start + page[start..].find("</table>").expect("table end")];
    table
        .split("<th scope=\"row\">")
        .skip(1)
        .map(|row| {
            let name = row.split("</th>").next().unwrap_or_default().replace("&amp;", "&");
            let value = row.split("data-value=\"").nth(1).and_then(|v| v.split('"').next());
            (name, value.and_then(|v| v.parse().ok()).expect("a value"))
        })
        .collect()
}

/// The synchronizer token printed in a page's forms.
fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_owned())
}

async fn admin(ds: &TestDs) -> Browser {
    let mut browser = Browser::new(ds);
    browser.sign_in("admin", &ds.bootstrap_password()).await;
    browser
}

/// A registered device, written straight to the store, that reported `labels`.
async fn device(ds: &TestDs, id: &str, labels: &[&str]) {
    device_on(ds, id, labels, None).await;
}

/// [`device`] on the Linux release `os_version` (`None`: its connector reports none).
async fn device_on(ds: &TestDs, id: &str, labels: &[&str], os_version: Option<&str>) {
    let now = ds.clock().now();
    let device = Device {
        id: id.into(),
        signing_key: "{}".into(),
        encryption_key: "{}".into(),
        installed_with: "3.6.1".into(),
        version: "3.6.1".into(),
        os: "linux".into(),
        os_version: os_version.map(str::to_owned),
        arch: "x86_64".into(),
        state: "running".into(),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        browsers: vec!["Chrome 131".into()],
        modules: vec![],
        failed_installs: vec![],
        registered_at: now,
        last_seen: now,
        revoked_at: None,
    };
    ds.store().create_device(&device).await.expect("device");
}

/// Counters of `device` today: (label, module, total).
async fn counters(ds: &TestDs, device: &str, rows: &[(&str, &str, u64)]) {
    let now = ds.clock().now();
    let day = time::OffsetDateTime::from_unix_timestamp(now).expect("now").date();
    let day = format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day());
    let batch = CounterBatch {
        seq: 1,
        rows: rows
            .iter()
            .map(|(label, module, total)| DayCount {
                day: day.clone(),
                label: (*label).into(),
                tag: String::new(),
                module: (*module).into(),
                use_case: UseCase::IdentityRead,
                total: *total,
            })
            .collect(),
    };
    ds.store().store_counters(device, &batch, now).await.expect("counters");
}

use t1c_ds::clock::Clock as _;

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_secure_cookie_and_signing_out_ends_the_session() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let mut browser = Browser::new(&ds);

    let (status, headers, _) = browser.get("/dashboard/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/dashboard/login");
    let (status, headers, _) = browser.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/dashboard/");

    let (status, headers, _) = browser
        .post("/dashboard/login", &[("username", "admin"), ("password", &ds.bootstrap_password())])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers["set-cookie"].to_str().expect("cookie");
    for attribute in
        ["__Host-t1c-ds-session=t1cs_", "; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"]
    {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    browser.cookie = Some(cookie.split(';').next().expect("pair").to_owned());

    let (status, headers, body) = browser.get("/dashboard/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.contains("Overview") && body.contains("user:admin"), "{body}");
    assert!(!body.contains("<script>"), "no inline script");

    let (status, headers, _) = browser.post("/dashboard/logout", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers["set-cookie"].to_str().expect("cookie").contains("Max-Age=0"));
    let (status, _, _) = browser.get("/dashboard/").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session is gone at the DS, not only the cookie");
    ds.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_count_against_the_address_as_api_logins_do() {
    let ds =
        TestDs::start_with(DsBackend::Sqlite, |c| c.api_keys.failures_per_address_per_minute = 3)
            .await
            .expect("DS");
    let browser = Browser::new(&ds);
    for _ in 0..3 {
        let (status, _, body) = browser
            .post("/dashboard/login", &[("username", "admin"), ("password", "wrong password!")])
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("Wrong username or password."), "{body}");
    }
    let (status, headers, _) = browser
        .post("/dashboard/login", &[("username", "admin"), ("password", &ds.bootstrap_password())])
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the budget is spent, even for the right password"
    );
    assert!(headers.contains_key("retry-after"));
    ds.stop().await;
}

#[tokio::test]
async fn changes_without_the_token_or_from_another_origin_are_refused() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let mut browser = admin(&ds).await;
    browser.get("/dashboard/manage/organisations").await;
    let path = "/dashboard/manage/organisations";

    let (status, _, _) = browser.post(path, &[("name", "No token"), ("csrf", "")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = browser.post(path, &[("name", "Wrong token"), ("csrf", "AAAA")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut cross_site = HeaderMap::new();
    cross_site.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    let (status, _, _) = browser.post_with(path, &[("name", "Cross site")], cross_site).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut other_origin = HeaderMap::new();
    other_origin.insert("origin", HeaderValue::from_static("https://evil.example"));
    let (status, _, _) = browser.post_with(path, &[("name", "Other origin")], other_origin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = browser.post_with(path, &[("name", "No origin")], HeaderMap::new()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The sign-in form too: a cross-site page cannot sign a browser in to an account of its own.
    let mut anonymous = Browser::new(&ds);
    anonymous.csrf = None;
    let password = ds.bootstrap_password();
    let (status, _, _) = anonymous
        .post_with(
            "/dashboard/login",
            &[("username", "admin"), ("password", &password)],
            HeaderMap::new(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let listed =
        ds.store().organisations(&Default::default(), Default::default()).await.expect("list");
    assert_eq!(listed.total, 0, "nothing refused was created");
    let (status, headers, _) = browser.post(path, &[("name", "Accepted")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, body) = browser.get(headers["location"].to_str().expect("location")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Accepted") && body.contains("Created."), "{body}");
    let audit = ds.store().audit_log(&Default::default(), Default::default()).await.expect("audit");
    assert!(
        audit.items.iter().any(|e| e.action == "organisation.create" && e.actor == "user:admin")
    );
    ds.stop().await;
}

#[tokio::test]
async fn a_new_api_key_is_shown_once_and_revoking_it_stops_it() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let token = ds.admin_token().await;
    let org = ds.organisation(&token, "Shop Inc").await;
    let mut browser = admin(&ds).await;
    browser.get("/dashboard/manage/labels").await;
    let (status, headers, body) = browser
        .post(
            "/dashboard/manage/labels",
            &[("organisation_id", &org), ("name", "shop"), ("domains", "https://shop.example")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let label_page =
        headers["location"].to_str().expect("location").split('?').next().expect("path").to_owned();

    let (status, headers, body) = browser.post(&format!("{label_page}/keys"), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let at =
        body.find("id=\"api-key-text\">").expect("the key is shown") + "id=\"api-key-text\">".len();
    let key = body[at..].split('<').next().expect("key").to_owned();
    assert!(key.starts_with("t1c_"), "{key}");
    let (status, _) = ds.call(Method::GET, "/v3_5/tokens/application", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let answer = ds
        .client()
        .get(format!("{}/v3_5/tokens/application", ds.url()))
        .header("apikey", &key)
        .send()
        .await
        .expect("token");
    assert_eq!(answer.status(), StatusCode::OK, "the key works");

    let (_, _, page) = browser.get(&label_page).await;
    assert!(!page.contains(&key), "shown once only");
    let at = page.find("data-key-id=\"").expect("key row") + "data-key-id=\"".len();
    let key_id = page[at..].split('"').next().expect("id").to_owned();
    let (status, _, _) = browser.post(&format!("{label_page}/keys/{key_id}/revoke"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    ds.clock().advance(60);
    let answer = ds
        .client()
        .get(format!("{}/v3_5/tokens/application", ds.url()))
        .header("apikey", &key)
        .send()
        .await
        .expect("token");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "the revoked key stops working");
    ds.stop().await;
}

#[tokio::test]
async fn assets_are_embedded_and_cached_for_good() {
    let ds = TestDs::start(DsBackend::Sqlite).await.expect("DS");
    let mut browser = admin(&ds).await;
    let (_, _, page) = browser.get("/dashboard/").await;
    let mut paths: Vec<String> = page
        .match_indices("/dashboard/assets/")
        .map(|(at, _)| page[at..].split('"').next().expect("path").to_owned())
        .collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for path in paths {
        let (status, headers, body) = browser.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.is_empty());
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
        let etag = headers["etag"].clone();
        let again = browser
            .client
            .get(format!("{}{path}", browser.url))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let (status, _, _) = browser.get("/dashboard/assets/chart-0000000000000000.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    ds.stop().await;
}

macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::checks::$check(t1c_testkit::ds::DsBackend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::checks::$check(t1c_testkit::ds::DsBackend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    an_organisation_administrator_sees_only_its_organisation,
    the_csv_is_the_table_the_page_shows,
    devices_are_counted_by_the_database,
);

mod checks {
    use super::*;

    pub async fn an_organisation_administrator_sees_only_its_organisation(backend: DsBackend) {
        let ds = TestDs::start(backend).await.expect("DS");
        let token = ds.admin_token().await;
        let ours = ds.organisation(&token, "Ours").await;
        let theirs = ds.organisation(&token, "Theirs").await;
        let (our_label, _) = ds.label_with_key(&token, &ours, "our-shop", &[]).await;
        let (their_label, _) = ds.label_with_key(&token, &theirs, "their-bank", &[]).await;
        let (status, body) = ds
            .call(
                Method::POST,
                "/v3_5/users",
                Some(&token),
                Some(json!({"username": "ours-admin", "password": "a long enough password", "role": "organisation-admin", "organisation_id": ours})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        device(&ds, "d1", &["our-shop", "their-bank"]).await;
        counters(&ds, "d1", &[("our-shop", "beid", 7), ("their-bank", "beid", 1000)]).await;

        let mut browser = Browser::new(&ds);
        browser.sign_in("ours-admin", "a long enough password").await;
        for path in [
            format!("/dashboard/manage/organisations/{theirs}"),
            format!("/dashboard/manage/labels/{their_label}"),
        ] {
            let (status, _, body) = browser.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert!(!body.contains("their-bank") && !body.contains("Theirs"), "{path}: {body}");
        }
        let (status, _, _) = browser.get(&format!("/dashboard/manage/labels/{our_label}")).await;
        assert_eq!(status, StatusCode::OK);
        for path in [
            "/dashboard/",
            "/dashboard/manage/organisations",
            "/dashboard/manage/labels",
            &format!("/dashboard/manage/labels?organisation={theirs}"),
            "/dashboard/transactions",
            "/dashboard/transactions?by=organisation",
            &format!("/dashboard/transactions?organisation={theirs}"),
            "/dashboard/transactions?label=their-bank",
            "/dashboard/transactions.csv?by=label",
            "/dashboard/manage/audit",
        ] {
            let (status, _, body) = browser.get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            // The label asked for is echoed in its field and links; none of it is data.
            let data = body.replace("value=\"their-bank\"", "").replace("label=their-bank", "");
            assert!(
                !data.contains("their-bank")
                    && !data.contains("Theirs")
                    && !data.contains("1000")
                    && !data.contains("1\u{202f}000"),
                "{path}: {body}"
            );
        }
        let (_, _, csv) = browser.get("/dashboard/transactions.csv?by=label").await;
        assert!(csv.contains(",our-shop,7\r\n"), "{csv}");
        let (_, _, overview) = browser.get("/dashboard/").await;
        assert!(overview.contains("id=\"transactions-month\" data-value=\"7\""), "{overview}");
        for path in [
            "/dashboard/devices",
            "/dashboard/manage/rollouts",
            "/dashboard/manage/bundles",
            "/dashboard/manage/versions",
            "/dashboard/manage/tls-keystores",
        ] {
            let (status, _, body) = browser.get(path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(!body.contains("their-bank"), "{path}");
        }
        let (status, _, _) = browser
            .post("/dashboard/manage/labels", &[("organisation_id", &theirs), ("name", "smuggled")])
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) =
            browser.post(&format!("/dashboard/manage/labels/{their_label}/delete"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) =
            browser.post(&format!("/dashboard/manage/labels/{their_label}/keys"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        ds.store().label(&their_label).await.expect("their label is untouched");
        let labels =
            ds.store().labels(&Default::default(), Default::default()).await.expect("labels");
        assert!(!labels.items.iter().any(|l| l.name == "smuggled"));
        ds.stop().await;
    }

    pub async fn the_csv_is_the_table_the_page_shows(backend: DsBackend) {
        let ds = TestDs::start(backend).await.expect("DS");
        let token = ds.admin_token().await;
        let org = ds.organisation(&token, "Org").await;
        ds.label_with_key(&token, &org, "shop", &[]).await;
        ds.label_with_key(&token, &org, "bank", &[]).await;
        device(&ds, "d1", &["shop"]).await;
        device(&ds, "d2", &["bank"]).await;
        counters(&ds, "d1", &[("shop", "beid", 3), ("shop", "=cmd", 4), ("bank", "beid", 5)]).await;
        counters(&ds, "d2", &[("shop", "beid", 10), ("bank", "pkcs11", 1)]).await;
        let mut browser = admin(&ds).await;
        for (by, expected) in [
            ("module", vec![("'=cmd", 4), ("beid", 18), ("pkcs11", 1)]),
            ("label", vec![("bank", 6), ("shop", 17)]),
            ("organisation", vec![("Org", 23)]),
        ] {
            let (status, _, page) = browser.get(&format!("/dashboard/transactions?by={by}")).await;
            assert_eq!(status, StatusCode::OK);
            let (status, headers, csv) =
                browser.get(&format!("/dashboard/transactions.csv?by={by}")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
            assert!(headers["content-disposition"].to_str().expect("cd").starts_with("attachment"));
            let rows: Vec<Vec<String>> =
                csv.lines().skip(1).map(|l| l.split(',').map(str::to_owned).collect()).collect();
            // Each month's total, then each day's: the same rows, in the same order, as the page.
            let table = &page[page.find("id=\"transactions-table\"").expect("table")..];
            let cells: Vec<&str> = table
                .split("data-value=\"")
                .skip(1)
                .map(|s| s.split('"').next().expect("value"))
                .collect();
            let csv_totals: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
            assert_eq!(cells, csv_totals, "{by}");
            let month: Vec<(&str, i64)> = rows
                .iter()
                .filter(|r| r[0].len() == 7)
                .filter(|r| r[2] != "0")
                .map(|r| (r[1].as_str(), r[2].parse().expect("n")))
                .collect();
            let expected: Vec<(&str, i64)> = expected;
            assert_eq!(month, expected, "{by}: {csv}");
            assert_eq!(
                rows.iter()
                    .filter(|r| r[0].len() == 10)
                    .map(|r| r[2].parse::<i64>().expect("n"))
                    .sum::<i64>(),
                23
            );
        }
        ds.stop().await;
    }

    pub async fn devices_are_counted_by_the_database(backend: DsBackend) {
        let ds = TestDs::start(backend).await.expect("DS");
        let releases = [Some(DEBIAN), Some(DEBIAN), Some(UBUNTU), None, None];
        for (i, release) in releases.into_iter().enumerate() {
            device_on(&ds, &format!("d{i}"), &["shop"], release).await;
        }
        let mut browser = admin(&ds).await;
        let (status, _, page) = browser.get("/dashboard/devices").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("id=\"devices-total\" data-value=\"5\""), "{page}");
        let by_release = chart_rows(&page, "devices-by-os-version");
        assert_eq!(
            by_release,
            [("Debian GNU/Linux 12 (bookworm)", 2), ("unknown", 2), ("Ubuntu 24.04.1 LTS", 1)]
                .map(|(name, count)| (name.to_owned(), count)),
            "{page}"
        );
        assert!(page.contains("<td>unknown</td>") && page.contains("<td>Ubuntu 24.04.1 LTS</td>"));
        let (_, _, page) = browser.get("/dashboard/devices?os_version=unknown").await;
        assert!(page.contains("id=\"devices-total\" data-value=\"2\""), "{page}");
        let (_, _, page) =
            browser.get("/dashboard/devices?os_version=Ubuntu%2024.04.1%20LTS").await;
        assert!(page.contains("id=\"devices-total\" data-value=\"1\""), "{page}");
        assert!(page.contains("<option value=\"Ubuntu 24.04.1 LTS\" selected>"), "{page}");
        let (_, _, page) = browser.get("/dashboard/devices?os=windows").await;
        assert!(page.contains("id=\"devices-total\" data-value=\"0\""), "{page}");
        let (_, _, page) = browser.get("/dashboard/devices?browser=Chrome%20131").await;
        assert!(page.contains("id=\"devices-total\" data-value=\"5\""), "{page}");
        let (_, _, overview) = browser.get("/dashboard/").await;
        assert!(overview.contains("id=\"active-day\" data-value=\"5\""), "{overview}");
        ds.clock().advance(2 * 86_400);
        let mut browser = admin(&ds).await;
        let (_, _, overview) = browser.get("/dashboard/").await;
        assert!(overview.contains("id=\"active-day\" data-value=\"0\""), "{overview}");
        assert!(overview.contains("id=\"stopped\" data-value=\"5\""), "{overview}");
        ds.stop().await;
    }
}
