//! TLS keystores for connectors' local HTTPS listener (platform administrators): upload a chain
//! and its key, list (never the key), revoke.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{Area, PageQuery, action, caller, done, frame};
use crate::api::operators::keystores::{self as api, NewKeystore, ScopeKind};
use crate::api::{AppState, Json};
use crate::dashboard::page::{self, Notice};
use crate::dashboard::session::{Submitted, Viewer};
use crate::store::KeystoreScope;

/// `GET /dashboard/manage/tls-keystores`
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    render(&state, &viewer, query.notice(), StatusCode::OK).await
}

async fn render(state: &AppState, viewer: &Viewer, notice: Notice, status: StatusCode) -> Response {
    let (s, o) = caller(state, viewer);
    let keystores = match api::list(s, o).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let scopes: Vec<(String, String)> = [
        ("default", "Every device (default)"),
        ("version", "One connector version"),
        ("organisation", "One organisation's devices"),
    ]
    .iter()
    .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
    .collect();
    let body = html! {
        div.scroll {
            table #keystores {
                thead { tr {
                    th scope="col" { "Fingerprint" } th scope="col" { "Scope" } th scope="col" { "DNS names" }
                    th scope="col" { "Expires" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for k in &keystores {
                        tr {
                            th scope="row" { code { (k.fingerprint.chars().take(16).collect::<String>()) "…" } }
                            td {
                                @match &k.scope {
                                    KeystoreScope::Default => "default",
                                    KeystoreScope::Version(v) => { "version " (v) },
                                    KeystoreScope::Organisation(o) => { "organisation " code { (o) } },
                                }
                            }
                            td { (k.dns_names.join(", ")) }
                            td { (page::moment(k.not_after)) }
                            td { @if k.revoked_at.is_some() { "revoked" } @else { "in use" } }
                            td {
                                @if k.revoked_at.is_none() {
                                    (action(viewer, &format!("/dashboard/manage/tls-keystores/{}/revoke", k.id), "Revoke", Some("Revoke this keystore? No device is sent it again.")))
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-keystore" {
            h2 #new-keystore { "Upload a keystore" }
            form method="post" action="/dashboard/manage/tls-keystores" {
                (page::csrf(viewer))
                p { (page::select("scope", "For", &scopes, Some("default"))) }
                p {
                    label for="scope-id" { "Version or organisation id (for those scopes)" }
                    input #scope-id name="scope_id" type="text" maxlength="64";
                }
                p {
                    label for="chain-pem" { "Certificate chain, leaf first (PEM)" }
                    textarea #chain-pem name="chain_pem" rows="6" required {}
                }
                p {
                    label for="key-pem" { "The leaf's private key (PEM)" }
                    textarea #key-pem name="key_pem" rows="4" required autocomplete="off" {}
                }
                p { button type="submit" { "Upload keystore" } }
            }
        }
    };
    frame(viewer, Area::Keystores, "TLS keystores", &notice, status, body)
}

/// `POST /dashboard/manage/tls-keystores`
pub async fn create(State(state): State<AppState>, submitted: Submitted) -> Response {
    let scope = match submitted.field("scope") {
        Some("version") => ScopeKind::Version,
        Some("organisation") => ScopeKind::Organisation,
        _ => ScopeKind::Default,
    };
    let input = NewKeystore {
        scope,
        scope_id: submitted.field("scope_id").map(str::to_owned),
        chain_pem: submitted.field("chain_pem").unwrap_or_default().to_owned(),
        key_pem: submitted.field("key_pem").unwrap_or_default().to_owned(),
    };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::create(s, o, Json(input)).await {
        Ok(_) => done("/dashboard/manage/tls-keystores", "uploaded"),
        Err(err) => render(&state, &submitted.viewer, Notice::refused(&err), err.status()).await,
    }
}

/// `POST /dashboard/manage/tls-keystores/{id}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::revoke(s, o, Path(id)).await {
        Ok(_) => done("/dashboard/manage/tls-keystores", "revoked"),
        Err(err) => render(&state, &submitted.viewer, Notice::refused(&err), err.status()).await,
    }
}
