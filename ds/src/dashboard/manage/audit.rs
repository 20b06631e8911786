//! The audit log: who changed what, newest first, within the viewer's organisation.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{Area, PAGE, PageQuery, caller, frame};
use crate::api::AppState;
use crate::api::operators::audit as api;
use crate::dashboard::page;
use crate::dashboard::session::Viewer;

/// `GET /dashboard/manage/audit` (`q` searches the action)
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    let offset = query.offset();
    let (s, o) = caller(&state, &viewer);
    let list = query.list();
    let entries = match api::list(s, o, Query(list)).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let kept = page::query_string(&[("q", query.q.as_deref())]);
    let body = html! {
        form.filters method="get" action="/dashboard/manage/audit" aria-label="Search the audit log" {
            div {
                label for="q" { "Action contains" }
                input #q name="q" type="search" value=[query.q.as_deref()];
            }
            div { button type="submit" { "Search" } }
        }
        div.scroll {
            table #audit {
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" }
                    th scope="col" { "Object" } th scope="col" { "Detail" }
                } }
                tbody {
                    @for entry in &entries.items {
                        tr {
                            th scope="row" { (page::moment(entry.at)) }
                            td { (entry.actor) }
                            td { (entry.action) }
                            td { (entry.object_kind) " " code { (entry.object_id.chars().take(16).collect::<String>()) } }
                            td { code.wrap { (entry.detail.to_string()) } }
                        }
                    }
                }
            }
        }
        (page::pager("/dashboard/manage/audit", &kept, offset, PAGE, entries.total))
    };
    frame(&viewer, Area::Audit, "Audit log", &query.notice(), StatusCode::OK, body)
}
