//! Connector versions (platform administrators): flags, installers per platform, installation
//! keys (shown once), delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use t1c_ds_protocol::platform::Os;

use super::{Area, PageQuery, action, caller, create_key_shown_once, done, frame, yes_no};
use crate::api::operators::labels::NewKey;
use crate::api::operators::versions::{self as api, InstallerInput, VersionInput};
use crate::api::{AppState, Json};
use crate::dashboard::page::{self, Notice};
use crate::dashboard::session::{Submitted, Viewer};
use crate::store::Version;

/// `GET /dashboard/manage/versions`
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Response {
    render_list(&state, &viewer, query.notice(), StatusCode::OK).await
}

async fn render_list(
    state: &AppState,
    viewer: &Viewer,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let (s, o) = caller(state, viewer);
    let versions = match api::list(s, o).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let body = html! {
        div.scroll {
            table #versions {
                thead { tr {
                    th scope="col" { "Version" } th scope="col" { "Recommended" } th scope="col" { "Mandatory" }
                    th scope="col" { "Allowed" } th scope="col" { "Installers" }
                } }
                tbody {
                    @for v in &versions {
                        tr {
                            th scope="row" { a href={ "/dashboard/manage/versions/" (v.id) } { (v.id) } }
                            td { (yes_no(v.recommended)) } td { (yes_no(v.mandatory)) } td { (yes_no(v.allowed)) }
                            td { (v.installers.iter().map(|i| i.os.to_string()).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-version" {
            h2 #new-version { "Add or replace a version" }
            (version_form(viewer, None))
        }
    };
    frame(viewer, Area::Versions, "Versions", &notice, status, body)
}

fn version_form(viewer: &Viewer, version: Option<&Version>) -> Markup {
    let flag = |f: fn(&Version) -> bool, default: bool| version.map_or(default, f);
    let source = |os: Os| {
        version.and_then(|v| v.installers.iter().find(|i| i.os == os)).map(|i| i.source.clone())
    };
    html! {
        form method="post" action="/dashboard/manage/versions" {
            (page::csrf(viewer))
            p {
                label for="version-id" { "Version (semver)" }
                @if let Some(v) = version {
                    input #version-id name="id" type="text" required readonly value=(v.id);
                } @else {
                    input #version-id name="id" type="text" required placeholder="3.8.2";
                }
            }
            fieldset {
                legend { "Policy" }
                p.check { input #version-recommended name="recommended" type="checkbox" value="1" checked[flag(|v| v.recommended, false)]; label for="version-recommended" { "Recommended (offered to older versions)" } }
                p.check { input #version-mandatory name="mandatory" type="checkbox" value="1" checked[flag(|v| v.mandatory, false)]; label for="version-mandatory" { "Mandatory (older versions must upgrade)" } }
                p.check { input #version-allowed name="allowed" type="checkbox" value="1" checked[flag(|v| v.allowed, true)]; label for="version-allowed" { "Allowed (may run)" } }
            }
            fieldset {
                legend { "Installers: a path under the installers directory, or an https URL" }
                @for os in Os::ALL {
                    p {
                        label for={ "installer-" (os) } { (os) }
                        input id={ "installer-" (os) } name={ "installer_" (os) } type="text" maxlength="1024" value=[source(os)];
                    }
                }
            }
            p { button type="submit" { "Save version" } }
        }
    }
}

/// `POST /dashboard/manage/versions`: creates or replaces a version (T1C's shape).
pub async fn put(State(state): State<AppState>, submitted: Submitted) -> Response {
    let uris = Os::ALL
        .iter()
        .filter_map(|os| {
            submitted
                .field(&format!("installer_{os}"))
                .map(|uri| InstallerInput { os: os.to_string(), uri: uri.to_owned() })
        })
        .collect();
    let input = VersionInput {
        id: submitted.field("id").unwrap_or_default().to_owned(),
        recommended: submitted.ticked("recommended"),
        mandatory: submitted.ticked("mandatory"),
        allowed: submitted.ticked("allowed"),
        uris,
    };
    let (s, o) = caller(&state, &submitted.viewer);
    match api::put(s, o, Json(input)).await {
        Ok(reply) => done(&format!("/dashboard/manage/versions/{}", reply.0.data.id), "saved"),
        Err(err) => {
            render_list(&state, &submitted.viewer, Notice::refused(&err), err.status()).await
        }
    }
}

/// `GET /dashboard/manage/versions/{id}`
pub async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
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
    let versions = match api::list(s, o).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let Some(version) = versions.iter().find(|v| v.id == id) else {
        return page::refused(&crate::api::error::ApiError::not_found("version"));
    };
    let (s, o) = caller(state, viewer);
    let keys = match api::keys(s, o, Path(id.to_owned())).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let now = state.clock.now();
    let base = format!("/dashboard/manage/versions/{}", version.id);
    let body = html! {
        @if let Some(key) = new_key {
            section.secret aria-labelledby="new-key" {
                h2 #new-key { "The new installation key" }
                p { "Copy it now: it is shown only this once. Installers carry it to register connectors." }
                p { code #installation-key-text { (key) } }
            }
        }
        (version_form(viewer, Some(version)))
        section aria-labelledby="keys-title" {
            h2 #keys-title { "Installation keys" }
            div.scroll {
                table #installation-keys {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Created" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for key in &keys {
                            tr {
                                th scope="row" { code { (key.hint) "…" } }
                                td { (page::moment(key.created_at)) }
                                td { @if key.is_active(now) { "active" } @else if key.revoked_at.is_some() { "revoked" } @else { "expired" } }
                                td { @if key.revoked_at.is_none() { (action(viewer, &format!("{base}/keys/{}/revoke", key.id), "Revoke", Some("Revoke this installation key?"))) } }
                            }
                        }
                    }
                }
            }
            form method="post" action={ (base) "/keys" } {
                (page::csrf(viewer))
                p {
                    label for="key-days" { "Expires after (days, empty: never)" }
                    input #key-days name="expires_in_days" type="number" min="1" max="3650";
                }
                p { button type="submit" { "Create installation key" } }
            }
        }
        section aria-labelledby="delete-title" {
            h2 #delete-title { "Delete" }
            (action(viewer, &format!("{base}/delete"), "Delete version", Some("Delete this version, its installers and keys?")))
        }
    };
    let title = format!("Version {}", version.id);
    frame(viewer, Area::Versions, &title, &notice, status, body)
}

/// `POST /dashboard/manage/versions/{id}/delete`
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::remove(s, o, Path(id.clone())).await {
        Ok(_) => done("/dashboard/manage/versions", "deleted"),
        Err(err) => {
            render_list(&state, &submitted.viewer, Notice::refused(&err), err.status()).await
        }
    }
}

/// `POST /dashboard/manage/versions/{id}/keys`: a new installation key, shown once.
pub async fn create_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let viewer = &submitted.viewer;
    let (s, o) = caller(&state, viewer);
    let owner = Path(id.clone());
    let made = create_key_shown_once(
        &submitted,
        "Installation key created.",
        |expires_in_secs| async move {
            let new = Json(NewKey { expires_in_secs });
            api::create_key(s, o, owner, new).await.map(|(_, reply)| reply.0.data.api_key)
        },
    )
    .await;
    match made {
        Ok((notice, status, key)) => {
            render_one(&state, viewer, &id, notice, status, key.as_deref()).await
        }
        Err(refused) => refused,
    }
}

/// `POST /dashboard/manage/versions/{id}/keys/{key}/revoke`
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::revoke_key(s, o, Path((id.clone(), key))).await {
        Ok(_) => done(&format!("/dashboard/manage/versions/{id}"), "revoked"),
        Err(err) => {
            render_one(&state, &submitted.viewer, &id, Notice::refused(&err), err.status(), None)
                .await
        }
    }
}
