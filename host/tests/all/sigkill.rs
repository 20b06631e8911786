//! The real connector, killed with SIGKILL while it answers PIN verifications, loses none of the
//! transactions it acknowledged: the counters are durable before the answer goes out.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use rsa::pkcs8::DecodePublicKey;

struct Connector {
    child: Child,
    port: u16,
    ca: std::path::PathBuf,
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, modules: &Path) -> Connector {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_t1c"))
        .args(["serve", "--simulate", "--port", &port.to_string(), "--bundles"])
        .arg(modules)
        .env("T1C_DATA_DIR", data)
        .env("T1C_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("t1c starts");
    Connector { child, port, ca: data.join("tls/ca.pem") }
}

async fn client(connector: &Connector) -> reqwest::Client {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(pem) = std::fs::read(&connector.ca) {
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("ca"))
                .resolve("localhost", ([127, 0, 0, 1], connector.port).into())
                .build()
                .expect("client");
            if client.get(url(connector, "/info")).send().await.is_ok() {
                return client;
            }
        }
        assert!(Instant::now() < deadline, "the connector did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn url(connector: &Connector, path: &str) -> String {
    format!("https://localhost:{}{path}", connector.port)
}

async fn total_counted(connector: &Connector, http: &reqwest::Client) -> u64 {
    let body: serde_json::Value = http
        .get(url(connector, "/ds/transactions"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    body["data"].as_array().expect("rows").iter().filter_map(|r| r["counter"].as_u64()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let modules = dir.path().join("modules");
    std::fs::create_dir_all(&modules).expect("modules dir");
    let bundle = t1c_testkit::bundle::signed_bundle(
        "t1c-module-hello",
        &t1c_testkit::bundle::development_key(),
    );
    std::fs::write(modules.join("hello.t1cm"), bundle).expect("bundle");
    let data = dir.path().join("data");

    let mut connector = start(&data, &modules);
    let http = client(&connector).await;
    let readers: serde_json::Value = http
        .get(url(&connector, "/v3/readers"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    let reader = readers["data"][0]["id"].as_str().expect("the simulated reader").to_owned();
    let key: serde_json::Value = http
        .get(url(&connector, "/device-key"))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    let public =
        rsa::RsaPublicKey::from_public_key_pem(key["data"].as_str().expect("pem")).expect("key");
    let target =
        url(&connector, &format!("/v3/modules/hello/apps/token/readers/{reader}/verify-pin"));

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, target, public, acknowledged) =
            (http.clone(), target.clone(), public.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let pin = public
                    .encrypt(&mut rsa::rand_core::OsRng, rsa::Pkcs1v15Encrypt, b"1234")
                    .expect("encrypt");
                let body = serde_json::json!({
                    "pin": base64::engine::general_purpose::STANDARD.encode(pin),
                    "base64Encoded": true,
                });
                match http.post(&target).json(&body).send().await {
                    Ok(response) if response.status() == 200 => {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(response) => panic!("unexpected status {}", response.status()),
                    Err(_) => return, // the connector was killed
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.load(Ordering::SeqCst) < 40 {
        assert!(Instant::now() < deadline, "too few transactions went through");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    connector.child.kill().expect("SIGKILL");
    let _ = connector.child.wait();
    for client in clients {
        client.await.expect("client task");
    }
    let acknowledged = acknowledged.load(Ordering::SeqCst) as u64;

    let restarted = start(&data, &modules);
    let http = client(&restarted).await;
    let counted = total_counted(&restarted, &http).await;
    assert!(counted >= acknowledged, "counted {counted} < acknowledged {acknowledged}");
    // At most the requests in flight at the kill were counted without an answer.
    assert!(
        counted <= acknowledged + 4,
        "counted {counted} > acknowledged {acknowledged} + in flight"
    );
}
