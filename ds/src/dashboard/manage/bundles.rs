//! Bundles: upload a signed `.t1cm` file (checked as connectors check it), list, delete.

use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::html;

use super::{Area, PAGE, PageQuery, action, caller, done, frame};
use crate::api::AppState;
use crate::api::operators::bundles as api;
use crate::dashboard::page::{self, Notice};
use crate::dashboard::session::{self, CSRF_FIELD, Submitted, Viewer};

/// `GET /dashboard/manage/bundles`
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    render(&state, &viewer, &query, query.notice(), StatusCode::OK).await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    query: &PageQuery,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let offset = query.offset();
    let (s, o) = caller(state, viewer);
    let list = query.list();
    let bundles = match api::list(s, o, Query(list)).await {
        Ok(reply) => reply.0.data,
        Err(err) => return page::refused(&err),
    };
    let admin = viewer.operator.is_platform_admin();
    let kept = page::query_string(&[("q", query.q.as_deref())]);
    let body = html! {
        div.scroll {
            table #bundles {
                thead { tr {
                    th scope="col" { "Module" } th scope="col" { "Version" } th scope="col" { "Digest" }
                    th scope="col" { "Signer" } th scope="col" { "Size" } th scope="col" { "Uploaded" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for b in &bundles.items {
                        tr {
                            th scope="row" { (b.module) }
                            td { (b.version) }
                            td { code { (b.digest.chars().take(16).collect::<String>()) "…" } }
                            td { code { (b.signer.chars().take(16).collect::<String>()) } }
                            td { (page::number(b.size)) " bytes" }
                            td { (page::moment(b.created_at)) }
                            td {
                                @if admin {
                                    (action(viewer, &format!("/dashboard/manage/bundles/{}/delete", b.digest), "Delete", Some("Delete this bundle? A bundle a rollout uses cannot be deleted.")))
                                }
                            }
                        }
                    }
                }
            }
        }
        (page::pager("/dashboard/manage/bundles", &kept, offset, PAGE, bundles.total))
        @if admin {
            section aria-labelledby="upload-title" {
                h2 #upload-title { "Upload a bundle" }
                form method="post" action="/dashboard/manage/bundles" enctype="multipart/form-data" {
                    (page::csrf(viewer))
                    p {
                        label for="bundle-file" { "Signed bundle (.t1cm)" }
                        input #bundle-file name="bundle" type="file" accept=".t1cm" required;
                    }
                    p { button type="submit" { "Upload" } }
                }
                p { a href="/dashboard/manage/rollouts" { "Roll a bundle out" } }
            }
        }
    };
    frame(viewer, Area::Bundles, "Bundles", &notice, status, body)
}

/// `POST /dashboard/manage/bundles` (multipart: the synchronizer token, then the file).
pub async fn upload(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let viewer = match Viewer::from_request_parts(&mut parts, &state).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    if !session::same_origin(&parts) {
        return session::refusal();
    }
    let mut multipart =
        match Multipart::from_request(Request::from_parts(parts, body), &state).await {
            Ok(multipart) => multipart,
            Err(rejection) => {
                return page::message(rejection.status(), "Bad request", &rejection.body_text());
            }
        };
    let (mut token, mut file) = (None, None);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let bytes = match field.bytes().await {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        return page::message(err.status(), "Bad request", &err.body_text());
                    }
                };
                match name.as_str() {
                    CSRF_FIELD => token = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    "bundle" => file = Some(bytes),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(err) => return page::message(err.status(), "Bad request", &err.body_text()),
        }
    }
    if !session::token_matches(&viewer, token.as_deref()) {
        return session::refusal();
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        let notice = Notice::Refused("choose a bundle file".into());
        return render(&state, &viewer, &PageQuery::default(), notice, StatusCode::BAD_REQUEST)
            .await;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    let (s, o) = caller(&state, &viewer);
    match api::upload(s, o, headers, file).await {
        Ok(_) => done("/dashboard/manage/bundles", "uploaded"),
        Err(err) => {
            render(&state, &viewer, &PageQuery::default(), Notice::refused(&err), err.status())
                .await
        }
    }
}

/// `POST /dashboard/manage/bundles/{digest}/delete`
pub async fn remove(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    submitted: Submitted,
) -> Response {
    let (s, o) = caller(&state, &submitted.viewer);
    match api::remove(s, o, Path(digest)).await {
        Ok(_) => done("/dashboard/manage/bundles", "deleted"),
        Err(err) => {
            let query = PageQuery::default();
            render(&state, &submitted.viewer, &query, Notice::refused(&err), err.status()).await
        }
    }
}
