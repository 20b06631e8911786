//! Publisher keys: the Ed25519 keys trusted to sign module bundles (public halves only).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{Area, PageQuery, action, caller, done, frame};
use crate::api::operators::publisher_keys::{self as api, NewPublisherKey};
use crate::api::{AppState, Json};
use crate::dashboard::page::{self, Notice};
use crate::dashboard::session::{Submitted, Viewer};

/// `GET /dashboard/manage/publisher-keys`
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    render(&state, &viewer, query.notice(), StatusCode::OK).await
}

async fn render(state: &AppState, viewer: &Viewer, notice: Notice, status: StatusCode) -> Response {
    let (s, o) = caller(state, viewer);
    let keys = match api::list(s, o).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let admin = viewer.operator.is_platform_admin();
    let body = html! {
        div.scroll {
            table #publisher-keys {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Key id" } th scope="col" { "Public key" }
                    th scope="col" { "Added" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for key in &keys {
                        tr {
                            th scope="row" { (key.name) }
                            td { code { (key.id) } }
                            td { code.wrap { (key.public_key) } }
                            td { (page::moment(key.created_at)) }
                            td { @if key.revoked_at.is_some() { "revoked" } @else { "trusted" } }
                            td {
                                @if admin && key.revoked_at.is_none() {
                                    (action(viewer, &format!("/dashboard/manage/publisher-keys/{}/revoke", key.id), "Revoke", Some("Stop trusting this key? Bundles it signed are refused from now on.")))
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            section aria-labelledby="new-key" {
                h2 #new-key { "Trust a publisher key" }
                form method="post" action="/dashboard/manage/publisher-keys" {
                    (page::csrf(viewer))
                    p {
                        label for="publisher-name" { "Publisher" }
                        input #publisher-name name="name" type="text" required maxlength="128";
                    }
                    p {
                        label for="publisher-key" { "Ed25519 public key (32 bytes, base64)" }
                        input #publisher-key name="public_key" type="text" required maxlength="44";
                    }
                    p { button type="submit" { "Trust key" } }
                }
            }
        }
    };
    frame(viewer, Area::PublisherKeys, "Publisher keys", &notice, status, body)
}

/// `POST /dashboard/manage/publisher-keys`
pub async fn create(State(state): State<AppState>, submitted: Submitted) -> Response {
    let input = NewPublisherKey {
        name: submitted.field("name").unwrap_or_default().to_owned(),
        public_key: submitted.field("public_key").unwrap_or_default().to_owned(),
    };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::create(s, o, Json(input)).await {
        Ok(_) => done("/dashboard/manage/publisher-keys", "created"),
        Err(err) => render(&state, &submitted.viewer, Notice::refused(&err), err.status()).await,
    }
}

/// `POST /dashboard/manage/publisher-keys/{id}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::revoke(s, o, Path(id)).await {
        Ok(_) => done("/dashboard/manage/publisher-keys", "revoked"),
        Err(err) => render(&state, &submitted.viewer, Notice::refused(&err), err.status()).await,
    }
}
