//! Labels: the list, create, one label (application, domains, tags), its API keys (create:
//! the text is shown once, in the answer; revoke), delete.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Area, PAGE, PageQuery, action, caller, create_key_shown_once, done, frame};
use crate::api::operators::labels::{self as api, LabelChanges, NewKey, NewLabel};
use crate::api::operators::{ListQuery, organisations as organisation_api};
use crate::api::{AppState, Json};
use crate::dashboard::page::{self, Notice};
use crate::dashboard::session::{Submitted, Viewer};

/// Lines of a text area (or commas), trimmed, empty ones dropped.
fn lines(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GET /dashboard/manage/labels`
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    render_list(&state, &viewer, &query, query.notice(), StatusCode::OK).await
}

async fn organisation_options(state: &AppState, viewer: &Viewer) -> Vec<(String, String)> {
    let (s, o) = caller(state, viewer);
    let query = ListQuery { limit: Some(200), ..ListQuery::default() };
    organisation_api::list(s, o, Query(query))
        .await
        .map(|reply| reply.0.data.items.into_iter().map(|o| (o.id, o.name)).collect())
        .unwrap_or_default()
}

async fn render_list(
    state: &AppState,
    viewer: &Viewer,
    query: &PageQuery,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let offset = query.offset();
    let (s, o) = caller(state, viewer);
    let list = ListQuery {
        organisation: query.organisation.clone().filter(|o| !o.is_empty()),
        ..query.list()
    };
    let listed = match api::list(s, o, Query(list)).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let organisations = organisation_options(state, viewer).await;
    let name_of = |id: &str| {
        organisations.iter().find(|(i, _)| i == id).map_or(id.to_owned(), |(_, n)| n.clone())
    };
    let mut filter_options = vec![(String::new(), "All".to_owned())];
    filter_options.extend(organisations.iter().cloned());
    let kept = page::query_string(&[
        ("q", query.q.as_deref()),
        ("organisation", query.organisation.as_deref()),
    ]);
    let body = html! {
        form.filters method="get" action="/dashboard/manage/labels" aria-label="Search labels" {
            div { (page::select("organisation", "Organisation", &filter_options, query.organisation.as_deref())) }
            div {
                label for="q" { "Name contains" }
                input #q name="q" type="search" value=[query.q.as_deref()];
            }
            div { button type="submit" { "Search" } }
        }
        div.scroll {
            table #labels {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Application" } th scope="col" { "Organisation" }
                    th scope="col" { "Domains" } th scope="col" { "Tags" }
                } }
                tbody {
                    @for label in &listed.items {
                        tr {
                            th scope="row" { a href={ "/dashboard/manage/labels/" (label.id) } { (label.name) } }
                            td { (label.application) }
                            td { (name_of(&label.organisation_id)) }
                            td { (label.domains.join(", ")) }
                            td { (label.tags.join(", ")) }
                        }
                    }
                }
            }
        }
        (page::pager("/dashboard/manage/labels", &kept, offset, PAGE, listed.total))
        @if viewer.operator.role != crate::store::Role::Analyst {
            section aria-labelledby="new-label" {
                h2 #new-label { "New label" }
                form method="post" action="/dashboard/manage/labels" {
                    (page::csrf(viewer))
                    p { (page::select("organisation_id", "Organisation", &organisations, query.organisation.as_deref())) }
                    p {
                        label for="label-name" { "Name (a-z, 0-9, . _ -; never changes)" }
                        input #label-name name="name" type="text" required maxlength="64" pattern="[a-z0-9][a-z0-9._\\-]{0,63}";
                    }
                    p {
                        label for="label-application" { "Application name" }
                        input #label-application name="application" type="text" maxlength="128";
                    }
                    (domain_fields(&[], &[]))
                    p { button type="submit" { "Create label" } }
                }
            }
        }
    };
    frame(viewer, Area::Labels, "Labels", &notice, status, body)
}

fn domain_fields(domains: &[String], tags: &[String]) -> Markup {
    html! {
        p {
            label for="label-domains" { "Domains (origins allowed to call connectors, one per line)" }
            textarea #label-domains name="domains" rows="3" placeholder="https://shop.example" { (domains.join("\n")) }
        }
        p {
            label for="label-tags" { "Billing tags (one per line)" }
            textarea #label-tags name="tags" rows="2" { (tags.join("\n")) }
        }
    }
}

/// `POST /dashboard/manage/labels`
pub async fn create(State(state): State<AppState>, submitted: Submitted) -> Response {
    let input = NewLabel {
        organisation_id: submitted.field("organisation_id").unwrap_or_default().to_owned(),
        name: submitted.field("name").unwrap_or_default().to_owned(),
        application: submitted.field("application").map(str::to_owned),
        domains: lines(submitted.field("domains")),
        tags: lines(submitted.field("tags")),
    };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::create(s, o, Json(input)).await {
        Ok((_, reply)) => done(&format!("/dashboard/manage/labels/{}", reply.0.data.id), "created"),
        Err(err) => {
            let query = PageQuery::default();
            render_list(&state, &submitted.viewer, &query, Notice::refused(&err), err.status())
                .await
        }
    }
}

/// `GET /dashboard/manage/labels/{id}`: 404 for another organisation's, as in the API.
pub async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    render_one(&state, &viewer, &id, query.notice(), StatusCode::OK, None).await
}

async fn render_one(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    notice: Notice,
    status: StatusCode,
    new_key: Option<&str>,
) -> Response {
    let (s, o) = caller(state, viewer);
    let label = match api::one(s, o, Path(id.to_owned())).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let (s, o) = caller(state, viewer);
    let keys = match api::keys(s, o, Path(id.to_owned())).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let now = state.clock.now();
    let changes = viewer.operator.changes(&label.organisation_id);
    let base = format!("/dashboard/manage/labels/{}", label.id);
    let body = html! {
        @if let Some(key) = new_key {
            section.secret aria-labelledby="new-key" {
                h2 #new-key { "The new API key" }
                p { "Copy it now: it is shown only this once. Use it from your back end only, never in a browser." }
                p { code #api-key-text { (key) } }
            }
        }
        dl.facts {
            dt { "Name" } dd #label-name-value { (label.name) }
            dt { "Organisation" } dd { a href={ "/dashboard/manage/organisations/" (label.organisation_id) } { "open" } }
            dt { "Domains" } dd { (label.domains.join(", ")) }
            dt { "Tags" } dd { (label.tags.join(", ")) }
            dt { "Created" } dd { (page::moment(label.created_at)) }
        }
        p { a href={ "/dashboard/transactions?by=module&label=" (label.name) } { "This label's transactions" } }
        section aria-labelledby="keys-title" {
            h2 #keys-title { "API keys" }
            div.scroll {
                table #api-keys {
                    thead { tr {
                        th scope="col" { "Key" } th scope="col" { "Created" } th scope="col" { "Expires" }
                        th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for key in &keys {
                            tr data-key-id=(key.id) {
                                th scope="row" { code { (key.hint) "…" } }
                                td { (page::moment(key.created_at)) }
                                td { (key.expires_at.map(page::moment).unwrap_or_else(|| "never".into())) }
                                td.state { @if key.is_active(now) { "active" } @else if key.revoked_at.is_some() { "revoked" } @else { "expired" } }
                                td {
                                    @if changes && key.revoked_at.is_none() {
                                        (action(viewer, &format!("{base}/keys/{}/revoke", key.id), "Revoke", Some("Revoke this key? Applications using it stop working within seconds.")))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if changes {
                form method="post" action={ (base) "/keys" } {
                    (page::csrf(viewer))
                    p {
                        label for="key-days" { "Expires after (days, empty: never)" }
                        input #key-days name="expires_in_days" type="number" min="1" max="3650";
                    }
                    p { button type="submit" { "Create API key" } }
                }
            }
        }
        @if changes {
            section aria-labelledby="edit-title" {
                h2 #edit-title { "Edit" }
                form method="post" action=(base) {
                    (page::csrf(viewer))
                    p {
                        label for="label-application" { "Application name" }
                        input #label-application name="application" type="text" maxlength="128" value=(label.application);
                    }
                    (domain_fields(&label.domains, &label.tags))
                    p { button type="submit" { "Save" } }
                }
            }
            section aria-labelledby="delete-title" {
                h2 #delete-title { "Delete" }
                (action(viewer, &format!("{base}/delete"), "Delete label", Some("Delete this label and its keys? Its name is never given to another label.")))
            }
        }
    };
    let mut response = frame(viewer, Area::Labels, &label.application, &notice, status, body);
    if new_key.is_some() {
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response.into_response()
}

/// `POST /dashboard/manage/labels/{id}`: saves application, domains and tags.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let changes = LabelChanges {
        application: submitted.field("application").map(str::to_owned),
        domains: Some(lines(submitted.field("domains"))),
        tags: Some(lines(submitted.field("tags"))),
    };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::update(s, o, Path(id.clone()), Json(changes)).await {
        Ok(_) => done(&format!("/dashboard/manage/labels/{id}"), "saved"),
        Err(err) if err.status() == StatusCode::NOT_FOUND => page::refused(&err),
        Err(err) => {
            render_one(&state, &submitted.viewer, &id, Notice::refused(&err), err.status(), None)
                .await
        }
    }
}

/// `POST /dashboard/manage/labels/{id}/delete`
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::remove(s, o, Path(id.clone())).await {
        Ok(_) => done("/dashboard/manage/labels", "deleted"),
        Err(err) if err.status() == StatusCode::NOT_FOUND => page::refused(&err),
        Err(err) => {
            render_one(&state, &submitted.viewer, &id, Notice::refused(&err), err.status(), None)
                .await
        }
    }
}

/// `POST /dashboard/manage/labels/{id}/keys`: a new key, shown once in this answer.
pub async fn create_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let viewer = &submitted.viewer;
    let (s, o) = caller(&state, viewer);
    let owner = Path(id.clone());
    let made =
        create_key_shown_once(&submitted, "API key created.", |expires_in_secs| async move {
            let new = Json(NewKey { expires_in_secs });
            api::create_key(s, o, owner, new).await.map(|(_, reply)| reply.0.data.api_key)
        })
        .await;
    match made {
        Ok((notice, status, key)) => {
            render_one(&state, viewer, &id, notice, status, key.as_deref()).await
        }
        Err(refused) => refused,
    }
}

/// `POST /dashboard/manage/labels/{id}/keys/{key}/revoke`
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::revoke_key(s, o, Path((id.clone(), key))).await {
        Ok(_) => done(&format!("/dashboard/manage/labels/{id}"), "revoked"),
        Err(err) if err.status() == StatusCode::NOT_FOUND => page::refused(&err),
        Err(err) => {
            render_one(&state, &submitted.viewer, &id, Notice::refused(&err), err.status(), None)
                .await
        }
    }
}
