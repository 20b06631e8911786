//! The admin API: list, install, remove and roll back modules, and map file exchange folders,
//! while the connector runs.
//!
//! It is served only on a local channel, never on TCP, so only the local user who runs the
//! connector reaches it; a web page cannot. On Unix, a socket, `<data dir>/run/admin.sock`: the
//! `run` folder is `0700` and the socket `0600`, and every connection's peer credentials are
//! checked against the connector's own user (or root). On Windows, a named pipe whose security
//! descriptor admits only that user, remote clients rejected (see `windows.rs`). `t1c modules
//! ...` and `t1c files ...` talk to it when a connector is running.
//!
//! Routes (answers in the API envelope `{success, data}` / `{success: false, code,
//! description}`):
//! - `GET /modules`: the installed modules.
//! - `POST /modules[?pin=true]`, body = the bundle file: install it (hot swap).
//! - `DELETE /modules/{name}`: remove a module.
//! - `POST /modules/{name}/rollback`: serve the previous version again.
//! - `POST /files/list`, body `{application, entity}`: the entity's file exchange types.
//! - `POST /files/map`, body `{application, entity, type, folder}`: map a type to a folder.
//! - `POST /files/unmap`, body `{application, entity, type}`: take the folder away.
//!
//! The file exchange routes take JSON bodies, not URL segments: an application id is an origin
//! (`https://app.example.com`) or a label, and entity and type names are free text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;

use super::envelope::Reply;
use super::error::{ApiError, ErrorKind};
use crate::bundles::{InstallError, InstallOptions, Installer};
use crate::files::{MappingError, Mappings, TypeKey, TypeMapping};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as channel;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as channel;

/// Where the admin channel of a connector with data directory `data_dir` is: on Unix the
/// socket `<data dir>/run/admin.sock`, on Windows the named pipe
/// `\\.\pipe\t1c-admin-<digest of the data directory>`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    channel::endpoint(data_dir)
}

/// Removes what a stopped server at `path` leaves behind (the socket file on Unix).
pub fn remove_socket(path: &Path) {
    channel::remove(path);
}

/// Why the admin socket cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Another process answers on the socket already.
    #[error("another connector already serves the admin socket {0}")]
    InUse(PathBuf),
    /// A file operation failed.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Serves the admin API on the socket at `path` until the returned task is aborted.
///
/// # Errors
/// [`AdminError::InUse`] when a connector answers there already, [`AdminError::Io`] when the
/// socket cannot be created.
pub async fn serve(
    path: &Path,
    installer: Arc<Installer>,
    ds: Option<Arc<crate::ds::DsSync>>,
    files: Arc<Mappings>,
) -> Result<tokio::task::JoinHandle<()>, AdminError> {
    let mut listener = channel::Listener::bind(path).await?;
    let router = routes(AdminState { installer, ds, files });
    let socket = path.to_owned();
    tracing::info!(socket = %socket.display(), "admin API listening");
    Ok(tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::warn!(socket = %socket.display(), "admin socket accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let router = router.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let router = router.clone();
                        async move {
                            let request = request.map(axum::body::Body::new);
                            router.oneshot(request).await
                        }
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(err) = connection.await {
                    tracing::debug!("admin connection ended: {err}");
                }
            });
        }
    }))
}

/// What the admin routes reach.
#[derive(Clone)]
struct AdminState {
    installer: Arc<Installer>,
    ds: Option<Arc<crate::ds::DsSync>>,
    files: Arc<Mappings>,
}

fn routes(state: AdminState) -> Router {
    let largest_bundle = usize::try_from(t1c_bundle::limits::BUNDLE).unwrap_or(usize::MAX);
    Router::new()
        .route("/modules", get(list).post(install))
        .route("/modules/{name}", axum::routing::delete(remove))
        .route("/modules/{name}/rollback", post(rollback))
        .route("/ds/sync", post(ds_sync))
        .route("/files/list", post(files_list))
        .route("/files/map", post(files_map))
        .route("/files/unmap", post(files_unmap))
        .layer(DefaultBodyLimit::max(largest_bundle))
        .fallback(|| async { ApiError::new(ErrorKind::NotFound, "no such admin route") })
        .with_state(state)
}

/// `POST /ds/sync`: one DS sync now (`t1c ds sync`); answers the status after it.
async fn ds_sync(State(state): State<AdminState>) -> Response {
    let Some(ds) = state.ds else {
        return ApiError::new(ErrorKind::NotFound, "no Distribution Service configured ([ds] url)")
            .into_response();
    };
    match ds.sync_now().await {
        Ok(_) => Reply::unsigned(ds.status()).into_response(),
        Err(err) => ApiError::new(ErrorKind::DsUnreachable, err.to_string()).into_response(),
    }
}

/// A type and its folder, as the admin API answers and `t1c files` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeFolder {
    /// The web application's id: its origin, or its JWT label.
    pub application: String,
    /// The entity.
    pub entity: String,
    /// The type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The folder; `None` when the type is not mapped.
    pub folder: Option<PathBuf>,
}

impl From<TypeMapping> for TypeFolder {
    fn from(mapping: TypeMapping) -> Self {
        Self {
            application: mapping.key.application().to_owned(),
            entity: mapping.key.entity().to_owned(),
            type_name: mapping.key.type_name().to_owned(),
            folder: mapping.folder,
        }
    }
}

/// `{application, entity}`
#[derive(Debug, Deserialize)]
struct EntityRequest {
    application: String,
    entity: String,
}

/// `{application, entity, type}`
#[derive(Debug, Deserialize)]
struct TypeRequest {
    application: String,
    entity: String,
    #[serde(rename = "type")]
    type_name: String,
}

/// `{application, entity, type, folder}`
#[derive(Debug, Deserialize)]
struct MapRequest {
    #[serde(flatten)]
    key: TypeRequest,
    folder: PathBuf,
}

impl TypeRequest {
    fn key(&self) -> Result<TypeKey, MappingError> {
        TypeKey::new(&self.application, &self.entity, &self.type_name)
    }
}

async fn files_list(State(state): State<AdminState>, body: Bytes) -> Response {
    let request: EntityRequest = match parse(&body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let types = state.files.types(&request.application, &request.entity);
    Reply::unsigned(types.into_iter().map(TypeFolder::from).collect::<Vec<_>>()).into_response()
}

async fn files_map(State(state): State<AdminState>, body: Bytes) -> Response {
    let request: MapRequest = match parse(&body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    // Canonicalising the folder and saving the mappings touch the disk.
    files_blocking(move || {
        let key = request.key.key()?;
        state.files.map(&key, &request.folder).map(TypeFolder::from)
    })
    .await
}

async fn files_unmap(State(state): State<AdminState>, body: Bytes) -> Response {
    let request: TypeRequest = match parse(&body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    files_blocking(move || state.files.unmap(&request.key()?).map(TypeFolder::from)).await
}

/// A JSON request body; garbage is a bad request in the envelope.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| {
        ApiError::new(ErrorKind::BadRequest, format!("the request body is not valid: {err}"))
    })
}

/// Runs a mapping change off the async threads.
async fn files_blocking(
    operation: impl FnOnce() -> Result<TypeFolder, MappingError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(operation).await {
        Ok(Ok(data)) => Reply::unsigned(data).into_response(),
        Ok(Err(err)) => mapping_error(&err).into_response(),
        Err(_) => ApiError::new(ErrorKind::Internal, "the operation was cancelled").into_response(),
    }
}

/// The API error of a mapping failure: the caller's mistakes as such, the rest logged.
fn mapping_error(err: &MappingError) -> ApiError {
    match err {
        MappingError::InvalidKey { .. }
        | MappingError::NotAbsolute
        | MappingError::FolderMissing
        | MappingError::NotADirectory
        | MappingError::ProtectedFolder
        | MappingError::FolderNotUnicode => ApiError::new(ErrorKind::BadRequest, err.to_string()),
        MappingError::Unknown | MappingError::Unmapped => {
            ApiError::new(ErrorKind::NotFound, err.to_string())
        }
        _ => {
            tracing::error!("file exchange mappings: {err}");
            ApiError::new(ErrorKind::Internal, err.to_string())
        }
    }
}

/// `?pin=true`
#[derive(Debug, Deserialize)]
struct InstallQuery {
    #[serde(default)]
    pin: bool,
}

async fn list(State(state): State<AdminState>) -> Response {
    blocking(move || Ok(state.installer.list())).await
}

async fn install(
    State(state): State<AdminState>,
    Query(query): Query<InstallQuery>,
    body: Bytes,
) -> Response {
    blocking(move || state.installer.install(&body, InstallOptions { pin: query.pin })).await
}

async fn remove(State(state): State<AdminState>, UrlPath(name): UrlPath<String>) -> Response {
    blocking(move || state.installer.remove(&name).map(|()| true)).await
}

async fn rollback(State(state): State<AdminState>, UrlPath(name): UrlPath<String>) -> Response {
    blocking(move || state.installer.rollback(&name)).await
}

/// Runs an installer operation off the async threads (loading a component compiles it).
async fn blocking<T: Serialize + Send + 'static>(
    operation: impl FnOnce() -> Result<T, InstallError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(operation).await {
        Ok(Ok(data)) => Reply::unsigned(data).into_response(),
        Ok(Err(err)) => ApiError::from(&err).into_response(),
        Err(_) => ApiError::new(ErrorKind::Internal, "the operation was cancelled").into_response(),
    }
}

/// A client of a running connector's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    socket: PathBuf,
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminClientError {
    /// No connector answers on the socket.
    #[error("no connector answers on {path}: {source}")]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// The connect error.
        source: std::io::Error,
    },
    /// The connector refused the request.
    #[error("{description} ({code})")]
    Refused {
        /// The T1C error code.
        code: String,
        /// Why.
        description: String,
    },
    /// The exchange failed or the answer is not the API envelope.
    #[error("admin API: {0}")]
    Protocol(String),
}

impl AdminClient {
    /// A client for the socket at `socket` (see [`socket_path`]).
    pub fn new(socket: PathBuf) -> Self {
        Self { socket }
    }

    /// Sends one request and returns the answer's `data`.
    ///
    /// # Errors
    /// [`AdminClientError`].
    pub async fn request(
        &self,
        method: hyper::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<Value, AdminClientError> {
        let stream = channel::connect(&self.socket).await.map_err(|source| {
            AdminClientError::Unreachable { path: self.socket.clone(), source }
        })?;
        let protocol = |e: &dyn std::fmt::Display| AdminClientError::Protocol(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| protocol(&e))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(hyper::header::HOST, "localhost")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| protocol(&e))?;
        let response = sender.send_request(request).await.map_err(|e| protocol(&e))?;
        let bytes = response.into_body().collect().await.map_err(|e| protocol(&e))?.to_bytes();
        driver.abort();
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| protocol(&e))?;
        if answer["success"] == Value::Bool(true) {
            return Ok(answer["data"].clone());
        }
        Err(AdminClientError::Refused {
            code: answer["code"].as_str().unwrap_or("").to_owned(),
            description: answer["description"].as_str().unwrap_or("no description").to_owned(),
        })
    }
}
