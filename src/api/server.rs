//! Serving the API: [`serve`] on a listener, with the timeouts that keep
//! slow clients from holding its connections, and [`ApiServer`], the
//! same on its own task.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{app, ApiConfig, CappedListener, SHUTDOWN_GRACE};
use crate::node::PoolNode;

/// Serves the API on `listener` until `shutdown`, at most
/// `config.max_connections` connections at once. Slow clients cannot hold
/// the connection slots: a connection is closed when it takes over
/// `config.header_read_timeout` to send a request's head (an idle one
/// too), answered 408 when its body takes over `config.body_read_timeout`,
/// and dropped when writes to it make no progress for
/// `config.write_timeout`. At `shutdown` the listener closes, the event
/// streams end and open requests get [`SHUTDOWN_GRACE`] to finish; then
/// it returns, and connections still open are dropped.
///
/// # Errors
///
/// `InvalidInput`, naming the field, when a timeout is zero or over
/// [`MAX_TIMEOUT`](super::MAX_TIMEOUT).
pub async fn serve(
    node: Arc<PoolNode>,
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use axum::serve::Listener as _;
    use tracing::Instrument as _;
    config.check_timeouts()?;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let mut listener = CappedListener::new(listener, config.max_connections)
        .with_write_timeout(config.write_timeout);
    let (router, api) = app(node, config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (io, peer) = listener.accept() => {
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let connection = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
                let connection = graceful.watch(connection);
                let served = async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "API connection closed");
                    }
                };
                connections.spawn(served.instrument(tracing::debug_span!("api_connection", %peer)));
            }
            // Reap finished connections so the set stays as small as the cap.
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = ended {
                    if e.is_panic() {
                        tracing::error!(error = %e, "an API connection task panicked");
                    }
                }
            }
        }
    }
    // New clients are refused at once rather than left in the backlog.
    drop(listener);
    api.closing.send_replace(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    connections.shutdown().await;
    Ok(())
}

/// An API server on its own task: [`serve`] on a bound address until
/// [`ApiServer::stop`].
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ApiServer {
    /// Binds `addr` (port 0 picks a free one) and serves `node`'s API
    /// there, with [`ApiConfig::new`] for the bound address changed by
    /// `configure`.
    ///
    /// # Errors
    ///
    /// The bind's, or `InvalidInput` naming a timeout out of range.
    pub async fn start(
        node: Arc<PoolNode>,
        addr: SocketAddr,
        configure: impl FnOnce(&mut ApiConfig),
    ) -> std::io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut config = ApiConfig::new(addr);
        configure(&mut config);
        config.check_timeouts()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(node, listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(ApiServer { addr, stop, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dashboard's URL, `http://<addr>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Shuts the server down and waits until [`serve`] returned (at most
    /// [`SHUTDOWN_GRACE`] after open requests).
    ///
    /// # Errors
    ///
    /// What `serve` returned, or `Other` if its task panicked.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(served) => served,
            Err(e) => Err(std::io::Error::other(format!(
                "the API server task failed: {e}"
            ))),
        }
    }
}
