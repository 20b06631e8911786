//! The HTTP API: routes, the `{success, data}` envelope, errors, and the HTTPS server.
//!
//! This concern turns requests into calls on the other concerns and their results into JSON.
//! It knows nothing about APDUs or card protocols.

pub mod error;
mod info;
pub mod server;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use error::{ApiError, ErrorKind};

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppInner>,
}

struct AppInner {
    info: info::InfoSource,
}

impl AppState {
    /// State for a connector listening on `port` with these CORS patterns and modules.
    pub fn new(port: u16, cors: Vec<String>, jwt_enabled: bool, modules: Vec<String>) -> Self {
        Self {
            inner: Arc::new(AppInner {
                info: info::InfoSource { port, cors, jwt_enabled, modules },
            }),
        }
    }
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new().route("/info", get(info::info)).fallback(not_found).with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "Functionality not found")
}
