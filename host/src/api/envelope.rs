//! The success half of the API envelope: `{success: true, data, signature}`, where `signature`
//! is the device key's RSA-SHA256 over the compact JSON of `data`, exactly the bytes
//! `JSON.stringify(data)` gives in the browser (keys in the order sent, no floats).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::security::device_key::DeviceKey;

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    body: Value,
}

impl Reply {
    /// `data`, signed with the device key.
    pub fn signed(data: Value, key: &DeviceKey) -> Self {
        let compact = data.to_string();
        let signature = key.sign(compact.as_bytes());
        Self { body: json!({ "success": true, "data": data, "signature": signature }) }
    }

    /// `data` without a signature (`/info`, `/device-key`: read before the key is known).
    pub fn unsigned(data: Value) -> Self {
        Self { body: json!({ "success": true, "data": data }) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        Json(self.body).into_response()
    }
}
