//! The HTTP API: routes, the `{success, data}` envelope, errors, the request guard and the
//! HTTPS server.
//!
//! This concern turns requests into calls on the other concerns and their results into JSON.
//! It knows nothing about APDUs or card protocols.

pub mod admin;
pub mod envelope;
pub mod error;
pub mod guard;
mod host;
mod info;
mod modules;
mod openapi;
pub mod pkcs11;
mod readers;
pub mod server;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, patch};

pub use envelope::Reply;
pub use error::{ApiError, ErrorKind};

use crate::counters::{Counters, Transaction, UseCase};
use crate::pkcs11::Pkcs11Service;
use crate::readers::ReaderBackend;
use crate::security::device_key::DeviceKey;
use crate::security::policy::{LivePolicy, SecurityPolicy};
use t1c_runtime::{ModuleSet, Registry};

/// What the API is built from.
pub struct ApiConfig {
    /// The HTTPS port, as `/info` reports it.
    pub port: u16,
    /// Allowed origins and token checks; replaced at runtime by the DS sync.
    pub policy: Arc<LivePolicy>,
    /// The installation's key.
    pub device_key: DeviceKey,
    /// The installed modules; swapped at runtime when a module is installed or removed.
    pub modules: Arc<ModuleSet>,
    /// The card readers.
    pub readers: Arc<dyn ReaderBackend>,
    /// Where successful operations are counted.
    pub counters: Arc<Counters>,
    /// Whether a PIN may arrive as is, without `base64Encoded` (`[pin] accept_plain`).
    pub accept_plain_pin: bool,
    /// The Distribution Service sync, when one is configured.
    pub ds: Option<Arc<crate::ds::DsLink>>,
    /// The file exchange (its mappings are shared with the admin socket, `t1c files`).
    pub file_exchange: crate::file_exchange::FileExchange,
}

/// What every request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<ApiConfig>,
    bulk_pins: Arc<modules::BulkPins>,
    pkcs11: Option<Arc<Pkcs11Service>>,
}

impl AppState {
    /// State from its parts.
    pub fn new(config: ApiConfig) -> Self {
        Self { inner: Arc::new(config), bulk_pins: Arc::default(), pkcs11: None }
    }

    /// Serves PKCS#11 token slots (as readers, to modules, and the library configuration).
    #[must_use]
    pub fn with_pkcs11(mut self, pkcs11: Pkcs11Service) -> Self {
        self.pkcs11 = Some(Arc::new(pkcs11));
        self
    }

    fn pkcs11(&self) -> Option<&Pkcs11Service> {
        self.pkcs11.as_deref()
    }

    fn pkcs11_arc(&self) -> Option<Arc<Pkcs11Service>> {
        self.pkcs11.clone()
    }

    fn bulk_pins(&self) -> &modules::BulkPins {
        &self.bulk_pins
    }

    fn readers_arc(&self) -> Arc<dyn ReaderBackend> {
        self.inner.readers.clone()
    }

    /// Counts one successful operation (label from the token, tag from the header), durably,
    /// before the answer goes out. Operations whose use case is not a counted one are skipped.
    async fn count(
        &self,
        caller: &guard::Caller,
        module: &str,
        use_case: &str,
    ) -> Result<(), ApiError> {
        let Ok(use_case) = use_case.parse::<UseCase>() else {
            return Ok(());
        };
        let mut transaction = Transaction::today(module, use_case);
        transaction.label = caller.label.clone();
        transaction.tag = caller.tag.clone();
        let counters = self.inner.counters.clone();
        tokio::task::spawn_blocking(move || counters.record(transaction))
            .await
            .map_err(|_| ApiError::new(ErrorKind::Internal, "counting was cancelled"))?
            .map_err(|err| {
                tracing::error!("cannot count a transaction: {err}");
                ApiError::new(ErrorKind::Internal, "the transaction could not be counted")
            })
    }

    fn ds(&self) -> Option<&crate::ds::DsLink> {
        self.inner.ds.as_deref()
    }

    fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// The security policy in force now: one snapshot judges a whole request.
    fn policy(&self) -> Arc<SecurityPolicy> {
        self.inner.policy.snapshot()
    }

    fn accept_plain_pin(&self) -> bool {
        self.inner.accept_plain_pin
    }

    fn file_exchange(&self) -> &crate::file_exchange::FileExchange {
        &self.inner.file_exchange
    }

    fn device_key(&self) -> &DeviceKey {
        &self.inner.device_key
    }

    /// The modules served now: a snapshot that a concurrent install or removal does not change.
    fn modules(&self) -> Arc<Registry> {
        self.inner.modules.snapshot()
    }

    fn readers(&self) -> &dyn ReaderBackend {
        self.inner.readers.as_ref()
    }
}

/// The API: every route behind the guard. Served by [`server::start`].
#[derive(Clone)]
pub struct Api {
    router: Router,
    state: AppState,
}

impl Api {
    /// Applies `layer`-style changes to the routes (the server adds its body limit).
    pub(crate) fn map_router(self, f: impl FnOnce(Router) -> Router) -> Self {
        Self { router: f(self.router), state: self.state }
    }

    /// Answers one request: the guard (CORS, JWT), then the route.
    pub(crate) async fn handle(self, request: axum::extract::Request) -> axum::response::Response {
        guard::guarded(&self.state, self.router, request).await
    }
}

/// The API with every route behind the guard.
pub fn router(state: AppState) -> Api {
    Api { router: routes(state.clone()), state }
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/info", get(info::info))
        .route("/device-key", get(info::device_key))
        .route("/openapi.json", get(openapi::openapi))
        .route("/v3/readers", get(readers::list))
        .route("/v3/readers/{id}", get(readers::one))
        .route("/atrs", get(readers::atrs))
        .route("/ds/transactions", get(info::transactions))
        .route(
            "/v3/modules/pkcs11/apps/token/config",
            get(pkcs11::get_config).post(pkcs11::set_config),
        )
        .route("/v3/modules/pkcs11/apps/token/config/reset", patch(pkcs11::reset_config))
        .route(
            "/v3/modules/{module}/apps/{app}/readers/{reader}/{operation}",
            any(modules::reader_operation),
        )
        .route("/v3/modules/{module}/apps/{app}/{operation}", any(modules::module_operation))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "Functionality not found")
}
