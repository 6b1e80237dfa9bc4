//! The worker's own endpoints, on their own listener (`--admin-listen`, loopback by default),
//! never on the public receiver: `GET /healthz` (200 with what the worker holds; 503 when the
//! database or the API cannot be reached), `GET /metrics`, and `GET /`, the live page
//! (`live`).
//!
//! Neither costs a request's worth of work elsewhere: `/healthz` judges the API by the last real
//! call, or by a probe made at most once per `check_every` (concurrent requests share it), and
//! `/metrics` answers from a snapshot of the queue taken at most once per `SNAPSHOT_EVERY`, so
//! any number of scrapes make at most one read of the store between them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::time::Instant;

use super::api_stats::ApiStats;
use super::metrics::render;
use super::worker::WorkerStatus;
use crate::clock::{now_ms, rfc3339_secs};
use crate::convrs::Client;
use crate::queue::{QueueGauges, Store, StoreError, TokenHeld};

/// How long a probe of the API may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How old the queue figures of a scrape may be.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Health {
    pub store: Store,
    pub status: Arc<WorkerStatus>,
    pub api: Arc<ApiStats>,
    /// A client to probe the API with when nothing was heard from it lately.
    pub probe: Client,
    pub defer_after: Duration,
    /// How recent what we know of the API must be; older, a probe asks (once for all).
    check_every: Duration,
    probed: Arc<Recent<()>>,
    queue: Arc<Recent<Snapshot>>,
    /// The rates the live page shows, kept between its requests.
    pub(super) paces: super::live::SharedPaces,
}

/// What a scrape shows of the store.
#[derive(Clone)]
struct Snapshot {
    gauges: QueueGauges,
    holders: Vec<TokenHeld>,
    taken: Instant,
}

impl Health {
    pub fn new(
        store: Store,
        status: Arc<WorkerStatus>,
        api: Arc<ApiStats>,
        probe: Client,
        defer_after: Duration,
        check_every: Duration,
    ) -> Self {
        Health {
            store,
            status,
            api,
            probe,
            defer_after,
            check_every,
            probed: Arc::new(Recent::new(check_every)),
            queue: Arc::new(Recent::new(SNAPSHOT_EVERY)),
            paces: Default::default(),
        }
    }

    /// Why the API cannot be reached now, if it cannot: from the last call any client made,
    /// when recent; else from a probe, made at most once per `check_every`.
    async fn api_problem(&self) -> Option<String> {
        let heard = self.api.last_heard().unwrap_or(0);
        if now_ms() - heard > self.check_every.as_millis() as i64 {
            let _ = self
                .probed
                .get(|| async {
                    // Any answer, even an error about this made-up message, shows the API is
                    // there (it is not a send: it takes nothing from the token's limit).
                    let asked = self.probe.get_message_details("healthz");
                    if tokio::time::timeout(PROBE_TIMEOUT, asked).await.is_err() {
                        self.api
                            .mark_unreachable("the API did not answer within 3 s");
                    }
                    Ok::<(), StoreError>(())
                })
                .await;
        }
        self.api.unreachable()
    }

    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.queue
            .get(|| async {
                let defer = now_ms() + self.defer_after.as_millis() as i64;
                Ok(Snapshot {
                    gauges: self.store.queue_gauges(defer).await?,
                    holders: self.store.token_holders().await?,
                    taken: Instant::now(),
                })
            })
            .await
    }
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/", get(super::live::page))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn healthz(State(h): State<Health>) -> Response {
    let database = h.store.ping().await.err().map(|e| e.to_string());
    let api = h.api_problem().await;
    let ok = database.is_none() && api.is_none();
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": database.as_deref().unwrap_or("ok"),
        "api": api.as_deref().unwrap_or("ok"),
        "last_api_success": h.api.last_reached().map(rfc3339_secs),
        "tokens": h.status.tokens(),
        "sockets": h.status.events.sockets(),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(h): State<Health>) -> Response {
    let snapshot = match h.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            let text = format!("cannot read the database: {e}\n");
            return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
        }
    };
    let age = snapshot.taken.elapsed();
    let text = render(&h.api, &h.status, &snapshot.gauges, &snapshot.holders, age);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A value worked out at most once per `every`: readers that come meanwhile, however many,
/// wait for the one working it out and share its result. A failure is not kept.
struct Recent<T> {
    every: Duration,
    kept: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    fn new(every: Duration) -> Self {
        Recent {
            every,
            kept: tokio::sync::Mutex::new(None),
        }
    }

    async fn get<F, Fut, E>(&self, work_out: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut kept = self.kept.lock().await;
        if let Some((at, value)) = kept.as_ref()
            && at.elapsed() < self.every
        {
            return Ok(value.clone());
        }
        let value = work_out().await?;
        *kept = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn thirty_two_readers_at_once_share_one_working_out_and_it_is_redone_when_old() {
        let recent = Arc::new(Recent::new(Duration::from_secs(10)));
        let worked = Arc::new(AtomicUsize::new(0));
        let read_all = || {
            let mut readers = tokio::task::JoinSet::new();
            for _ in 0..32 {
                let (recent, worked) = (recent.clone(), worked.clone());
                readers.spawn(async move {
                    recent
                        .get(|| async {
                            worked.fetch_add(1, Ordering::SeqCst);
                            // A slow read of the store: the others wait for it, not redo it.
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            Ok::<_, ()>(7)
                        })
                        .await
                });
            }
            readers
        };
        for value in read_all().join_all().await {
            assert_eq!(value, Ok(7));
        }
        assert_eq!(worked.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(11)).await;
        read_all().join_all().await;
        assert_eq!(
            worked.load(Ordering::SeqCst),
            2,
            "worked out again once old"
        );
    }
}
