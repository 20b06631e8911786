//! Rollouts: start one for an uploaded bundle, raise its percentage, pause, resume, roll back;
//! each with its progress (a chart and its table).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{Area, PageQuery, action, caller, done, frame};
use crate::api::operators::rollouts::{self as api, NewRollout, RaiseRollout};
use crate::api::operators::{ListQuery, bundles as bundle_api};
use crate::api::{AppState, Json};
use crate::dashboard::page::{self, ChartData, ChartKind, Notice};
use crate::dashboard::session::{Submitted, Viewer};
use crate::store::RolloutState;

/// `GET /dashboard/manage/rollouts`
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    render(&state, &viewer, query.notice(), StatusCode::OK).await
}

async fn render(state: &AppState, viewer: &Viewer, notice: Notice, status: StatusCode) -> Response {
    let (s, o) = caller(state, viewer);
    let query = ListQuery { limit: Some(200), ..ListQuery::default() };
    let rollouts = match api::list(s, o, Query(query.clone())).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let (s, o) = caller(state, viewer);
    let bundles = match bundle_api::list(s, o, Query(query)).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let admin = viewer.operator.is_platform_admin();
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let progress = ChartData {
        row_heading: "Rollout".into(),
        series: vec!["Assigned".into(), "Installed".into(), "Failed".into()],
        rows: rollouts
            .items
            .iter()
            .map(|r| {
                (
                    format!(
                        "{} {} ({} %, {})",
                        r.rollout.module,
                        short(&r.rollout.bundle),
                        r.rollout.percent,
                        r.rollout.state.as_str()
                    ),
                    vec![
                        as_i64(r.progress.assigned),
                        as_i64(r.progress.installed),
                        as_i64(r.progress.failed),
                    ],
                )
            })
            .collect(),
    };
    let bundle_options: Vec<(String, String)> = bundles
        .items
        .iter()
        .map(|b| (b.digest.clone(), format!("{} {} ({})", b.module, b.version, short(&b.digest))))
        .collect();
    let body = html! {
        (page::chart("rollout-progress", "Rollout progress (devices)", ChartKind::Bar, &progress))
        div.scroll {
            table #rollouts {
                thead { tr {
                    th scope="col" { "Module" } th scope="col" { "Bundle" } th scope="col" { "Percent" }
                    th scope="col" { "State" } th scope="col" { "Assigned" } th scope="col" { "Installed" }
                    th scope="col" { "Failed" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for r in &rollouts.items {
                        tr data-rollout=(r.rollout.id) {
                            th scope="row" { (r.rollout.module) }
                            td { code { (short(&r.rollout.bundle)) } }
                            td.percent data-value=(r.rollout.percent) { (r.rollout.percent) " %" }
                            td.state data-state=(r.rollout.state.as_str()) { (r.rollout.state.as_str()) @if let Some(why) = &r.rollout.state_reason { br; small { (why) } } }
                            td data-value=(r.progress.assigned) { (r.progress.assigned) }
                            td data-value=(r.progress.installed) { (r.progress.installed) }
                            td data-value=(r.progress.failed) { (r.progress.failed) }
                            td.actions {
                                @if admin && r.rollout.state != RolloutState::RolledBack {
                                    form.inline method="post" action={ "/dashboard/manage/rollouts/" (r.rollout.id) "/raise" } {
                                        (page::csrf(viewer))
                                        label for={ "raise-" (r.rollout.id) } { "New percent" }
                                        input.narrow id={ "raise-" (r.rollout.id) } name="percent" type="number" min=(r.rollout.percent) max="100" required;
                                        button type="submit" { "Raise" }
                                    }
                                    @if r.rollout.state == RolloutState::Active {
                                        (action(viewer, &format!("/dashboard/manage/rollouts/{}/pause", r.rollout.id), "Pause", None))
                                    } @else {
                                        (action(viewer, &format!("/dashboard/manage/rollouts/{}/resume", r.rollout.id), "Resume", None))
                                    }
                                    (action(viewer, &format!("/dashboard/manage/rollouts/{}/rollback", r.rollout.id), "Roll back", Some("Roll back for good? Its devices go back to the rollout before it.")))
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            section aria-labelledby="new-rollout" {
                h2 #new-rollout { "Start a rollout" }
                @if bundle_options.is_empty() {
                    p { "Upload a bundle first." }
                } @else {
                    form method="post" action="/dashboard/manage/rollouts" {
                        (page::csrf(viewer))
                        p { (page::select("bundle", "Bundle", &bundle_options, None)) }
                        p {
                            label for="rollout-percent" { "Percent of targeted devices to start with" }
                            input #rollout-percent name="percent" type="number" min="0" max="100" value="10" required;
                        }
                        p {
                            label for="rollout-versions" { "Connector versions (semver requirement, empty: all)" }
                            input #rollout-versions name="connector_versions" type="text" maxlength="128" placeholder=">=3.6.0, <4";
                        }
                        p {
                            label for="rollout-organisations" { "Organisation ids (one per line, empty with labels empty: every device)" }
                            textarea #rollout-organisations name="organisations" rows="2" {}
                        }
                        p {
                            label for="rollout-labels" { "Label ids (one per line)" }
                            textarea #rollout-labels name="labels" rows="2" {}
                        }
                        p {
                            label for="rollout-threshold" { "Failed installs that pause it (0: never)" }
                            input #rollout-threshold name="failure_threshold" type="number" min="0" max="1000000" value="5";
                        }
                        p { button type="submit" { "Start rollout" } }
                    }
                }
            }
        }
    };
    frame(viewer, Area::Rollouts, "Rollouts", &notice, status, body)
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

fn lines(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn percent(submitted: &Submitted) -> Result<u8, Notice> {
    submitted
        .field("percent")
        .and_then(|p| p.parse::<u8>().ok())
        .filter(|p| *p <= 100)
        .ok_or_else(|| Notice::Refused("percent is a whole number from 0 to 100".into()))
}

/// `POST /dashboard/manage/rollouts`
pub async fn create(State(state): State<AppState>, submitted: Submitted) -> Response {
    let viewer = &submitted.viewer;
    let percent = match percent(&submitted) {
        Ok(p) => p,
        Err(notice) => return render(&state, viewer, notice, StatusCode::BAD_REQUEST).await,
    };
    let failure_threshold = match submitted.field("failure_threshold").map(str::parse::<u32>) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            let notice = Notice::Refused("the failure threshold is a whole number".into());
            return render(&state, viewer, notice, StatusCode::BAD_REQUEST).await;
        }
    };
    let input = NewRollout {
        bundle: submitted.field("bundle").unwrap_or_default().to_owned(),
        connector_versions: submitted.field("connector_versions").map(str::to_owned),
        labels: lines(submitted.field("labels")),
        organisations: lines(submitted.field("organisations")),
        percent,
        failure_threshold,
    };
    let (s, o) = caller(&state, viewer);
    match api::create(s, o, Json(input)).await {
        Ok(_) => done("/dashboard/manage/rollouts", "started"),
        Err(err) => render(&state, viewer, Notice::refused(&err), err.status()).await,
    }
}

/// `POST /dashboard/manage/rollouts/{id}/raise`
pub async fn raise(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    let viewer = &submitted.viewer;
    let percent = match percent(&submitted) {
        Ok(p) => p,
        Err(notice) => return render(&state, viewer, notice, StatusCode::BAD_REQUEST).await,
    };
    let (s, o) = caller(&state, viewer);
    match api::raise(s, o, Path(id), Json(RaiseRollout { percent })).await {
        Ok(_) => done("/dashboard/manage/rollouts", "raised"),
        Err(err) => render(&state, viewer, Notice::refused(&err), err.status()).await,
    }
}

async fn transition(
    state: AppState,
    id: String,
    submitted: Submitted,
    to: &'static str,
) -> Response {
    let viewer = &submitted.viewer;
    let (s, o) = caller(&state, viewer);
    let result = match to {
        "paused" => api::pause(s, o, Path(id)).await,
        "resumed" => api::resume(s, o, Path(id)).await,
        _ => api::rollback(s, o, Path(id)).await,
    };
    match result {
        Ok(_) => done("/dashboard/manage/rollouts", to),
        Err(err) => render(&state, viewer, Notice::refused(&err), err.status()).await,
    }
}

/// `POST /dashboard/manage/rollouts/{id}/pause`
pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    transition(state, id, submitted, "paused").await
}

/// `POST /dashboard/manage/rollouts/{id}/resume`
pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    transition(state, id, submitted, "resumed").await
}

/// `POST /dashboard/manage/rollouts/{id}/rollback`
pub async fn rollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: Submitted,
) -> Response {
    transition(state, id, submitted, "rolled-back").await
}
