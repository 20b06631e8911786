//! The overview: connectors active in the last day, week and month, versions in use, connectors
//! whose syncs stopped, rollouts in progress, and this month's transactions.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, ChartData, ChartKind, Notice, Section};
use super::session::Viewer;
use crate::api::error::ApiError;
use crate::api::operators::{self, ListQuery};
use crate::api::{AppState, Operator};
use crate::store::{
    DeviceDimension, DeviceFilter, Month, Period, RolloutState, UsageDimension, UsageFilter,
};

/// A day, in seconds.
pub const DAY: i64 = 86_400;

/// `?done=` after a change that lands here.
#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    done: Option<String>,
}

/// `GET /dashboard/`
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<OverviewQuery>,
) -> Response {
    match body(&state, &viewer).await {
        Ok(body) => page::render(
            &viewer,
            Section::Overview,
            "Overview",
            &Notice::from_code(query.done.as_deref()),
            body,
        )
        .into_response(),
        Err(err) => page::refused(&err),
    }
}

async fn body(state: &AppState, viewer: &Viewer) -> Result<Markup, ApiError> {
    let now = state.clock.now();
    let operator = Operator(viewer.operator.clone());
    let platform = operators::platform(State(state.clone()), operator.clone()).await?.0.data;
    let month =
        Month::containing(now).ok_or_else(|| ApiError::internal("the clock is out of range"))?;
    let labels = crate::api::devices::visible_labels(state, &viewer.operator, None).await?;
    let usage = state
        .store
        .usage_totals(
            &UsageFilter { labels, from_day: month.first_day(), to_day: page::day(now) },
            UsageDimension::Module,
            Period::Month,
        )
        .await?;
    let transactions: i64 = usage.iter().map(|u| u.total).sum();
    let fleet = if viewer.sees_fleet() { Some(fleet(state, viewer, now).await?) } else { None };
    Ok(html! {
        section aria-labelledby="totals-title" {
            h2 #totals-title { "At a glance" }
            dl.tiles {
                @if let Some(fleet) = &fleet {
                    div { dt { "Connectors active in the last day" } dd #active-day data-value=(fleet.active[0]) { (page::number(fleet.active[0])) } }
                    div { dt { "… in the last week" } dd #active-week data-value=(fleet.active[1]) { (page::number(fleet.active[1])) } }
                    div { dt { "… in the last 30 days" } dd #active-month data-value=(fleet.active[2]) { (page::number(fleet.active[2])) } }
                    div { dt { "Syncs stopped (seen this month, not in the last day)" } dd #stopped data-value=(fleet.stopped) { (page::number(fleet.stopped)) } }
                    div { dt { "Blocked connectors" } dd #blocked data-value=(fleet.blocked) { (page::number(fleet.blocked)) } }
                }
                div { dt { "Transactions this month" } dd #transactions-month data-value=(transactions) { (page::number(transactions)) } }
                div { dt { "Organisations" } dd { (platform.organisations) } }
                div { dt { "Labels" } dd { (platform.labels) } }
            }
        }
        @if let Some(fleet) = fleet {
            div.grid {
                (page::chart("versions-in-use", "Connector versions in use (last 30 days)", ChartKind::Doughnut, &fleet.versions))
                (page::chart("rollouts-in-progress", "Rollouts in progress", ChartKind::Bar, &fleet.rollouts))
            }
        } @else {
            p { "Devices and rollouts are not bound to an organisation: platform administrators see them." }
        }
        (page::chart("transactions-by-module", "Transactions this month by module", ChartKind::Bar, &ChartData {
            row_heading: "Module".into(),
            series: vec!["Transactions".into()],
            rows: usage.iter().map(|u| (u.key.clone(), vec![u.total])).collect(),
        }))
    })
}

struct Fleet {
    active: [i64; 3],
    stopped: i64,
    blocked: i64,
    versions: ChartData,
    rollouts: ChartData,
}

async fn fleet(state: &AppState, viewer: &Viewer, now: i64) -> Result<Fleet, ApiError> {
    let all = DeviceFilter::default();
    let seen = state.store.devices_seen(&all, &[now - DAY, now - 7 * DAY, now - 30 * DAY]).await?;
    let count = |i: usize| i64::try_from(seen.get(i).copied().unwrap_or(0)).unwrap_or(i64::MAX);
    let month = DeviceFilter { seen_since: now - 30 * DAY, ..DeviceFilter::default() };
    let versions = state.store.device_counts(&month, DeviceDimension::Version).await?;
    let states = state.store.device_counts(&month, DeviceDimension::State).await?;
    let blocked = states.iter().find(|s| s.value == "blocked").map_or(0, |s| s.devices);
    let query = ListQuery { limit: Some(200), ..ListQuery::default() };
    let rollouts = operators::rollouts::list(
        State(state.clone()),
        Operator(viewer.operator.clone()),
        Query(query),
    )
    .await?
    .0
    .data;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(Fleet {
        active: [count(0), count(1), count(2)],
        stopped: count(2) - count(0),
        blocked: as_i64(blocked),
        versions: ChartData {
            row_heading: "Version".into(),
            series: vec!["Connectors".into()],
            rows: versions.iter().map(|v| (v.value.clone(), vec![as_i64(v.devices)])).collect(),
        },
        rollouts: ChartData {
            row_heading: "Rollout".into(),
            series: vec!["Assigned".into(), "Installed".into(), "Failed".into()],
            rows: rollouts
                .items
                .iter()
                .filter(|r| r.rollout.state == RolloutState::Active)
                .map(|r| {
                    (
                        format!("{} ({} %)", r.rollout.module, r.rollout.percent),
                        vec![
                            as_i64(r.progress.assigned),
                            as_i64(r.progress.installed),
                            as_i64(r.progress.failed),
                        ],
                    )
                })
                .collect(),
        },
    })
}
