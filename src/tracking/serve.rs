//! Serving the webhook receiver on the open internet: its own accept loop (hyper), so that idle
//! or trickling connections cannot exhaust it. Request headers must arrive within
//! `header_timeout` (hyper closes the connection otherwise), a body within `body_timeout` (408,
//! enforced by the handlers), and at most `connections` are served at once (more wait in the
//! kernel's queue until one ends).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How much of itself the receiver gives one client.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub connections: usize,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            connections: 256,
        }
    }
}

/// Serves `app` on `listener` until `stop`; connections still open then are closed gracefully.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ReceiverLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            _ = stop.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => break,
        };
        let (stream, peer): (_, SocketAddr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let done = tokio::select! {
                done = connection.as_mut() => done,
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = done {
                tracing::debug!(%peer, error = %e, "callback connection ended");
            }
        });
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}
