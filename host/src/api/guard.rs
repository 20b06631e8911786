//! The request guard every route passes: the CORS allowlist (with Chrome's private-network
//! preflight), then the JWT check. Unlisted origins get 403 with no CORS headers at all.
//!
//! Both checks of one request use the same snapshot of the live security policy, so a policy
//! replaced mid-request never judges half of it.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorKind};

/// Request headers a page may send (what t1c-sdk-js sends, plus the usual ones).
const ALLOWED_HEADERS: &str = "authorization, content-type, accept, accept-language, x-csrf-token, \
     x-t1c-billing-tag, x-pace-pin, x-pace-can, x-requested-with";
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Routes open without a token (the SDK reads them before it has one).
const OPEN_ROUTES: [&str; 3] = ["/info", "/device-key", "/openapi.json"];
/// Headers a request carries at most once. With two, which one counts is a guess, and a proxy,
/// a browser and the connector could guess differently; such a request is refused (400).
const SINGLETON_HEADERS: [&str; 4] = ["authorization", "origin", "host", "x-t1c-billing-tag"];

/// The JWT claims of an authenticated request, for transaction counting.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The label from the token, when JWT is on.
    pub label: Option<String>,
    /// `X-T1C-BILLING-TAG`.
    pub tag: Option<String>,
}

/// Runs `request` through the guard and, when it passes, through `router`.
pub(super) async fn guarded(state: &AppState, router: Router, mut request: Request) -> Response {
    if let Some(name) = duplicated_singleton(request.headers()) {
        tracing::info!(header = name, "request with the header twice refused");
        return ApiError::new(
            ErrorKind::BadRequest,
            format!("the request has more than one {name}"),
        )
        .into_response();
    }
    let policy = state.policy();
    let origin = match request.headers().get(header::ORIGIN) {
        None => None,
        Some(value) => {
            let allowed = value.to_str().ok().and_then(|v| policy.cors().allowed(v));
            match allowed {
                Some(origin) => Some(origin.to_string()),
                None => {
                    tracing::info!(origin = ?value, "request from an origin not on the allowlist");
                    return ApiError::new(ErrorKind::Forbidden, "origin not allowed")
                        .into_response();
                }
            }
        }
    };
    if request.method() == Method::OPTIONS {
        return match origin {
            Some(origin) => preflight(&origin, request.headers()),
            None => {
                ApiError::new(ErrorKind::BadRequest, "a preflight needs an Origin").into_response()
            }
        };
    }
    let path = request.uri().path().to_owned();
    let mut caller = Caller {
        label: None,
        tag: request
            .headers()
            .get("x-t1c-billing-tag")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect()),
    };
    if let Some(verifier) = policy.jwt()
        && !OPEN_ROUTES.contains(&path.as_str())
    {
        let authorization =
            request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        match verifier.verify_header(authorization) {
            Ok(claims) => {
                // A label's token only from its own application's pages (under a DS, which
                // knows each label's domains): a token lifted from one application and replayed
                // from another allowlisted page is refused.
                if let (Some(label), Some(origin)) = (claims.label(), &origin)
                    && !policy.labels().allows(label, origin)
                {
                    tracing::info!(%path, label, origin, "a token used from another application's page");
                    let mut response = ApiError::new(
                        ErrorKind::Forbidden,
                        "this token was issued for another application's origin",
                    )
                    .into_response();
                    add_cors(response.headers_mut(), origin);
                    return response;
                }
                caller.label = claims.label().map(str::to_owned);
            }
            Err(reason) => {
                tracing::info!(%path, "unauthorized: {reason}");
                let mut response = ApiError::from(&reason).into_response();
                if let Some(origin) = &origin {
                    add_cors(response.headers_mut(), origin);
                }
                return response;
            }
        }
    }
    if let Some(ds) = state.ds() {
        let agent = request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        ds.note_call(caller.label.as_deref(), agent);
        if path.starts_with("/v3/modules/")
            && let Some(refusal) = ds.refusal()
        {
            let mut response = refused_by_ds(&refusal).into_response();
            if let Some(origin) = &origin {
                add_cors(response.headers_mut(), origin);
            }
            return response;
        }
    }
    request.extensions_mut().insert(caller);
    let mut response = match tower::ServiceExt::oneshot(router, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if let Some(origin) = &origin {
        add_cors(response.headers_mut(), origin);
    }
    response
}

/// The answer to a module call the DS's verdict refuses.
fn refused_by_ds(refusal: &crate::ds::Refusal) -> ApiError {
    match refusal {
        crate::ds::Refusal::UpgradeRequired { latest, download } => ApiError::new(
            ErrorKind::UpgradeRequired,
            format!(
                "this connector must be upgraded{}{}",
                latest.as_ref().map(|v| format!(" to {v}")).unwrap_or_default(),
                download.as_ref().map(|d| format!(": download it from {d}")).unwrap_or_default()
            ),
        ),
        crate::ds::Refusal::DsUnreachable { failures } => ApiError::new(
            ErrorKind::DsUnreachable,
            format!(
                "the connector could not reach its Distribution Service ({failures} syncs in a \
                 row); module calls resume after the next successful sync"
            ),
        ),
    }
}

fn preflight(origin: &str, request: &HeaderMap) -> Response {
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    add_cors(headers, origin);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    let private_network = request
        .get("access-control-request-private-network")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    if private_network {
        headers.insert("access-control-allow-private-network", HeaderValue::from_static("true"));
    }
    response
}

fn add_cors(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The first of [`SINGLETON_HEADERS`] that `headers` holds more than once.
fn duplicated_singleton(headers: &HeaderMap) -> Option<&'static str> {
    SINGLETON_HEADERS.into_iter().find(|name| headers.get_all(*name).iter().nth(1).is_some())
}
