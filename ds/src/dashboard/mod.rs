//! The dashboard: analytics and management in the browser, served by the DS itself under
//! `/dashboard/` (and `/` redirects there).
//!
//! Server-rendered HTML ([`maud`] escapes every value it inserts) with a little JavaScript: the
//! charts (Chart.js, bundled at build time by `build.rs` and embedded, see [`assets`]) are drawn
//! from the data table printed under each of them, so what a chart shows and what the table
//! says are one thing.
//!
//! The same accounts, roles and scoping as the operators' API: a page reads and changes through
//! the operators' handlers themselves ([`crate::api::operators`]), called with the operator of
//! the session, so a role sees and changes exactly what the JSON API would let it. Sessions are
//! the API's sessions, held in an `HttpOnly`, `Secure`, `SameSite=Strict` cookie; every change
//! carries the session's synchronizer token and must come from the dashboard's own origin
//! ([`session`]). Operators of the configured OIDC issuer sign in there ([`oidc`]: authorization
//! code with PKCE) and get the same cookie. Pages are sent with a Content-Security-Policy that allows scripts from the DS
//! only.

pub mod assets;
pub mod devices;
pub mod manage;
pub mod oidc;
pub mod overview;
pub mod page;
pub mod session;
pub mod transactions;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::AppState;

/// The Content-Security-Policy of every dashboard answer: scripts, styles, images and fetches
/// from the DS only; no inline script, no framing, forms posted to the DS only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The dashboard's routes (the state is the API's).
pub fn router(max_body_bytes: usize, request_timeout: Duration) -> Router<AppState> {
    let bundle_limit = usize::try_from(t1c_bundle::limits::BUNDLE).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(overview::page))
        .route("/dashboard/login", get(session::login_form).post(session::login))
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/oidc/login", get(oidc::start))
        .route(oidc::CALLBACK_PATH, get(oidc::callback))
        .route("/dashboard/assets/{file}", get(assets::serve))
        .route("/dashboard/devices", get(devices::page))
        .route("/dashboard/transactions", get(transactions::page))
        .route("/dashboard/transactions.csv", get(transactions::csv))
        .merge(manage::router())
        .route(
            "/dashboard/manage/bundles",
            get(manage::bundles::page)
                .post(manage::bundles::upload)
                .layer(DefaultBodyLimit::max(bundle_limit.saturating_add(64 * 1024))),
        )
        .route("/dashboard/{*rest}", get(page::not_found))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            guard(request, next, request_timeout)
        }))
}

/// The request timeout, and the headers every dashboard answer carries.
async fn guard(request: Request, next: Next, timeout: Duration) -> Response {
    let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            return page::message(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "Too slow",
                "The request took too long. Try again.",
            )
            .into_response();
        }
    };
    let headers = response.headers_mut();
    headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
