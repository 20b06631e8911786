//! Transactions: usage counters summed per organisation, label, module, use case or tag, over
//! months (archived months from the archive, months not yet closed from the day rows) and over
//! the days of the current month; charts, the full table, and the same table as CSV.
//!
//! Scoped exactly as `GET /v3_5/usage` is ([`crate::api::devices::visible_labels`]): an
//! organisation's operators see their organisation's labels only. Every sum is done by the
//! database ([`crate::store::Store::usage_totals`], [`crate::store::Store::archived_totals`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, ChartData, ChartKind, Notice, Section};
use super::session::Viewer;
use crate::api::error::{ApiError, ErrorKind};
use crate::api::operators::ListQuery;
use crate::api::{AppState, Operator};
use crate::auth::Principal;
use crate::store::{
    Filter, Month, MonthFilter, Paging, Period, UsageDimension, UsageFilter, UsageTotal,
};

/// The most months one report covers.
pub const MAX_MONTHS: usize = 60;
/// Series drawn in the charts; the other values are summed as "Other" (the table lists all).
const CHART_SERIES: usize = 9;

/// What to sum by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum By {
    /// The label's organisation.
    Organisation,
    /// The label.
    Label,
    /// The module.
    Module,
    /// The use case.
    UseCase,
    /// The billing tag.
    Tag,
}

impl By {
    const ALL: [By; 5] = [By::Organisation, By::Label, By::Module, By::UseCase, By::Tag];

    fn parse(text: Option<&str>) -> Self {
        match text {
            Some("organisation") => By::Organisation,
            Some("module") => By::Module,
            Some("use_case") => By::UseCase,
            Some("tag") => By::Tag,
            _ => By::Label,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            By::Organisation => "organisation",
            By::Label => "label",
            By::Module => "module",
            By::UseCase => "use_case",
            By::Tag => "tag",
        }
    }

    fn title(self) -> &'static str {
        match self {
            By::Organisation => "Organisation",
            By::Label => "Label",
            By::Module => "Module",
            By::UseCase => "Use case",
            By::Tag => "Tag",
        }
    }

    fn dimension(self) -> UsageDimension {
        match self {
            By::Organisation | By::Label => UsageDimension::Label,
            By::Module => UsageDimension::Module,
            By::UseCase => UsageDimension::UseCase,
            By::Tag => UsageDimension::Tag,
        }
    }
}

/// The report asked for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransactionsQuery {
    /// `organisation`, `label` (default), `module`, `use_case` or `tag`.
    pub by: Option<String>,
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    pub from: Option<String>,
    /// Last month, `YYYY-MM` (default: the current month).
    pub to: Option<String>,
    /// Only this organisation's labels.
    pub organisation: Option<String>,
    /// Only this label (by name).
    pub label: Option<String>,
}

/// A report: totals per month, and per day of the current month.
#[derive(Debug, Clone)]
pub struct Report {
    /// What it sums by.
    pub by: By,
    /// The months covered.
    pub months: Vec<Month>,
    /// The days of the current month covered (up to today), when it is in the range.
    pub days: Vec<String>,
    /// Totals per month and value.
    pub monthly: Vec<UsageTotal>,
    /// Totals per day of the current month and value.
    pub daily: Vec<UsageTotal>,
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Builds the report `query` asks for, as `operator` may see it.
///
/// # Errors
/// [`ApiError`] for a malformed month or range, or when the store fails.
pub async fn report(
    state: &AppState,
    operator: &Principal,
    query: &TransactionsQuery,
) -> Result<Report, ApiError> {
    let by = By::parse(query.by.as_deref());
    let now = state.clock.now();
    let current =
        Month::containing(now).ok_or_else(|| ApiError::internal("the clock is out of range"))?;
    let month = |text: &Option<String>| -> Result<Option<Month>, ApiError> {
        non_empty(text)
            .map(|t| t.parse::<Month>())
            .transpose()
            .map_err(|_| ApiError::new(ErrorKind::BadRequest, "months are written YYYY-MM"))
    };
    let to = month(&query.to)?.unwrap_or(current);
    let from = month(&query.from)?.unwrap_or_else(|| (0..11).fold(to, |m, _| m.previous()));
    let mut months = Vec::new();
    let mut at = from;
    while at <= to {
        if months.len() == MAX_MONTHS {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                format!("a report covers at most {MAX_MONTHS} months"),
            ));
        }
        months.push(at);
        at = at.next();
    }
    let labels = scope(state, operator, query).await?;
    let dimension = by.dimension();
    let closed: HashSet<Month> = state.store.closed_months().await?.into_iter().collect();
    let mut monthly = state
        .store
        .archived_totals(
            &MonthFilter {
                labels: labels.clone(),
                from_month: from.to_string(),
                to_month: to.to_string(),
            },
            dimension,
        )
        .await?;
    let open = state
        .store
        .usage_totals(
            &UsageFilter {
                labels: labels.clone(),
                from_day: from.first_day(),
                to_day: format!("{to}-31"),
            },
            dimension,
            Period::Month,
        )
        .await?;
    monthly.extend(
        open.into_iter().filter(|u| u.period.parse::<Month>().is_ok_and(|m| !closed.contains(&m))),
    );
    let (days, daily) = if from <= current && current <= to {
        let today = page::day(now);
        let daily = state
            .store
            .usage_totals(
                &UsageFilter { labels, from_day: current.first_day(), to_day: today.clone() },
                dimension,
                Period::Day,
            )
            .await?;
        let days = (1..=31)
            .map(|d| format!("{current}-{d:02}"))
            .take_while(|d| *d <= today && Month::of_day(d) == Some(current))
            .collect();
        (days, daily)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut report = Report { by, months, days, monthly, daily };
    if by == By::Organisation {
        let names = organisation_of_labels(state, operator).await?;
        report.monthly = regroup(report.monthly, &names);
        report.daily = regroup(report.daily, &names);
    } else {
        report.monthly.sort_by(|a, b| (&a.period, &a.key).cmp(&(&b.period, &b.key)));
    }
    Ok(report)
}

/// The label names the report may cover: the caller's (as for `GET /v3_5/usage`), narrowed to
/// one organisation's and one label when asked.
async fn scope(
    state: &AppState,
    operator: &Principal,
    query: &TransactionsQuery,
) -> Result<Option<Vec<String>>, ApiError> {
    let mut labels =
        crate::api::devices::visible_labels(state, operator, non_empty(&query.label)).await?;
    if let Some(organisation) = non_empty(&query.organisation) {
        let filter = ListQuery { organisation: Some(organisation), ..ListQuery::default() }
            .filter(operator)?;
        let own: HashSet<String> =
            all_labels(state, &filter).await?.into_iter().map(|(name, _)| name).collect();
        labels = Some(match labels {
            Some(visible) => visible.into_iter().filter(|l| own.contains(l)).collect(),
            None => own.into_iter().collect(),
        });
    }
    Ok(labels)
}

/// Every label matching `filter`: (name, organisation id).
async fn all_labels(state: &AppState, filter: &Filter) -> Result<Vec<(String, String)>, ApiError> {
    let mut labels = Vec::new();
    let mut offset = 0;
    loop {
        let page = state.store.labels(filter, Paging { offset, limit: Paging::MAX_LIMIT }).await?;
        labels.extend(page.items.iter().map(|l| (l.name.clone(), l.organisation_id.clone())));
        if page.items.len() < Paging::MAX_LIMIT as usize {
            return Ok(labels);
        }
        offset += Paging::MAX_LIMIT;
    }
}

/// Label name → its organisation's name, for the labels `operator` sees.
async fn organisation_of_labels(
    state: &AppState,
    operator: &Principal,
) -> Result<HashMap<String, String>, ApiError> {
    let filter = ListQuery::default().filter(operator)?;
    let mut organisations = HashMap::new();
    let mut offset = 0;
    loop {
        let page =
            state.store.organisations(&filter, Paging { offset, limit: Paging::MAX_LIMIT }).await?;
        organisations.extend(page.items.iter().map(|o| (o.id.clone(), o.name.clone())));
        if page.items.len() < Paging::MAX_LIMIT as usize {
            break;
        }
        offset += Paging::MAX_LIMIT;
    }
    Ok(all_labels(state, &filter)
        .await?
        .into_iter()
        .filter_map(|(name, org)| organisations.get(&org).map(|o| (name, o.clone())))
        .collect())
}

/// Totals by label summed again by the labels' organisation (labels deleted since: one row).
fn regroup(totals: Vec<UsageTotal>, organisation: &HashMap<String, String>) -> Vec<UsageTotal> {
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    for total in totals {
        let key =
            organisation.get(&total.key).cloned().unwrap_or_else(|| "(deleted labels)".into());
        *sums.entry((total.period, key)).or_default() += total.total;
    }
    sums.into_iter().map(|((period, key), total)| UsageTotal { period, key, total }).collect()
}

/// The values to draw: the largest ones overall, then "Other".
fn chart_series(report: &Report) -> Vec<String> {
    let mut sums: HashMap<&str, i64> = HashMap::new();
    for t in report.monthly.iter() {
        *sums.entry(&t.key).or_default() += t.total;
    }
    let mut keys: Vec<(&str, i64)> = sums.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    keys.into_iter().map(|(k, _)| k.to_owned()).collect()
}

fn over(periods: &[String], totals: &[UsageTotal], keys: &[String], heading: &str) -> ChartData {
    let shown = &keys[..keys.len().min(CHART_SERIES)];
    let other = keys.len() > CHART_SERIES;
    let mut series: Vec<String> = shown.to_vec();
    if other {
        series.push("Other".into());
    }
    if series.is_empty() {
        return ChartData { row_heading: heading.into(), series, rows: Vec::new() };
    }
    let index: HashMap<&str, usize> =
        shown.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let mut rows: Vec<(String, Vec<i64>)> =
        periods.iter().map(|p| (p.clone(), vec![0; series.len()])).collect();
    let row_of: HashMap<&str, usize> =
        periods.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
    for t in totals {
        let (Some(&row), column) = (row_of.get(t.period.as_str()), index.get(t.key.as_str()))
        else {
            continue;
        };
        let column = column.copied().unwrap_or(series.len() - 1);
        rows[row].1[column] += t.total;
    }
    ChartData { row_heading: heading.into(), series, rows }
}

/// `GET /dashboard/transactions`
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<TransactionsQuery>,
) -> Response {
    let report = match report(&state, &viewer.operator, &query).await {
        Ok(report) => report,
        Err(err) if err.status().is_client_error() => {
            let body = filters(&state, &viewer, &query, By::parse(query.by.as_deref())).await;
            return page::render(
                &viewer,
                Section::Transactions,
                "Transactions",
                &Notice::refused(&err),
                body,
            )
            .into_response();
        }
        Err(err) => return page::refused(&err),
    };
    let keys = chart_series(&report);
    let months: Vec<String> = report.months.iter().map(ToString::to_string).collect();
    let mut by_key: BTreeMap<&str, i64> = BTreeMap::new();
    for t in &report.monthly {
        *by_key.entry(&t.key).or_default() += t.total;
    }
    let mut totals: Vec<(String, Vec<i64>)> =
        by_key.into_iter().map(|(k, v)| (k.to_owned(), vec![v])).collect();
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let title = report.by.title();
    let csv_link = format!(
        "/dashboard/transactions.csv?{}",
        page::query_string(&[
            ("by", Some(report.by.as_str())),
            ("from", report.months.first().map(ToString::to_string).as_deref()),
            ("to", report.months.last().map(ToString::to_string).as_deref()),
            ("organisation", query.organisation.as_deref()),
            ("label", query.label.as_deref()),
        ])
    );
    let grand: i64 = report.monthly.iter().map(|t| t.total).sum();
    let form = filters(&state, &viewer, &query, report.by).await;
    let body = html! {
        (form)
        p #transactions-total data-value=(grand) { (page::number(grand)) " transactions from " (months.first().cloned().unwrap_or_default()) " to " (months.last().cloned().unwrap_or_default()) "." }
        p { a #csv href=(csv_link) download="transactions.csv" { "Download this table as CSV" } }
        div.grid {
            (page::chart("transactions-monthly", &format!("Per month, by {}", title.to_lowercase()), ChartKind::Bar, &over(&months, &report.monthly, &keys, "Month")))
            @if !report.days.is_empty() {
                (page::chart("transactions-daily", &format!("Per day this month, by {}", title.to_lowercase()), ChartKind::Line, &over(&report.days, &report.daily, &keys, "Day")))
            }
            (page::chart("transactions-totals", &format!("Totals by {}", title.to_lowercase()), ChartKind::Bar, &ChartData {
                row_heading: title.into(),
                series: vec!["Transactions".into()],
                rows: totals,
            }))
        }
        section aria-labelledby="transactions-table-title" {
            h2 #transactions-table-title { "All totals" }
            p {
                label for="transactions-filter" { "Filter the table" }
                input #transactions-filter type="search" data-filter-table="transactions-table";
            }
            div.scroll {
                table #transactions-table {
                    thead { tr { th scope="col" { "Period" } th scope="col" { (title) } th scope="col" { "Transactions" } } }
                    tbody {
                        @for t in report.monthly.iter().chain(report.daily.iter()) {
                            tr { th scope="row" { (t.period) } td { (t.key) } td data-value=(t.total) { (page::number(t.total)) } }
                        }
                    }
                }
            }
        }
    };
    page::render(&viewer, Section::Transactions, "Transactions", &Notice::None, body)
        .into_response()
}

async fn filters(state: &AppState, viewer: &Viewer, query: &TransactionsQuery, by: By) -> Markup {
    let dims: Vec<(String, String)> =
        By::ALL.iter().map(|b| (b.as_str().to_owned(), b.title().to_owned())).collect();
    let mut organisations = vec![(String::new(), "All".to_owned())];
    let filter = ListQuery { limit: Some(Paging::MAX_LIMIT), ..ListQuery::default() };
    if let Ok(listed) = crate::api::operators::organisations::list(
        State(state.clone()),
        Operator(viewer.operator.clone()),
        Query(filter),
    )
    .await
    {
        organisations.extend(listed.0.data.items.into_iter().map(|o| (o.id, o.name)));
    }
    html! {
        form.filters method="get" action="/dashboard/transactions" aria-label="Choose the report" {
            div { (page::select("by", "Sum by", &dims, Some(by.as_str()))) }
            div {
                label for="from" { "From month" }
                input #from name="from" type="month" placeholder="YYYY-MM" value=[non_empty(&query.from)];
            }
            div {
                label for="to" { "To month" }
                input #to name="to" type="month" placeholder="YYYY-MM" value=[non_empty(&query.to)];
            }
            div { (page::select("organisation", "Organisation", &organisations, query.organisation.as_deref())) }
            div {
                label for="label" { "Label name" }
                input #label name="label" type="text" value=[non_empty(&query.label)];
            }
            div { button type="submit" { "Show" } }
        }
    }
}

/// `GET /dashboard/transactions.csv`: the table the page shows for the same query.
pub async fn csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<TransactionsQuery>,
) -> Response {
    let report = match report(&state, &viewer.operator, &query).await {
        Ok(report) => report,
        Err(err) => return page::refused(&err),
    };
    let mut text = format!("period,{},transactions\r\n", report.by.as_str());
    for t in report.monthly.iter().chain(report.daily.iter()) {
        text.push_str(&format!("{},{},{}\r\n", cell(&t.period), cell(&t.key), t.total));
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"transactions.csv\""),
            ),
        ],
        text,
    )
        .into_response()
}

/// One CSV cell: quoted when it holds a separator, quote or line break; a leading character a
/// spreadsheet would read as a formula is neutralised with an apostrophe.
pub fn cell(value: &str) -> String {
    let mut value = value.to_owned();
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        value.insert(0, '\'');
    }
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("shop"), "shop");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-1+2"), "'-1+2");
    }
}
