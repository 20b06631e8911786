//! PINs never reach logs or error bodies: every PIN flow runs against an in-process connector
//! with every log line captured at TRACE level, then the capture and every response body are
//! scanned for the PINs used.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::server::{self, TEST_PIN};

/// Wrong PINs used below; as unusual as [`TEST_PIN`].
const WRONG_PINS: [&str; 2] = ["58204719", "60317295"];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn pins_never_appear_in_logs_or_responses() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let connector = server::start_connector().await;
    let http = server::client(&connector);
    let id = server::reader_id(&connector).await;
    let base = format!("/v3/modules/hello/apps/token/readers/{id}");
    let mut bodies = String::new();
    let post = |path: String, body: serde_json::Value| {
        let http = http.clone();
        let target = server::url(&connector, &path);
        async move {
            http.post(target).json(&body).send().await.expect("https").text().await.expect("body")
        }
    };
    let all_pins = [TEST_PIN, WRONG_PINS[0], WRONG_PINS[1]];
    for pin in all_pins {
        let encrypted = server::encrypted_pin(&connector, pin);
        bodies += &post(
            format!("{base}/verify-pin"),
            serde_json::json!({"pin": encrypted, "base64Encoded": true}),
        )
        .await;
        bodies += &post(format!("{base}/verify-pin"), serde_json::json!({"pin": pin})).await;
        bodies += &post(
            format!("{base}/sign?bulk=true"),
            serde_json::json!({"pin": encrypted, "base64Encoded": true, "algorithm": "sha256", "data": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
        )
        .await;
        // A PIN that is not encrypted to our key, sent as if it were.
        bodies += &post(
            format!("{base}/verify-pin"),
            serde_json::json!({"pin": pin, "base64Encoded": true}),
        )
        .await;
    }
    bodies +=
        &post("/v3/modules/hello/apps/token/reset-bulk-pin".into(), serde_json::json!({})).await;
    connector.shutdown().await;

    let logs = String::from_utf8_lossy(&capture.0.lock().expect("capture")).into_owned();
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "the capture is live");
    for pin in all_pins {
        assert!(!logs.contains(pin), "PIN {pin} found in the logs");
        assert!(!bodies.contains(pin), "PIN {pin} found in a response");
    }
}
