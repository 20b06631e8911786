//! Who is looking at the dashboard, and whether a change really comes from the dashboard.
//!
//! A dashboard session is an operators' API session ([`crate::auth::Authenticator`]): the same
//! accounts, argon2id passwords, lifetime and failure budget per client address. Its bearer
//! token travels in the cookie [`COOKIE`] (`Secure; HttpOnly; SameSite=Strict; Path=/`), never
//! in a page.
//!
//! Every change ([`Submitted`]) must pass two checks before anything is read from it: it comes
//! from this origin (`Sec-Fetch-Site: same-origin`, or, from browsers that do not send that,
//! an `Origin` naming this host), and it carries the session's synchronizer token, a digest of
//! the session token that pages print in every form ([`Viewer::csrf`]). A cross-site form or
//! fetch has neither.

use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use maud::html;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::page;
use crate::api::{AppState, ClientAddress};
use crate::auth::{AuthError, Principal};

/// The session cookie. `__Host-`: the browser keeps it only when it is `Secure`, has
/// `Path=/` and no `Domain`, so no other host can set or overwrite it.
pub const COOKIE: &str = "__Host-t1c-ds-session";

/// The form field (or `X-CSRF-Token` header) carrying the synchronizer token.
pub const CSRF_FIELD: &str = "csrf";

/// The operator of the request's session.
#[derive(Clone)]
pub struct Viewer {
    /// Who they are and what they may do.
    pub operator: Principal,
    /// The session's synchronizer token, printed in every form.
    pub csrf: String,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer").field("operator", &self.operator).finish_non_exhaustive()
    }
}

impl Viewer {
    /// Whether the viewer sees devices and rollouts (platform administrators and analysts bound
    /// to no organisation, as in the operators' API).
    pub fn sees_fleet(&self) -> bool {
        self.operator.scope().is_none()
    }
}

/// The synchronizer token of a session: it cannot be computed without the session token, which
/// only the cookie holds.
fn csrf_of(token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"t1c-ds dashboard csrf\n");
    digest.update(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// The session token in the request's cookies.
fn session_token(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    cookie_value(headers, COOKIE)
}

/// The value of cookie `name` in the request, when present, not empty and at most 128 bytes.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<Zeroizing<String>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| Zeroizing::new(value.trim().to_owned()))
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// Without a live session: to the login form.
#[derive(Debug)]
pub struct NotSignedIn;

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        Redirect::to("/dashboard/login").into_response()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = session_token(&parts.headers).ok_or(NotSignedIn.into_response())?;
        let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
        match state.auth.authenticate(Some(&bearer)).await {
            Ok(operator) => Ok(Self { operator, csrf: csrf_of(&token), token }),
            Err(AuthError::Store(_) | AuthError::Unavailable(_)) => Err(page::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database or the identity provider is unavailable. Try again shortly.",
            )
            .into_response()),
            Err(_) => Err(NotSignedIn.into_response()),
        }
    }
}

/// Whether the request comes from a page of this origin: `Sec-Fetch-Site: same-origin`, else
/// an `Origin` whose host is the request's own. A request with neither is refused.
pub fn same_origin(parts: &Parts) -> bool {
    if let Some(site) = parts.headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn refused() -> Response {
    page::message(
        StatusCode::FORBIDDEN,
        "Change refused",
        "This change did not come from a page of this dashboard (or the page is older than your \
         session). Reload the page and try again.",
    )
    .into_response()
}

/// A change posted from a dashboard form: its session's operator and its fields, once the
/// origin and the synchronizer token are checked.
#[derive(Debug)]
pub struct Submitted {
    /// Who submits it.
    pub viewer: Viewer,
    fields: Vec<(String, String)>,
}

impl Submitted {
    /// The first value of field `name`, trimmed; `None` when absent or empty.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every value of field `name` (checkboxes, multiple selects).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields.iter().filter(|(n, _)| n == name).map(|(_, v)| v.trim().to_owned()).collect()
    }

    /// Whether checkbox `name` is ticked.
    pub fn ticked(&self, name: &str) -> bool {
        self.field(name).is_some()
    }
}

impl FromRequest<AppState> for Submitted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts) {
            return Err(refused());
        }
        let header_token =
            parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|rejection| {
                page::message(rejection.status(), "Bad request", &rejection.body_text())
                    .into_response()
            })?;
        let sent = header_token
            .or_else(|| fields.iter().find(|(n, _)| n == CSRF_FIELD).map(|(_, v)| v.clone()));
        if !token_matches(&viewer, sent.as_deref()) {
            return Err(refused());
        }
        Ok(Self { viewer, fields })
    }
}

/// Whether `sent` is the viewer's synchronizer token (compared in constant time).
pub fn token_matches(viewer: &Viewer, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(viewer.csrf.as_bytes())))
}

/// The refusal for a change from another origin, or whose synchronizer token is missing or
/// wrong.
pub fn refusal() -> Response {
    refused()
}

/// The session cookie holding `value` for `max_age` seconds (`""` and 0 clear it).
pub(super) fn cookie(value: &str, max_age: i64) -> HeaderValue {
    let text =
        format!("{COOKIE}={value}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
}

/// `GET /dashboard/login`: the login form.
pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, None)
}

/// The login page: the local account's form and, when the OIDC issuer is configured for the
/// dashboard, the button that signs in there.
pub(super) fn login_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    let issuer = state.auth.sign_in().map(|sign_in| sign_in.display_name());
    let body = html! {
        section.login aria-labelledby="login-title" {
            h1 #login-title { "Sign in" }
            @if let Some(error) = error {
                p.notice.error role="alert" { (error) }
            }
            form method="post" action="/dashboard/login" {
                p {
                    label for="username" { "Username" }
                    input #username name="username" type="text" autocomplete="username" required autofocus;
                }
                p {
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                }
                p { button type="submit" { "Sign in" } }
            }
            @if let Some(issuer) = issuer {
                p.or { "or" }
                p { a.button href="/dashboard/oidc/login" { "Sign in with " (issuer) } }
            }
        }
    };
    (status, page::bare("Sign in", body)).into_response()
}

/// `POST /dashboard/login`: a local account's name and password; on success the session
/// cookie and a redirect to the overview. Failures count against the client address's budget,
/// as `POST /v3_5/auth/token` does (the same limiter).
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !same_origin(&parts) {
        return refused();
    }
    if let Err(wait) = state.failures.check(&address) {
        return too_many(wait);
    }
    let request = Request::from_parts(parts, body);
    let fields = match Form::<Vec<(String, String)>>::from_request(request, &state).await {
        Ok(Form(fields)) => fields,
        Err(rejection) => {
            return page::message(rejection.status(), "Bad request", &rejection.body_text())
                .into_response();
        }
    };
    let value = |name: &str| {
        Zeroizing::new(
            fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default(),
        )
    };
    let (username, password) = (value("username"), value("password"));
    match state.auth.login(username.trim(), &password).await {
        Ok(session) => {
            let mut response = Redirect::to("/dashboard/").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, cookie(&session.token, session.expires_in));
            response
        }
        Err(AuthError::BadCredentials) => {
            if let Err(wait) = state.failures.hit(&address) {
                return too_many(wait);
            }
            tracing::info!(%address, "failed dashboard login");
            login_page(&state, StatusCode::UNAUTHORIZED, Some("Wrong username or password."))
        }
        Err(err) => {
            tracing::warn!("dashboard login: {err}");
            login_page(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Signing in is unavailable right now. Try again shortly."),
            )
        }
    }
}

/// The answer once the client address has used its sign-in budget.
pub(super) fn too_many(wait: u64) -> Response {
    let mut response = page::message(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Too many failed sign-ins from this address. Wait a minute and try again.",
    )
    .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    response
}

/// `POST /dashboard/logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, submitted: Submitted) -> Response {
    let bearer = Zeroizing::new(format!("Bearer {}", submitted.viewer.token.as_str()));
    if let Err(err) = state.auth.logout(Some(&bearer)).await {
        tracing::warn!("dashboard logout: {err}");
    }
    let mut response = Redirect::to("/dashboard/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0));
    response
}
