//! Organisations: the list, one organisation with its labels, create, rename, delete.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{Area, PAGE, PageQuery, action, caller, done, frame};
use crate::api::Json;
use crate::api::operators::organisations::{self as api, OrganisationInput};
use crate::api::operators::{ListQuery, labels as label_api};
use crate::dashboard::page::{self, Notice};
use crate::dashboard::session::{Submitted, Viewer};

/// `GET /dashboard/manage/organisations`
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    render_list(&state, &viewer, &query, query.notice(), StatusCode::OK).await
}

use crate::api::AppState;

async fn render_list(
    state: &AppState,
    viewer: &Viewer,
    query: &PageQuery,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let offset = query.offset();
    let (s, o) = caller(state, viewer);
    let list = query.list();
    let listed = match api::list(s, o, Query(list)).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let kept = page::query_string(&[("q", query.q.as_deref())]);
    let body = html! {
        form.filters method="get" action="/dashboard/manage/organisations" aria-label="Search organisations" {
            div {
                label for="q" { "Name contains" }
                input #q name="q" type="search" value=[query.q.as_deref()];
            }
            div { button type="submit" { "Search" } }
        }
        div.scroll {
            table #organisations {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Created" } } }
                tbody {
                    @for org in &listed.items {
                        tr {
                            th scope="row" { a href={ "/dashboard/manage/organisations/" (org.id) } { (org.name) } }
                            td { (page::moment(org.created_at)) }
                        }
                    }
                }
            }
        }
        (page::pager("/dashboard/manage/organisations", &kept, offset, PAGE, listed.total))
        @if viewer.operator.is_platform_admin() {
            section aria-labelledby="new-organisation" {
                h2 #new-organisation { "New organisation" }
                form method="post" action="/dashboard/manage/organisations" {
                    (page::csrf(viewer))
                    p {
                        label for="organisation-name" { "Name" }
                        input #organisation-name name="name" type="text" required maxlength="128";
                    }
                    p { button type="submit" { "Create organisation" } }
                }
            }
        }
    };
    frame(viewer, Area::Organisations, "Organisations", &notice, status, body)
}

/// `POST /dashboard/manage/organisations`
pub async fn create(State(state): State<AppState>, submitted: Submitted) -> Response {
    let input = OrganisationInput { name: submitted.field("name").unwrap_or_default().to_owned() };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::create(s, o, Json(input)).await {
        Ok((_, reply)) => {
            done(&format!("/dashboard/manage/organisations/{}", reply.0.data.id), "created")
        }
        Err(err) => {
            render_list(
                &state,
                &submitted.viewer,
                &PageQuery::default(),
                Notice::refused(&err),
                err.status(),
            )
            .await
        }
    }
}

/// `GET /dashboard/manage/organisations/{id}`: 404 for another organisation's, as in the API.
pub async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    render_one(&state, &viewer, &id, query.notice(), StatusCode::OK).await
}

async fn render_one(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let (s, o) = caller(state, viewer);
    let org = match api::one(s, o, Path(id.to_owned())).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let (s, o) = caller(state, viewer);
    let list =
        ListQuery { limit: Some(200), organisation: Some(org.id.clone()), ..ListQuery::default() };
    let labels = match label_api::list(s, o, Query(list)).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let admin = viewer.operator.is_platform_admin();
    let body = html! {
        dl.facts {
            dt { "Id" } dd { code { (org.id) } }
            dt { "Created" } dd { (page::moment(org.created_at)) }
            dt { "Changed" } dd { (page::moment(org.updated_at)) }
        }
        h2 { "Labels" }
        @if labels.items.is_empty() {
            p { "No labels yet." }
        } @else {
            ul {
                @for label in &labels.items {
                    li { a href={ "/dashboard/manage/labels/" (label.id) } { (label.name) } " — " (label.application) }
                }
            }
        }
        p { a href={ "/dashboard/manage/labels?organisation=" (org.id) } { "Manage this organisation's labels" } }
        p { a href={ "/dashboard/transactions?by=label&organisation=" (org.id) } { "This organisation's transactions" } }
        @if admin {
            section aria-labelledby="rename" {
                h2 #rename { "Rename" }
                form method="post" action={ "/dashboard/manage/organisations/" (org.id) "/rename" } {
                    (page::csrf(viewer))
                    p {
                        label for="organisation-name" { "New name" }
                        input #organisation-name name="name" type="text" required maxlength="128" value=(org.name);
                    }
                    p { button type="submit" { "Rename" } }
                }
            }
            section aria-labelledby="delete" {
                h2 #delete { "Delete" }
                p { "Deletes the organisation with its labels, their keys and its accounts." }
                (action(viewer, &format!("/dashboard/manage/organisations/{}/delete", org.id), "Delete organisation", Some("Delete this organisation, its labels, keys and accounts?")))
            }
        }
    };
    frame(viewer, Area::Organisations, &org.name, &notice, status, body)
}

/// `POST /dashboard/manage/organisations/{id}/rename`
pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let input = OrganisationInput { name: submitted.field("name").unwrap_or_default().to_owned() };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::update(s, o, Path(id.clone()), Json(input)).await {
        Ok(_) => done(&format!("/dashboard/manage/organisations/{id}"), "saved"),
        Err(err) if err.status() == StatusCode::NOT_FOUND => page::refused(&err),
        Err(err) => {
            render_one(&state, &submitted.viewer, &id, Notice::refused(&err), err.status()).await
        }
    }
}

/// `POST /dashboard/manage/organisations/{id}/delete`
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::remove(s, o, Path(id.clone())).await {
        Ok(_) => done("/dashboard/manage/organisations", "deleted"),
        Err(err) if err.status() == StatusCode::NOT_FOUND => page::refused(&err),
        Err(err) => {
            render_one(&state, &submitted.viewer, &id, Notice::refused(&err), err.status()).await
        }
    }
}
