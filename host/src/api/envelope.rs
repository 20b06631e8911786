//! The success half of the API envelope: `{success: true, data, signature}`, where `signature`
//! is the device key's RSA-SHA256 over the compact JSON of `data`, exactly the bytes
//! `JSON.stringify(data)` gives in the browser (keys in the order sent, no floats).
//!
//! `data` is any serialisable type; handlers send the typed answers they define (and the
//! OpenAPI document describes), never JSON built by hand.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::error::{ApiError, ErrorKind};
use crate::security::device_key::DeviceKey;

/// A successful answer, rendered once: the compact JSON of `data` is both what is signed and
/// what is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    body: String,
}

impl Reply {
    /// `data`, signed with the device key.
    ///
    /// # Errors
    /// `data` does not serialise to JSON (a map with non-string keys): a connector bug.
    pub fn signed(data: impl Serialize, key: &DeviceKey) -> Result<Self, ApiError> {
        let compact = compact_json(data)?;
        // Base64 needs no JSON escaping.
        let signature = key.sign(compact.as_bytes());
        Ok(Self {
            body: format!(r#"{{"data":{compact},"signature":"{signature}","success":true}}"#),
        })
    }

    /// `data` without a signature (`/device-key`: read before the key is known).
    ///
    /// # Errors
    /// `data` does not serialise to JSON (a map with non-string keys): a connector bug.
    pub fn unsigned(data: impl Serialize) -> Result<Self, ApiError> {
        Ok(Self { body: format!(r#"{{"data":{},"success":true}}"#, compact_json(data)?) })
    }
}

/// The compact JSON of `data`, through a [`Value`]: object keys come out sorted, as they always
/// have, whatever the field order of the type.
fn compact_json(data: impl Serialize) -> Result<String, ApiError> {
    let value: Value = serde_json::to_value(data).map_err(|err| {
        tracing::error!("cannot encode an answer: {err}");
        ApiError::new(ErrorKind::Internal, "the answer could not be encoded")
    })?;
    Ok(value.to_string())
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_reply_is_valid_json_whose_signature_covers_the_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = DeviceKey::load_or_create(&dir.path().join("k.pem")).expect("key");
        let reply =
            Reply::signed(serde_json::json!({"b": [1, "x\"y"], "a": null}), &key).expect("reply");
        let body: Value = serde_json::from_str(&reply.body).expect("valid JSON");
        assert_eq!(body["success"], true);
        let data = body["data"].to_string();
        assert!(key.verify(data.as_bytes(), body["signature"].as_str().expect("signature")));
    }
}
