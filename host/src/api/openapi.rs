//! The OpenAPI 3.1 description of the API, generated from the route annotations and the
//! schemas below, served at `GET /openapi.json`. The schemas describe exactly what the
//! handlers send; CI checks that claim with a schema-driven fuzzer against a running connector.

use axum::Json;

use super::info::__path_device_key;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The description.
#[derive(OpenApi)]
#[openapi(
    info(title = "T1C connector API", description = "Trust1Connector v3 compatible smart-card API, served on loopback."),
    paths(
        super::info::info,
        device_key,
        super::readers::list,
        super::readers::one,
        super::readers::atrs,
        super::info::device_key,
        super::info::transactions,
        super::modules::reader_operation,
        super::modules::module_operation,
        super::pkcs11::get_config,
        super::pkcs11::set_config,
        super::pkcs11::reset_config,
    ),
    components(schemas(ErrorBody, CardReader, Card, AtrEntry, InfoData)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// `GET /openapi.json`
pub(super) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// Every error: `{success: false, code, description}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// Six-digit T1C code.
    pub code: String,
    /// For developers; never holds a PIN.
    pub description: String,
}

/// A reader (`CardReader`).
#[derive(Serialize, ToSchema)]
pub struct CardReader {
    /// 16 lowercase hex characters, stable across restarts.
    pub id: String,
    /// The reader's name.
    pub name: String,
    /// Whether it has a PIN pad.
    pub pinpad: bool,
    /// The card, when one is inserted.
    pub card: Option<Card>,
}

/// A card in a reader.
#[derive(Serialize, ToSchema)]
pub struct Card {
    /// ATR, uppercase hex; empty for a PKCS#11 token.
    pub atr: String,
    /// Descriptions of the modules claiming it; for a PKCS#11 token, its label and model.
    pub description: Vec<String>,
    /// Names of the modules claiming it.
    pub modules: Vec<String>,
    /// Same as `modules` (older clients read this key).
    pub module: Vec<String>,
}

/// An ATR pattern a module claims.
#[derive(Serialize, ToSchema)]
pub struct AtrEntry {
    /// Pattern value, uppercase hex.
    pub atr: String,
    /// Pattern mask, uppercase hex.
    pub mask: String,
    /// Module name.
    pub module: String,
    /// Module description.
    #[serde(rename = "moduleDescription")]
    pub module_description: String,
}

/// The `data` of `GET /info` (T1C `InfoResponse`).
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct InfoData {
    /// Operating system.
    pub t1CInfoOS: serde_json::Value,
    /// Legacy (always empty strings).
    pub t1CInfoJava: serde_json::Value,
    /// The connector build.
    pub t1CInfoRuntime: serde_json::Value,
    /// Empty strings: no personal data is disclosed.
    pub t1CInfoUser: serde_json::Value,
    /// Modules, CORS, JWT, version.
    pub t1CInfoAPI: serde_json::Value,
}
