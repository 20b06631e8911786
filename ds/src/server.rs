//! The listeners: HTTPS through rustls (HTTP/1.1 and HTTP/2 by ALPN), or plain HTTP when the
//! DS runs behind a TLS-terminating proxy. TLS handshakes run in their own tasks with a
//! deadline, so a slow client never holds up the accept loop. Shutdown stops accepting, lets
//! open requests finish for a grace period, then closes what is left.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server to take them.
const ACCEPT_QUEUE: usize = 1024;

/// A listener whose connections arrive with their TLS handshake done.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts TCP connections on `listener` and completes their handshakes with `tls`.
    pub fn new(listener: TcpListener, tls: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(ACCEPT_QUEUE);
        let acceptor = TlsAcceptor::from(tls);
        tokio::spawn(async move {
            loop {
                // The server dropping its end (shutdown) closes the port at once.
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = sender.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = sender.send((stream, peer)).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task ended: no connection will ever come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// rustls settings for the DS: ring, TLS 1.2 and 1.3, h2 and http/1.1.
pub fn tls_config(
    resolver: Arc<t1c_tls::CertificateResolver>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Serves `router` on `listener` until `stop` fires, then gives open requests `grace` to end.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut stopped = stop.clone();
    let signal = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let result = match tls {
        Some(tls) => match TlsListener::new(listener, tls) {
            Ok(listener) => {
                // axum gives the peer address (`ConnectInfo<SocketAddr>`) to listeners wrapped
                // by `tap_io`; the TLS stream needs nothing tapped.
                let listener = listener.tap_io(|_| {});
                let server = axum::serve(listener, app).with_graceful_shutdown(signal);
                drain(server.into_future(), &mut stop, grace).await
            }
            Err(err) => Err(err),
        },
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let server = axum::serve(listener, app).with_graceful_shutdown(signal);
            drain(server.into_future(), &mut stop, grace).await
        }
    };
    if let Err(err) = result {
        tracing::error!("server failed: {err}");
    }
}

/// Runs `server`; once `stop` fires, waits at most `grace` for it to finish.
async fn drain(
    server: impl std::future::Future<Output = std::io::Result<()>>,
    stop: &mut watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<()> {
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        _ = stop.wait_for(|s| *s) => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                "open connections did not finish within {} s; closing them",
                grace.as_secs()
            );
            Ok(())
        }
    }
}
