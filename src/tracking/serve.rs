//! Serving on the open internet: our own accept loop over hyper, so that no client can hold
//! the receiver. Each connection is watched:
//! - its request headers must arrive within `header_timeout` (hyper), a body within
//!   `body_timeout` (408, the handlers);
//! - between requests (and before the first) it may stay idle `idle_timeout`;
//! - each request, from its headers to its answer written out, may take `request_timeout`: a
//!   client that pipelines requests and never reads the answers stalls our write and is cut;
//! - it carries at most `requests_per_connection` requests (the last answer says
//!   `Connection: close`), and what it may send ahead of its answers is bounded by the read
//!   buffer (`MAX_BUFFER`), so pipelined requests waiting are bounded too;
//! - at most `connections` are served at once; one more waits in the kernel's queue until a
//!   connection ends, which the limits above make soon.
//!
//! A connection past any limit is closed, never kept waiting.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How much of itself the receiver gives one client.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// How long a connection may wait, idle, for its next request (or its first).
    pub idle_timeout: Duration,
    /// How long one request may take from its headers to its answer written out.
    pub request_timeout: Duration,
    pub requests_per_connection: u32,
    pub connections: usize,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(20),
            requests_per_connection: 1000,
            connections: 256,
        }
    }
}

/// The most a connection may send ahead of what it has been answered (hyper's read buffer):
/// headers, a body's chunk, pipelined requests waiting.
const MAX_BUFFER: usize = 32 * 1024;

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
        let (app, stop) = (app.clone(), stop.clone());
        connections.spawn(async move {
            let _permit = permit;
            serve_connection(stream, peer, app, limits, stop).await;
        });
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, until it ends, breaks a limit, or `stop` (then gracefully).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ReceiverLimits,
    stop: CancellationToken,
) {
    let watch = Arc::new(Watch::new(limits));
    let service = Watched {
        inner: TowerToHyperService::new(app),
        watch: watch.clone(),
    };
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        watch: watch.clone(),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUFFER);
    let connection = http.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let done = loop {
        let deadline = watch.deadline();
        tokio::select! {
            done = connection.as_mut() => break done,
            _ = tokio::time::sleep_until(deadline) => {
                if watch.deadline() <= Instant::now() {
                    tracing::debug!(%peer, "connection past its time limit: closed");
                    return;
                }
            }
            _ = stop.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let finish = tokio::time::timeout(limits.request_timeout, connection.as_mut());
                break finish.await.unwrap_or(Ok(()));
            }
        }
    };
    if let Err(e) = done {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// What the watchdog of one connection knows: when it must be done by, how many requests it
/// made, and whether the one in progress has been answered (its answer not yet written out).
struct Watch {
    limits: ReceiverLimits,
    deadline: Mutex<Instant>,
    requests: AtomicU32,
    answered: AtomicBool,
}

impl Watch {
    fn new(limits: ReceiverLimits) -> Self {
        Watch {
            limits,
            deadline: Mutex::new(Instant::now() + limits.idle_timeout),
            requests: AtomicU32::new(0),
            answered: AtomicBool::new(false),
        }
    }

    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_deadline(&self, after: Duration) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now() + after;
    }

    /// A request's headers are in: it has `request_timeout` to be answered and written out.
    /// Whether it is the connection's last.
    fn began(&self) -> bool {
        self.answered.store(false, Ordering::SeqCst);
        self.set_deadline(self.limits.request_timeout);
        self.requests.fetch_add(1, Ordering::SeqCst) + 1 >= self.limits.requests_per_connection
    }

    fn answered(&self) {
        self.answered.store(true, Ordering::SeqCst);
    }

    /// Everything written so far is flushed: once an answer is out, the connection is idle.
    fn flushed(&self) {
        if self.answered.swap(false, Ordering::SeqCst) {
            self.set_deadline(self.limits.idle_timeout);
        }
    }
}

/// The app as hyper calls it, telling the watch when each request begins and is answered.
struct Watched<S> {
    inner: S,
    watch: Arc<Watch>,
}

type Answer<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, R> hyper::service::Service<Request<B>> for Watched<S>
where
    S: hyper::service::Service<Request<B>, Response = axum::http::Response<R>>,
    S::Future: Send + 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Answer<S::Response, S::Error>;

    fn call(&self, request: Request<B>) -> Self::Future {
        let last = self.watch.began();
        let answer = self.inner.call(request);
        let watch = self.watch.clone();
        Box::pin(async move {
            let mut response = answer.await?;
            if last {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            watch.answered();
            Ok(response)
        })
    }
}

/// The connection's socket, telling the watch when an answer has been written out.
struct WatchedIo {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.watch.flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
