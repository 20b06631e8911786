//! Signing in to the dashboard at the OIDC issuer: the authorization code flow with PKCE.
//!
//! `GET /dashboard/oidc/login` starts a sign-in ([`crate::auth::oidc::signin`]): the sign-in's
//! nonce, code verifier and redirect URI are stored under the digest of its `state`, the
//! `state` goes into the cookie [`STATE_COOKIE`] (`SameSite=Lax`, so that the issuer's redirect
//! back, a cross-site navigation, carries it) and the browser to the issuer.
//!
//! `GET /dashboard/oidc/callback` takes the issuer's answer: the `state` must be the cookie's
//! and a stored sign-in's (taken, so it works once, and at most
//! [`LOGIN_LIFETIME_SECS`](crate::auth::oidc::signin::LOGIN_LIFETIME_SECS) old); the code is
//! exchanged with the verifier; the ID token must carry the nonce and the access token give the
//! role, as the operators' API reads it ([`crate::auth::Authenticator::open_oidc_session`]).
//! Then the operator holds the same session cookie as after a local sign-in. Every failure is a
//! page saying what to do, and counts against the client address's sign-in budget; no code,
//! token or state is logged.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::page;
use super::session::{cookie, cookie_value};
use crate::api::{AppState, ClientAddress};
use crate::auth::AuthError;
use crate::auth::oidc::signin::{LOGIN_LIFETIME_SECS, SignInError};

/// The cookie binding a sign-in's `state` to the browser that started it.
pub const STATE_COOKIE: &str = "__Host-t1c-ds-oidc";

/// Where the issuer sends the browser back to, under the DS's own URL.
pub const CALLBACK_PATH: &str = "/dashboard/oidc/callback";

fn state_cookie(value: &str, max_age: i64) -> HeaderValue {
    let text = format!(
        "{STATE_COOKIE}={value}; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}"
    );
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
}

fn digest(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

fn start_again(status: StatusCode, title: &str, text: &str) -> Response {
    let mut response =
        page::message_with_link(status, title, text, ("/dashboard/login", "Sign in again"));
    response.headers_mut().append(header::SET_COOKIE, state_cookie("", 0));
    response
}

fn unavailable() -> Response {
    start_again(
        StatusCode::SERVICE_UNAVAILABLE,
        "Identity provider unavailable",
        "The identity provider cannot be reached or did not answer as expected. Try again \
         shortly, or sign in with a local account.",
    )
}

/// The redirect URI: the configured one, else this host's callback over HTTPS (the DS serves
/// HTTPS, or plain HTTP only behind a proxy that terminates TLS). The host is the `Host`
/// header, or HTTP/2's `:authority`.
fn redirect_uri(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let sign_in = state.auth.sign_in()?;
    if let Some(url) = sign_in.redirect_url() {
        return Some(url.to_owned());
    }
    let host = match headers.get(header::HOST) {
        Some(host) => host.to_str().ok()?,
        None => uri.authority()?.as_str(),
    };
    let authority = host.parse::<axum::http::uri::Authority>().ok()?;
    (authority.as_str() == host && !host.contains('@'))
        .then(|| format!("https://{host}{CALLBACK_PATH}"))
}

/// `GET /dashboard/oidc/login`: starts a sign-in at the issuer. It needs no credentials and
/// stores a row until the callback takes it or it expires, so every start counts against the
/// client address's sign-in budget, as a failed sign-in does.
pub async fn start(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(sign_in) = state.auth.sign_in() else {
        return page::not_found().await;
    };
    if let Err(wait) = state.failures.hit(&address) {
        return super::session::too_many(wait);
    }
    let Some(redirect_uri) = redirect_uri(&state, &headers, &uri) else {
        return page::message(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The request names no usable host to come back to.",
        );
    };
    let started = match sign_in.start(&redirect_uri).await {
        Ok(started) => started,
        Err(err) => {
            tracing::warn!("dashboard OIDC sign-in cannot start: {err}");
            return unavailable();
        }
    };
    if let Err(err) = state.store.create_oidc_login(&digest(&started.state), &started.login).await {
        tracing::warn!("dashboard OIDC sign-in cannot be stored: {err}");
        return page::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The database is unavailable. Try again shortly.",
        );
    }
    let mut response = Redirect::to(&started.authorization_url).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state_cookie(&started.state, LOGIN_LIFETIME_SECS));
    response
}

/// The issuer's answer: a code, or an error, with the `state`.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /dashboard/oidc/callback`: finishes a sign-in and opens the session.
pub async fn callback(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(sign_in) = state.auth.sign_in() else {
        return page::not_found().await;
    };
    if let Err(wait) = state.failures.check(&address) {
        return super::session::too_many(wait);
    }
    let failed = |response: Response| {
        if let Err(wait) = state.failures.hit(&address) {
            return super::session::too_many(wait);
        }
        response
    };
    let bound = cookie_value(&headers, STATE_COOKIE);
    let Some(sent) = answer.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 128) else {
        return failed(start_again(
            StatusCode::BAD_REQUEST,
            "Sign-in incomplete",
            "The identity provider's answer carries no sign-in state. Start again.",
        ));
    };
    if !bound.is_some_and(|bound| bool::from(bound.as_bytes().ct_eq(sent.as_bytes()))) {
        tracing::info!(%address, "dashboard OIDC callback without its browser's state");
        return failed(start_again(
            StatusCode::BAD_REQUEST,
            "Sign-in not recognised",
            "This sign-in was not started in this browser, or it took too long. Start again.",
        ));
    }
    let login = match state.store.take_oidc_login(&digest(sent), state.clock.now()).await {
        Ok(Some(login)) => login,
        Ok(None) => {
            tracing::info!(%address, "dashboard OIDC callback for an unknown, used or expired state");
            return failed(start_again(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in was already used or has expired. Start again.",
            ));
        }
        Err(err) => {
            tracing::warn!("dashboard OIDC sign-in cannot be read: {err}");
            return page::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database is unavailable. Try again shortly.",
            );
        }
    };
    if let Some(error) = answer.error.as_deref() {
        let shown = error.len() <= 64 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        tracing::info!(%address, error = if shown { error } else { "(not an OAuth error code)" }, "the issuer did not sign the operator in");
        return start_again(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "The identity provider did not sign you in. Start again.",
        );
    }
    let Some(code) = answer.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return failed(start_again(
            StatusCode::BAD_REQUEST,
            "Sign-in incomplete",
            "The identity provider's answer carries no code. Start again.",
        ));
    };
    let tokens = match sign_in.exchange(code, &login).await {
        Ok(tokens) => tokens,
        Err(SignInError::Refused(why)) => {
            tracing::info!(%address, reason = %why, "the issuer refused the dashboard's code");
            return failed(start_again(
                StatusCode::UNAUTHORIZED,
                "Sign-in refused",
                "The identity provider refused to complete the sign-in. Start again.",
            ));
        }
        Err(err) => {
            tracing::warn!("dashboard OIDC code exchange: {err}");
            return unavailable();
        }
    };
    let session = match state.auth.open_oidc_session(&tokens, &login.nonce).await {
        Ok((session, _)) => session,
        Err(AuthError::NoRole(why)) => {
            tracing::info!(%address, reason = %why, "OIDC operator without a T1C role");
            return failed(start_again(
                StatusCode::FORBIDDEN,
                "No access",
                "You are signed in at the identity provider, but your account holds no role \
                 for this dashboard. Ask an administrator.",
            ));
        }
        Err(AuthError::Unavailable(why)) => {
            tracing::warn!("dashboard OIDC sign-in: {why}");
            return unavailable();
        }
        Err(AuthError::Store(err)) => {
            tracing::warn!("dashboard OIDC sign-in: {err}");
            return page::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database is unavailable. Try again shortly.",
            );
        }
        Err(err) => {
            tracing::info!(%address, "dashboard OIDC tokens refused: {err}");
            return failed(start_again(
                StatusCode::UNAUTHORIZED,
                "Sign-in refused",
                "The identity provider's answer could not be verified. Start again.",
            ));
        }
    };
    let mut response =
        (StatusCode::OK, page::continue_to("Signed in", "/dashboard/")).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookie(&session.token, session.expires_in));
    headers.append(header::SET_COOKIE, state_cookie("", 0));
    response
}
