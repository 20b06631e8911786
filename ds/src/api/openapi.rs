//! The OpenAPI 3.1 description, generated from the handlers' annotations and the types they
//! serialise, served at `GET /v3_5/openapi.json`; `cargo xtask test` fuzzes a running DS
//! against it.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{devices, downloads, operators, public};

/// The description.
#[derive(OpenApi)]
#[openapi(
    info(title = "T1C Distribution Service API", description = "Organisations, labels and API keys, application tokens, connector versions and installers, devices and usage."),
    paths(
        public::healthz,
        public::readyz,
        public::status,
        public::application_token,
        public::jwks,
        public::latest_version,
        public::version,
        downloads::for_browser,
        downloads::latest_for,
        downloads::version_for,
        operators::session::login,
        operators::session::logout,
        operators::platform,
        operators::organisations::list,
        operators::organisations::one,
        operators::organisations::create,
        operators::organisations::update,
        operators::organisations::remove,
        operators::labels::list,
        operators::labels::one,
        operators::labels::create,
        operators::labels::update,
        operators::labels::remove,
        operators::labels::keys,
        operators::labels::create_key,
        operators::labels::revoke_key,
        operators::versions::list,
        operators::versions::put,
        operators::versions::remove,
        operators::versions::keys,
        operators::versions::create_key,
        operators::versions::revoke_key,
        operators::publisher_keys::list,
        operators::publisher_keys::create,
        operators::publisher_keys::revoke,
        operators::keystores::list,
        operators::keystores::create,
        operators::keystores::revoke,
        operators::users::list,
        operators::users::create,
        operators::users::remove,
        operators::audit::list,
        operators::bundles::list,
        operators::bundles::one,
        operators::bundles::upload,
        operators::bundles::remove,
        operators::bundles::content,
        operators::rollouts::list,
        operators::rollouts::one,
        operators::rollouts::create,
        operators::rollouts::raise,
        operators::rollouts::pause,
        operators::rollouts::resume,
        operators::rollouts::rollback,
        devices::registration_token,
        devices::register,
        devices::sync,
        devices::list,
        devices::one,
        devices::revoke,
        devices::usage,
        devices::usage_monthly,
    ),
    components(schemas(super::error::ErrorBody, super::schema::Origin, super::schema::Tag, super::schema::PlatformName)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// `GET /v3_5/openapi.json`
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
