//! The DS's HTTP routes, as the connector calls them: registration (token, then the signed
//! request), the sealed sync, and bundle downloads. Every answer is checked for size and shape;
//! failures are typed, and never carry the installation key or a private key.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use t1c_ds_protocol::messages::{RegistrationAnswer, RegistrationToken, codes};

/// The largest JSON or sealed answer read from the DS.
const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// Why talking to the DS failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DsError {
    /// The `[ds]` settings cannot be used (URL, CA file).
    #[error("[ds] configuration: {0}")]
    Config(String),
    /// The DS cannot be reached, or the connection broke.
    #[error("the DS cannot be reached: {0}")]
    Unreachable(String),
    /// The DS refused the request (its code and description).
    #[error("the DS refused the request: {code} {description}")]
    Refused {
        /// The DS's error code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The DS no longer knows this device: register again.
    #[error("the DS no longer knows this device")]
    RegisterAgain,
    /// The answer is not what the protocol says (size, JSON, signature, recipient, replay...).
    #[error("the DS's answer is refused: {0}")]
    BadAnswer(String),
    /// The device's files cannot be read or written.
    #[error("{0}")]
    Storage(String),
}

/// The DS at one URL.
#[derive(Debug, Clone)]
pub(crate) struct DsHttp {
    base: String,
    http: reqwest::Client,
}

impl DsHttp {
    /// A client for the DS at `url`, trusting `ca` (a PEM file) besides the public roots.
    pub(crate) fn new(url: &str, ca: Option<&Path>) -> Result<Self, DsError> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("https://") {
            return Err(DsError::Config(format!("url must be https://..., not {base:?}")));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("t1c/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca {
            let pem = std::fs::read(ca)
                .map_err(|e| DsError::Config(format!("ca_certificate {}: {e}", ca.display())))?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| DsError::Config(format!("ca_certificate {}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(|e| DsError::Config(e.to_string()))?;
        Ok(Self { base, http })
    }

    /// The DS's URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Registration, step 1: a registration token for the installation key.
    pub(crate) async fn registration_token(
        &self,
        installation_key: &str,
    ) -> Result<RegistrationToken, DsError> {
        let response = self
            .http
            .post(format!("{}/v3_5/devices/registration-tokens", self.base))
            .header("apikey", installation_key)
            .send()
            .await
            .map_err(unreachable)?;
        data(response).await
    }

    /// Registration, step 2: the signed request.
    pub(crate) async fn register(&self, jws: String) -> Result<RegistrationAnswer, DsError> {
        let response = self
            .http
            .post(format!("{}/v3_5/devices", self.base))
            .header("content-type", "application/jose")
            .body(jws)
            .send()
            .await
            .map_err(unreachable)?;
        data(response).await
    }

    /// One sync: the sealed request in, the sealed answer out.
    pub(crate) async fn sync(&self, device_id: &str, sealed: String) -> Result<String, DsError> {
        let response = self
            .http
            .post(format!("{}/v3_5/devices/{device_id}/sync", self.base))
            .header("content-type", "application/jose")
            .body(sealed)
            .send()
            .await
            .map_err(unreachable)?;
        if response.status().is_success() {
            let bytes = limited(response, MAX_ANSWER_BYTES).await?;
            return String::from_utf8(bytes).map_err(|_| DsError::BadAnswer("not text".into()));
        }
        Err(refusal(response).await)
    }

    /// A bundle file at `path` (a DS path from an assignment), at most `limit` bytes.
    pub(crate) async fn bundle(&self, path: &str, limit: u64) -> Result<Vec<u8>, DsError> {
        let well_formed = path
            .strip_prefix("/v3_5/bundles/")
            .and_then(|rest| rest.strip_suffix("/content"))
            .is_some_and(|digest| {
                digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
            });
        if !well_formed {
            return Err(DsError::BadAnswer(
                "a bundle path that is not /v3_5/bundles/<digest>/content".into(),
            ));
        }
        let response =
            self.http.get(format!("{}{path}", self.base)).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        limited(response, usize::try_from(limit).unwrap_or(usize::MAX)).await
    }
}

fn unreachable(err: reqwest::Error) -> DsError {
    DsError::Unreachable(err.without_url().to_string())
}

/// Reads at most `limit` bytes of the body.
async fn limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, DsError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(DsError::BadAnswer(format!("answer larger than {limit} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > limit {
            return Err(DsError::BadAnswer(format!("answer larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `data` of a `{success: true, data}` answer, or the refusal.
async fn data<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, DsError> {
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let bytes = limited(response, MAX_ANSWER_BYTES).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| DsError::BadAnswer(e.to_string()))?;
    serde_json::from_value(value.get("data").cloned().unwrap_or_default())
        .map_err(|e| DsError::BadAnswer(e.to_string()))
}

/// The DS's error envelope as a [`DsError`].
async fn refusal(response: reqwest::Response) -> DsError {
    let status = response.status();
    let body = limited(response, 16 * 1024).await.unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let code = value.get("code").and_then(|c| c.as_str()).unwrap_or_default().to_owned();
    if code == codes::REGISTER_AGAIN {
        return DsError::RegisterAgain;
    }
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return DsError::Unreachable(format!("HTTP {status}"));
    }
    let description: String = value
        .get("description")
        .and_then(|d| d.as_str())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    DsError::Refused { code: if code.is_empty() { status.to_string() } else { code }, description }
}
