//! The answer shape of T1C's DS: `{"success": true, "data": ...}`, and on failure
//! `{"success": false, "code": "...", "description": "..."}`.

use serde::{Deserialize, Serialize};

/// A successful answer carrying `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Success<T> {
    /// Always true.
    pub success: bool,
    /// The payload.
    pub data: T,
}

impl<T> Success<T> {
    /// Wraps `data`.
    pub fn new(data: T) -> Self {
        Self { success: true, data }
    }
}

/// A failed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Always false.
    pub success: bool,
    /// A stable code (T1C's `XYYZZZ` scheme).
    pub code: String,
    /// For developers and operators; never holds a secret.
    pub description: String,
}
