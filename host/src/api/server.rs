//! The listeners: HTTPS (rustls, HTTP/1.1 and HTTP/2 by ALPN) on the configured addresses, and an
//! optional plain-HTTP loopback listener for development. Limits on header size, body size,
//! request time and concurrent connections each give a clear error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::Api;
use super::error::{ApiError, ErrorKind};
use super::host::HostCheck;
use crate::security::tls::CertificateResolver;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Listener settings, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// HTTPS addresses.
    pub https: Vec<SocketAddr>,
    /// Plain-HTTP address (development only), if any.
    pub http: Option<SocketAddr>,
    /// Header block limit in bytes.
    pub max_header_bytes: usize,
    /// Default body limit in bytes (routes may raise theirs).
    pub max_body_bytes: usize,
    /// Whole-request limit.
    pub request_timeout: Duration,
    /// Concurrent connections across listeners.
    pub max_connections: usize,
    /// Names the listeners answer for besides `localhost`, `127.0.0.1` and `[::1]`
    /// (`server.dns_names`); a request naming another host is refused (DNS rebinding).
    pub dns_names: Vec<String>,
}

/// A running server; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    https: Vec<SocketAddr>,
    http: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// The bound HTTPS addresses (with the real port when 0 was asked).
    pub fn https_addresses(&self) -> &[SocketAddr] {
        &self.https
    }

    /// The bound plain-HTTP address, if enabled.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http
    }

    /// Stops accepting connections and waits for the accept loops to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Binds every listener and starts serving `router`.
///
/// # Errors
/// A listener cannot be bound (port in use, address not available).
pub async fn start(
    api: Api,
    settings: &ServerSettings,
    certificates: Arc<CertificateResolver>,
) -> std::io::Result<RunningServer> {
    let max_body = settings.max_body_bytes;
    let router = api.map_router(|routes| routes.layer(DefaultBodyLimit::max(max_body)));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_cert_resolver(certificates);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let connections = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let (stop, _) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut https = Vec::new();
    for address in &settings.https {
        let listener = TcpListener::bind(address).await?;
        https.push(listener.local_addr()?);
        tracing::info!(address = %listener.local_addr()?, "HTTPS listening");
        let hosts = HostCheck::new(listener.local_addr()?, true, &settings.dns_names);
        tasks.spawn(accept_loop(
            listener,
            Arc::new(hosts),
            Some(acceptor.clone()),
            router.clone(),
            settings.request_timeout,
            settings.max_header_bytes,
            connections.clone(),
            stop.subscribe(),
        ));
    }
    let mut http = None;
    if let Some(address) = settings.http {
        let listener = TcpListener::bind(address).await?;
        http = Some(listener.local_addr()?);
        tracing::warn!(address = %listener.local_addr()?, "plain-HTTP development listener enabled");
        let hosts = HostCheck::new(listener.local_addr()?, false, &settings.dns_names);
        tasks.spawn(accept_loop(
            listener,
            Arc::new(hosts),
            None,
            router.clone(),
            settings.request_timeout,
            settings.max_header_bytes,
            connections.clone(),
            stop.subscribe(),
        ));
    }
    Ok(RunningServer { https, http, stop, tasks })
}

/// Adds the body limit, the request timeout and the error envelope to every route, in one
/// middleware layer (each layer costs a boxed future per request).
/// Runs one request through the router with the request timeout and the error envelope. This
/// wraps the whole router once, at the connection, instead of every route: a per-route
/// middleware layer costs an allocation and a boxed future per request.
async fn limited(
    api: Option<Api>,
    hosts: &HostCheck,
    request: Request,
    timeout: Duration,
) -> Response {
    let Some(api) = api else {
        return busy();
    };
    if !hosts.allows(&request) {
        tracing::info!(host = ?request.headers().get(axum::http::header::HOST), "request for a host this connector does not serve");
        return ApiError::new(ErrorKind::Forbidden, "this connector does not answer for that host")
            .into_response();
    }
    match tokio::time::timeout(timeout, api.handle(request)).await {
        Ok(response) => with_envelope(response),
        Err(_) => ApiError::new(
            ErrorKind::Timeout,
            format!("the request took longer than {} s", timeout.as_secs()),
        )
        .into_response(),
    }
}

/// axum's own rejections (a malformed query, an over-limit body, a wrong method) are plain
/// text; give every error the JSON envelope.
fn with_envelope(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let mut enveloped = ApiError::rejection(status).into_response();
    // Keep what the original answer said about the route (`Allow` on a 405, CORS headers).
    for (name, value) in response.headers() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            enveloped.headers_mut().append(name.clone(), value.clone());
        }
    }
    enveloped
}

#[allow(clippy::too_many_arguments)] // One listener's whole setup, passed once at start.
async fn accept_loop(
    listener: TcpListener,
    hosts: Arc<HostCheck>,
    tls: Option<TlsAcceptor>,
    router: Api,
    request_timeout: Duration,
    max_header_bytes: usize,
    connections: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let tls = tls.clone();
        let hosts = hosts.clone();
        // Over the limit, the connection still gets an answer: 503 in the envelope, then close.
        let (router, permit) = match connections.clone().try_acquire_owned() {
            Ok(permit) => (Some(router.clone()), Some(permit)),
            Err(_) => {
                tracing::warn!(%peer, "connection limit reached");
                (None, None)
            }
        };
        tokio::spawn(async move {
            let _permit = permit;
            let limits = (request_timeout, max_header_bytes);
            serve_connection(stream, peer, tls, hosts, router, limits).await;
        });
    }
}

/// The answer on a connection over the limit: 503, then close.
fn busy() -> Response {
    let mut response =
        ApiError::new(ErrorKind::Busy, "too many connections; try again").into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    hosts: Arc<HostCheck>,
    router: Option<Api>,
    (request_timeout, max_header_bytes): (Duration, usize),
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        let hosts = hosts.clone();
        async move {
            let request = request.map(axum::body::Body::new);
            Ok::<_, std::convert::Infallible>(
                limited(router, &hosts, request, request_timeout).await,
            )
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(max_header_bytes.max(8192)).keep_alive(true);
    builder.http2().max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    let result = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => builder.serve_connection(TokioIo::new(stream), service).await,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {err}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
        None => builder.serve_connection(TokioIo::new(stream), service).await,
    };
    if let Err(err) = result {
        tracing::debug!(%peer, "connection ended: {err}");
    }
}
