//! Management: organisations, labels and their keys, versions and their installers, publisher
//! keys, bundles and rollouts, TLS keystores and the audit log. Every read and change calls the
//! operators' API handler that does it ([`crate::api::operators`]) with the session's operator,
//! so the dashboard allows, refuses, validates and audits exactly as the JSON API does.
//!
//! After a change the browser is sent back to the page (`?done=`, a fixed message); a refused
//! change renders the page again with the API's reason and status. A new key's text is shown
//! once, in the answer to the change that made it.

pub mod audit;
pub mod bundles;
pub mod keystores;
pub mod labels;
pub mod organisations;
pub mod publisher_keys;
pub mod rollouts;
pub mod versions;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, Notice, Section};
use super::session::{Submitted, Viewer};
use crate::api::error::ApiError;
use crate::api::operators::ListQuery;
use crate::api::{AppState, Operator};

/// The management routes (bundle uploads are routed by the caller, with their body limit).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/manage", get(index))
        .route(
            "/dashboard/manage/organisations",
            get(organisations::list).post(organisations::create),
        )
        .route("/dashboard/manage/organisations/{id}", get(organisations::one))
        .route("/dashboard/manage/organisations/{id}/rename", post(organisations::rename))
        .route("/dashboard/manage/organisations/{id}/delete", post(organisations::remove))
        .route("/dashboard/manage/labels", get(labels::list).post(labels::create))
        .route("/dashboard/manage/labels/{id}", get(labels::one).post(labels::update))
        .route("/dashboard/manage/labels/{id}/delete", post(labels::remove))
        .route("/dashboard/manage/labels/{id}/keys", post(labels::create_key))
        .route("/dashboard/manage/labels/{id}/keys/{key}/revoke", post(labels::revoke_key))
        .route("/dashboard/manage/versions", get(versions::list).post(versions::put))
        .route("/dashboard/manage/versions/{id}", get(versions::one))
        .route("/dashboard/manage/versions/{id}/delete", post(versions::remove))
        .route("/dashboard/manage/versions/{id}/keys", post(versions::create_key))
        .route("/dashboard/manage/versions/{id}/keys/{key}/revoke", post(versions::revoke_key))
        .route(
            "/dashboard/manage/publisher-keys",
            get(publisher_keys::list).post(publisher_keys::create),
        )
        .route("/dashboard/manage/publisher-keys/{id}/revoke", post(publisher_keys::revoke))
        .route("/dashboard/manage/bundles/{digest}/delete", post(bundles::remove))
        .route("/dashboard/manage/rollouts", get(rollouts::list).post(rollouts::create))
        .route("/dashboard/manage/rollouts/{id}/raise", post(rollouts::raise))
        .route("/dashboard/manage/rollouts/{id}/pause", post(rollouts::pause))
        .route("/dashboard/manage/rollouts/{id}/resume", post(rollouts::resume))
        .route("/dashboard/manage/rollouts/{id}/rollback", post(rollouts::rollback))
        .route("/dashboard/manage/tls-keystores", get(keystores::list).post(keystores::create))
        .route("/dashboard/manage/tls-keystores/{id}/revoke", post(keystores::revoke))
        .route("/dashboard/manage/audit", get(audit::list))
}

/// A management page: which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Area {
    /// The index.
    Index,
    /// Organisations.
    Organisations,
    /// Labels and their keys.
    Labels,
    /// Versions and their installers.
    Versions,
    /// Publisher keys.
    PublisherKeys,
    /// Bundles.
    Bundles,
    /// Rollouts.
    Rollouts,
    /// TLS keystores.
    Keystores,
    /// The audit log.
    Audit,
}

/// The areas `viewer`'s role may open: (area, path, name).
fn areas(viewer: &Viewer) -> Vec<(Area, &'static str, &'static str)> {
    let admin = viewer.operator.is_platform_admin();
    let fleet = viewer.sees_fleet();
    [
        (Area::Organisations, "/dashboard/manage/organisations", "Organisations", true),
        (Area::Labels, "/dashboard/manage/labels", "Labels and API keys", true),
        (Area::Versions, "/dashboard/manage/versions", "Versions and installers", admin),
        (Area::PublisherKeys, "/dashboard/manage/publisher-keys", "Publisher keys", true),
        (Area::Bundles, "/dashboard/manage/bundles", "Bundles", fleet),
        (Area::Rollouts, "/dashboard/manage/rollouts", "Rollouts", fleet),
        (Area::Keystores, "/dashboard/manage/tls-keystores", "TLS keystores", admin),
        (Area::Audit, "/dashboard/manage/audit", "Audit log", true),
    ]
    .into_iter()
    .filter(|(_, _, _, shown)| *shown)
    .map(|(area, path, name, _)| (area, path, name))
    .collect()
}

/// A management page in the frame, with the management sub-navigation.
pub fn frame(
    viewer: &Viewer,
    area: Area,
    title: &str,
    notice: &Notice,
    status: StatusCode,
    body: Markup,
) -> Response {
    let body = html! {
        nav.subnav aria-label="Management" {
            ul {
                @for (which, path, name) in areas(viewer) {
                    li {
                        @if which == area {
                            a href=(path) aria-current="page" { (name) }
                        } @else {
                            a href=(path) { (name) }
                        }
                    }
                }
            }
        }
        (body)
    };
    (status, page::render(viewer, Section::Manage, title, notice, body)).into_response()
}

/// The query every management page takes: the `?done=` notice, paging and search.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// The change just made.
    pub done: Option<String>,
    /// Items to skip.
    pub offset: Option<u32>,
    /// Search text.
    pub q: Option<String>,
    /// Only this organisation's objects.
    pub organisation: Option<String>,
}

/// Items per page of a management list.
pub const PAGE: u32 = 50;

impl PageQuery {
    /// The notice of `?done=`.
    pub fn notice(&self) -> Notice {
        Notice::from_code(self.done.as_deref())
    }

    /// Items to skip: 0 when not given.
    pub fn offset(&self) -> u32 {
        self.offset.unwrap_or(0)
    }

    /// The operators' API query for this page of a list: [`PAGE`] items from
    /// [`offset`](Self::offset), with the search text; no organisation filter.
    pub fn list(&self) -> ListQuery {
        ListQuery {
            offset: Some(self.offset()),
            limit: Some(PAGE),
            q: self.q.clone(),
            organisation: None,
        }
    }
}

/// Back to `path` with the fixed message for `code`.
pub fn done(path: &str, code: &str) -> Response {
    Redirect::to(&format!("{path}?done={code}")).into_response()
}

/// The handlers' state and operator for `viewer`.
pub fn caller(state: &AppState, viewer: &Viewer) -> (State<AppState>, Operator) {
    (State(state.clone()), Operator(viewer.operator.clone()))
}

/// `GET /dashboard/manage`
pub async fn index(viewer: Viewer, Query(query): Query<PageQuery>) -> Response {
    let body = html! {
        ul.cards {
            @for (_, path, name) in areas(&viewer) {
                li { a href=(path) { (name) } }
            }
        }
    };
    frame(&viewer, Area::Index, "Management", &query.notice(), StatusCode::OK, body)
}

/// A small form posting to `action` with one button (revoke, delete, pause, ...). `confirm`
/// asks before sending.
pub fn action(viewer: &Viewer, action: &str, label: &str, confirm: Option<&str>) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (page::csrf(viewer))
            button type="submit" { (label) }
        }
    }
}

/// How the owner's page is rendered after creating a key shown once: the notice, the status
/// and the new key's text (shown this once).
pub type KeyPage = (Notice, StatusCode, Option<String>);

/// Creating a key shown once (a label's API key, a version's installation key): the expiry
/// field read and the key made by `create` (its text, or the API's refusal). `Ok` says how to
/// render the owner's page: with the key's text and 201, or with the refusal and its status;
/// `Err` is the whole answer, the refusal page, for an owner that is not found (or not the
/// caller's to see).
pub async fn create_key_shown_once<F>(
    submitted: &Submitted,
    created: &'static str,
    create: impl FnOnce(Option<i64>) -> F,
) -> Result<KeyPage, Response>
where
    F: Future<Output = Result<String, ApiError>>,
{
    let expires_in_secs = match expiry(submitted) {
        Ok(expires_in_secs) => expires_in_secs,
        Err(why) => return Ok((Notice::Refused(why), StatusCode::BAD_REQUEST, None)),
    };
    match create(expires_in_secs).await {
        Ok(key) => Ok((Notice::Done(created), StatusCode::CREATED, Some(key))),
        Err(err) if err.status() == StatusCode::NOT_FOUND => Err(page::refused(&err)),
        Err(err) => Ok((Notice::refused(&err), err.status(), None)),
    }
}

/// Seconds of an "expires after (days)" field; `None` when empty, an error text when it is not a
/// number.
fn expiry(submitted: &Submitted) -> Result<Option<i64>, String> {
    match submitted.field("expires_in_days") {
        None => Ok(None),
        Some(days) => days
            .parse::<i64>()
            .map(|d| Some(d.saturating_mul(86_400)))
            .map_err(|_| "the expiry is a whole number of days".to_owned()),
    }
}

/// `Yes` or `No`.
pub fn yes_no(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}
