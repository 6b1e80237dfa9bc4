//! The worker's own endpoints, next to the webhook receiver: `GET /healthz` (200 with what the
//! worker holds; 503 when the database or the API cannot be reached) and `GET /metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::metrics::{ApiStats, render};
use super::worker::WorkerStatus;
use crate::clock::{now_ms, rfc3339_secs};
use crate::convrs::Client;
use crate::queue::Store;

/// How long `/healthz` waits for that probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Health {
    pub store: Store,
    pub status: Arc<WorkerStatus>,
    pub api: Arc<ApiStats>,
    /// A client to probe the API with when nothing was heard from it lately.
    pub probe: Client,
    pub defer_after: Duration,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn healthz(State(h): State<Health>) -> Response {
    let database = h.store.ping().await.err().map(|e| e.to_string());
    // Asked now, not from memory: any answer, even an error about this made-up message, shows
    // the API is there (it is not a send, so it takes nothing from the token's limit).
    if tokio::time::timeout(PROBE_TIMEOUT, h.probe.get_message_details("healthz"))
        .await
        .is_err()
    {
        h.api.mark_unreachable("the API did not answer within 3 s");
    }
    let api = h.api.unreachable();
    let ok = database.is_none() && api.is_none();
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": database.as_deref().unwrap_or("ok"),
        "api": api.as_deref().unwrap_or("ok"),
        "last_api_success": h.api.last_reached().map(rfc3339_secs),
        "tokens": h.status.tokens(),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(h): State<Health>) -> Response {
    let defer = now_ms() + h.defer_after.as_millis() as i64;
    let (queue, holders) = match (
        h.store.queue_gauges(defer).await,
        h.store.token_holders().await,
    ) {
        (Ok(q), Ok(t)) => (q, t),
        (Err(e), _) | (_, Err(e)) => {
            let text = format!("cannot read the database: {e}\n");
            return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
        }
    };
    let text = render(&h.api, &h.status, &queue, &holders);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
