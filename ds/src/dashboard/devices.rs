//! Devices: registered connectors counted by operating system, OS version, architecture,
//! connector version, state and browser (one chart each), and a filterable, paged table. Devices are not
//! bound to an organisation, so, as in the operators' API, only operators bound to none see
//! them.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::overview::DAY;
use super::page::{self, ChartData, ChartKind, Notice, Section};
use super::session::Viewer;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::store::{DeviceDimension, DeviceFilter, Paging, UNKNOWN_OS_VERSION};

/// Devices per table page.
const PAGE: u32 = 50;

/// The filters of the devices page.
#[derive(Debug, Default, Deserialize)]
pub struct DevicesQuery {
    /// `day`, `week`, `month` (default) or `all`.
    seen: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    arch: Option<String>,
    version: Option<String>,
    state: Option<String>,
    browser: Option<String>,
    offset: Option<u32>,
}

fn given(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `GET /dashboard/devices`
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DevicesQuery>,
) -> Response {
    if !viewer.sees_fleet() {
        return page::refused(&ApiError::forbidden());
    }
    let now = state.clock.now();
    let seen = query.seen.as_deref().unwrap_or("month");
    let seen_since = match seen {
        "day" => now - DAY,
        "week" => now - 7 * DAY,
        "all" => 0,
        _ => now - 30 * DAY,
    };
    let filter = DeviceFilter {
        seen_since,
        os: given(&query.os),
        os_version: given(&query.os_version),
        arch: given(&query.arch),
        version: given(&query.version),
        state: given(&query.state),
        browser: given(&query.browser),
    };
    let offset = query.offset.unwrap_or(0).min(i32::MAX as u32);
    let result = async {
        let mut counts = Vec::new();
        for by in DeviceDimension::ALL {
            counts.push((by, state.store.device_counts(&filter, by).await?));
        }
        let listed = state.store.devices_matching(&filter, Paging { offset, limit: PAGE }).await?;
        Ok::<_, crate::store::StoreError>((counts, listed))
    }
    .await;
    let (counts, listed) = match result {
        Ok(found) => found,
        Err(err) => return page::refused(&err.into()),
    };
    let options = |by: DeviceDimension| -> Vec<(String, String)> {
        let mut options = vec![(String::new(), "Any".to_owned())];
        if let Some((_, values)) = counts.iter().find(|(b, _)| *b == by) {
            options.extend(values.iter().map(|c| (c.value.clone(), c.value.clone())));
        }
        options
    };
    let chart = |by: DeviceDimension| -> ChartData {
        let values =
            counts.iter().find(|(b, _)| *b == by).map(|(_, v)| v.as_slice()).unwrap_or(&[]);
        ChartData {
            row_heading: title(by).into(),
            series: vec!["Connectors".into()],
            rows: values
                .iter()
                .map(|c| (c.value.clone(), vec![i64::try_from(c.devices).unwrap_or(i64::MAX)]))
                .collect(),
        }
    };
    let windows: Vec<(String, String)> =
        [("day", "Last day"), ("week", "Last week"), ("month", "Last 30 days"), ("all", "Ever")]
            .iter()
            .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
            .collect();
    let kept = page::query_string(&[
        ("seen", Some(seen)),
        ("os", filter.os.as_deref()),
        ("os_version", filter.os_version.as_deref()),
        ("arch", filter.arch.as_deref()),
        ("version", filter.version.as_deref()),
        ("state", filter.state.as_deref()),
        ("browser", filter.browser.as_deref()),
    ]);
    let body = html! {
        form.filters method="get" action="/dashboard/devices" aria-label="Filter devices" {
            div { (page::select("seen", "Seen in", &windows, Some(seen))) }
            div { (page::select("os", "Operating system", &options(DeviceDimension::Os), filter.os.as_deref())) }
            div { (page::select("os_version", "OS version", &options(DeviceDimension::OsVersion), filter.os_version.as_deref())) }
            div { (page::select("arch", "Architecture", &options(DeviceDimension::Arch), filter.arch.as_deref())) }
            div { (page::select("version", "Connector version", &options(DeviceDimension::Version), filter.version.as_deref())) }
            div { (page::select("state", "State", &options(DeviceDimension::State), filter.state.as_deref())) }
            div { (page::select("browser", "Browser", &options(DeviceDimension::Browser), filter.browser.as_deref())) }
            div { button type="submit" { "Apply" } }
        }
        p #devices-total data-value=(listed.total) { (page::number(i64::try_from(listed.total).unwrap_or(i64::MAX))) " connectors match." }
        div.grid {
            (page::chart("devices-by-os", "By operating system", ChartKind::Doughnut, &chart(DeviceDimension::Os)))
            (page::chart("devices-by-os-version", "By OS version", ChartKind::Bar, &chart(DeviceDimension::OsVersion)))
            (page::chart("devices-by-arch", "By architecture", ChartKind::Doughnut, &chart(DeviceDimension::Arch)))
            (page::chart("devices-by-version", "By connector version", ChartKind::Bar, &chart(DeviceDimension::Version)))
            (page::chart("devices-by-state", "By state", ChartKind::Doughnut, &chart(DeviceDimension::State)))
            (page::chart("devices-by-browser", "By browser", ChartKind::Bar, &chart(DeviceDimension::Browser)))
        }
        section aria-labelledby="device-list-title" {
            h2 #device-list-title { "Connectors" }
            p {
                label for="device-filter" { "Filter this page" }
                input #device-filter type="search" data-filter-table="device-table";
            }
            div.scroll {
                table #device-table {
                    thead { tr {
                        th scope="col" { "Device" } th scope="col" { "Version" } th scope="col" { "OS" }
                        th scope="col" { "OS version" }
                        th scope="col" { "Architecture" } th scope="col" { "State" } th scope="col" { "Browsers" }
                        th scope="col" { "Labels" } th scope="col" { "Last sync" }
                    } }
                    tbody {
                        @for device in &listed.items {
                            tr {
                                th scope="row" { code { (device.id.chars().take(12).collect::<String>()) } }
                                td { (device.version) } td { (device.os) }
                                td { (device.os_version.as_deref().unwrap_or(UNKNOWN_OS_VERSION)) }
                                td { (device.arch) } td { (device.state) }
                                td { (device.browsers.join(", ")) } td { (device.labels.join(", ")) }
                                td { (page::moment(device.last_seen)) }
                            }
                        }
                    }
                }
            }
            (page::pager("/dashboard/devices", &kept, offset, PAGE, listed.total))
        }
    };
    page::render(&viewer, Section::Devices, "Devices", &Notice::None, body).into_response()
}

fn title(by: DeviceDimension) -> &'static str {
    match by {
        DeviceDimension::Os => "Operating system",
        DeviceDimension::OsVersion => "OS version",
        DeviceDimension::Arch => "Architecture",
        DeviceDimension::Version => "Connector version",
        DeviceDimension::State => "State",
        _ => "Browser",
    }
}
