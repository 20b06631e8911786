//! The OpenAPI 3.1 description of the API, generated from the route annotations and the
//! schemas of the handlers, served at `GET /openapi.json`. Each schema is the type its handler
//! serialises, defined next to it, so the description cannot drift from the answers; CI checks
//! them with a schema-driven fuzzer against a running connector.
//!
//! A leaf: it reads the handlers' routes and types, and nothing reads from it but the router.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::info::{ApiInfo, InfoData, JavaInfo, OsInfo, RuntimeInfo, ServiceInfo, UserInfo};
use super::modules::token::{PinVerified, SignatureData, SupportedAlgorithms, TokenInfoData};
use super::readers::{AtrEntry, Card, CardReader};

/// The description.
#[derive(OpenApi)]
#[openapi(
    info(title = "T1C connector API", description = "Trust1Connector v3 compatible smart-card API, served on loopback."),
    paths(
        super::info::info,
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
    components(schemas(
        ErrorBody,
        CardReader,
        Card,
        AtrEntry,
        InfoData,
        OsInfo,
        JavaInfo,
        RuntimeInfo,
        UserInfo,
        ApiInfo,
        ServiceInfo,
        TokenInfoData,
        SupportedAlgorithms,
        PinVerified,
        SignatureData,
    )),
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
