//! The frame every page shares (skip link, navigation, sign-out), the chart-with-its-table
//! component, messages, and the small formatters pages use. Values go into HTML through
//! [`maud`] only, which escapes them.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::assets::{self, Asset};
use super::session::{CSRF_FIELD, Viewer};
use crate::api::error::ApiError;

/// Which section of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// The overview.
    Overview,
    /// Devices.
    Devices,
    /// Transactions.
    Transactions,
    /// Management pages.
    Manage,
}

/// A line shown at the top of a page after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// Nothing to say.
    None,
    /// The change was made.
    Done(&'static str),
    /// The change was refused: the API's reason.
    Refused(String),
}

impl Notice {
    /// The notice for a `?done=` code a redirect after a change carries (fixed texts only: a
    /// link cannot make the page say something of its own).
    pub fn from_code(code: Option<&str>) -> Self {
        let text = match code {
            Some("created") => "Created.",
            Some("saved") => "Saved.",
            Some("deleted") => "Deleted.",
            Some("revoked") => "Revoked.",
            Some("uploaded") => "Uploaded.",
            Some("started") => "Rollout started.",
            Some("raised") => "Rollout raised.",
            Some("paused") => "Rollout paused.",
            Some("resumed") => "Rollout resumed.",
            Some("rolled-back") => "Rollout rolled back.",
            _ => return Notice::None,
        };
        Notice::Done(text)
    }

    /// A refusal from the API.
    pub fn refused(err: &ApiError) -> Self {
        Notice::Refused(err.description().to_owned())
    }
}

/// A full page for `viewer`: the frame around `body`.
pub fn render(
    viewer: &Viewer,
    section: Section,
    title: &str,
    notice: &Notice,
    body: Markup,
) -> Html<String> {
    let nav = [
        (Section::Overview, "/dashboard/", "Overview", true),
        (Section::Devices, "/dashboard/devices", "Devices", viewer.sees_fleet()),
        (Section::Transactions, "/dashboard/transactions", "Transactions", true),
        (Section::Manage, "/dashboard/manage", "Management", true),
    ];
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    p.brand { "T1C Distribution Service" }
                    nav aria-label="Main" {
                        ul {
                            @for (which, href, text, shown) in nav {
                                @if shown {
                                    li {
                                        @if which == section {
                                            a href=(href) aria-current="page" { (text) }
                                        } @else {
                                            a href=(href) { (text) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/dashboard/logout" {
                        (csrf(viewer))
                        span.who { (viewer.operator.actor) " (" (viewer.operator.role.as_str()) ")" }
                        button type="submit" { "Sign out" }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    @match notice {
                        Notice::None => {},
                        Notice::Done(text) => p.notice.done role="status" { (text) },
                        Notice::Refused(text) => p.notice.error role="alert" { "Refused: " (text) },
                    }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string())
}

fn head(title: &str, refresh_to: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            @if let Some(href) = refresh_to {
                meta http-equiv="refresh" content={ "0; url=" (href) };
            }
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · T1C DS" }
            link rel="stylesheet" href=(assets::url(Asset::Style));
            script src=(assets::url(Asset::Charts)) defer {}
            script src=(assets::url(Asset::Script)) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors before a session).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    bare_page(title, None, body)
}

/// A page that sends the browser on to `href` (a path of this dashboard) at once, with a link
/// for browsers that do not follow. Unlike a redirect, the next request is started by a page of
/// this site, so it carries the `SameSite=Strict` session cookie even when this page was
/// reached from another site (the OIDC issuer).
pub fn continue_to(title: &str, href: &str) -> Html<String> {
    let body = html! {
        h1 { (title) }
        p { a href=(href) { "Continue to the dashboard" } }
    };
    bare_page(title, Some(href), body)
}

fn bare_page(title: &str, refresh_to: Option<&str>, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh_to))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top { p.brand { "T1C Distribution Service" } }
                main #main tabindex="-1" { (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// A short page saying what happened, with `status`.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    message_with_link(status, title, text, ("/dashboard/", "Back to the dashboard"))
}

/// [`message`] whose link is `(href, text)`.
pub fn message_with_link(
    status: StatusCode,
    title: &str,
    text: &str,
    (href, link): (&str, &str),
) -> Response {
    let body = html! {
        h1 { (title) }
        p { (text) }
        p { a href=(href) { (link) } }
    };
    (status, bare(title, body)).into_response()
}

/// The answer to an API refusal on a page: its status and reason.
pub fn refused(err: &ApiError) -> Response {
    let status = err.status();
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Signed out",
        _ => "Refused",
    };
    message(status, title, err.description())
}

/// Any other path under `/dashboard/`.
pub async fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

/// The hidden synchronizer-token field every form carries.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf); }
}

/// How a chart draws its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChartKind {
    /// Bars, one group per row (stacked when there are several series).
    Bar,
    /// Lines, one per series, over the rows.
    Line,
    /// A doughnut of the first series.
    Doughnut,
}

impl ChartKind {
    fn as_str(self) -> &'static str {
        match self {
            ChartKind::Bar => "bar",
            ChartKind::Line => "line",
            ChartKind::Doughnut => "doughnut",
        }
    }
}

/// A chart's data: one row per category or period, one column per series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartData {
    /// The rows' heading (`Operating system`, `Month`).
    pub row_heading: String,
    /// The series' names.
    pub series: Vec<String>,
    /// Each row: its name and one value per series.
    pub rows: Vec<(String, Vec<i64>)>,
}

/// A chart (drawn by the page's script from the table) and its data table, which is the
/// accessible form of the chart and what tests read: each number also sits in `data-value`.
pub fn chart(id: &str, title: &str, kind: ChartKind, data: &ChartData) -> Markup {
    let title_id = format!("{id}-title");
    html! {
        figure.chart aria-labelledby=(title_id) {
            figcaption #(title_id) { (title) }
            @if data.rows.is_empty() {
                p.empty { "No data yet." }
            } @else {
                div.canvas {
                    canvas data-chart=(id) role="img" aria-label={ (title) " (chart; the table below holds its numbers)" } {}
                }
                details {
                    summary { "Numbers: " (title) }
                    div.scroll {
                        table #(id) data-chart-table=(id) data-kind=(kind.as_str()) {
                            caption.visually-hidden { (title) }
                            thead {
                                tr {
                                    th scope="col" { (data.row_heading) }
                                    @for series in &data.series { th scope="col" { (series) } }
                                }
                            }
                            tbody {
                                @for (name, values) in &data.rows {
                                    tr {
                                        th scope="row" { (name) }
                                        @for value in values {
                                            td data-value=(value) { (number(*value)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A number with thin groups (`12 345`).
pub fn number(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A moment as `YYYY-MM-DD HH:MM UTC`.
pub fn moment(seconds: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(at) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        ),
        Err(_) => seconds.to_string(),
    }
}

/// The UTC day of a moment, `YYYY-MM-DD`.
pub fn day(seconds: i64) -> String {
    moment(seconds).chars().take(10).collect()
}

/// A `<select>` with a label: `options` are (value, text); `selected` is the current value.
pub fn select(
    id: &str,
    label: &str,
    options: &[(String, String)],
    selected: Option<&str>,
) -> Markup {
    html! {
        label for=(id) { (label) }
        select #(id) name=(id) {
            @for (value, text) in options {
                @if Some(value.as_str()) == selected {
                    option value=(value) selected { (text) }
                } @else {
                    option value=(value) { (text) }
                }
            }
        }
    }
}

/// A pager: previous and next links keeping `query` (already encoded, without `offset`).
pub fn pager(path: &str, query: &str, offset: u32, limit: u32, total: u64) -> Markup {
    let shown_to = u64::from(offset) + u64::from(limit);
    let link = |offset: u32| {
        if query.is_empty() {
            format!("{path}?offset={offset}")
        } else {
            format!("{path}?{query}&offset={offset}")
        }
    };
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 {
                a href=(link(offset.saturating_sub(limit))) rel="prev" { "Previous" }
            }
            span { (u64::from(offset).min(total) + u64::from(total > 0)) "–" (shown_to.min(total)) " of " (total) }
            @if shown_to < total {
                a href=(link(offset.saturating_add(limit))) rel="next" { "Next" }
            }
        }
    }
}

/// A query string from pairs (values percent-encoded), empty values left out.
pub fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| (name, v)))
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(number(-1000), "-1\u{202f}000");
    }

    #[test]
    fn query_strings_encode_values() {
        assert_eq!(
            query_string(&[("a", Some("x y&z")), ("b", None), ("c", Some(""))]),
            "a=x%20y%26z"
        );
    }

    #[test]
    fn values_are_escaped() {
        let data = ChartData {
            row_heading: "<b>".into(),
            series: vec!["\"s\"".into()],
            rows: vec![("<script>alert(1)</script>".into(), vec![1])],
        };
        let html = chart("c", "t&t", ChartKind::Bar, &data).into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("t&amp;t"), "{html}");
    }
}
