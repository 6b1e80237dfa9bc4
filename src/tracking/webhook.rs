//! The webhook receiver (axum): delivery callbacks for our WhatsApp sends, and Convrs events.
//!
//! - `POST /callback`: the document's callback payload. It must carry the per-installation
//!   secret in `X-Campaign-Secret` (compared in constant time; otherwise 401). Malformed JSON, a
//!   bad ack, `ok` other than 1, a time before 2000 or a callback about an SMS (the document
//!   gives callbacks to WhatsApp template sends only) is 400; a callback about a message we do
//!   not know is 202 and changes nothing. Replays and out-of-order callbacks never move a
//!   message backwards, and a replay adds no event and suppresses nothing (the store decides).
//! - `POST /events`: Convrs events: onUserDisable and onUserDelete suppress the user's number,
//!   onUserEnable lifts what onUserDisable set, and onUserConversation's client messages are
//!   heard (`listening`: an opt-out keyword suppresses). Authenticated by the same secret, as
//!   the header or a `?secret=` query parameter (the organisation's webhook URL is configured
//!   in the Convrs dashboard, where only the URL can carry it).
//!
//! Bodies are limited to 64 KiB for callbacks and 1 MiB for events, whose conversation arrays
//! are long (413), and must arrive within the body timeout (408); headers within the header
//! timeout, with a limit on connections (`serve`). Nothing here panics on input.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::queue::{AckApplied, HeardAck, InboundSource, Store, StoreError};
use crate::tracking::events::{Applied, EventError, EventStats, apply};
use crate::tracking::heard::read_callback;
use crate::tracking::serve::{ReceiverLimits, serve};

pub use crate::convrs::callback::{CallbackTarget, SECRET_HEADER};
pub use crate::convrs::phone_of_uid;
const SECRET_SETTING: &str = "webhook_secret";

/// The per-installation secret, created on first use and kept in the database.
pub async fn webhook_secret(store: &Store) -> Result<SecretString, StoreError> {
    let fresh =
        random_hex(32).unwrap_or_else(|_| format!("{:x}{:x}", now_ms(), std::process::id()));
    Ok(SecretString::from(
        store.setting_or_insert(SECRET_SETTING, &fresh).await?,
    ))
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[derive(Clone)]
struct Receiver {
    store: Store,
    secret: SecretString,
    body_timeout: std::time::Duration,
    /// Events counted by source and command (the worker's `/metrics`).
    events: Arc<EventStats>,
}

impl Receiver {
    fn authentic(&self, given: Option<&str>) -> bool {
        given
            .is_some_and(|g| constant_time_eq(g.as_bytes(), self.secret.expose_secret().as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A callback is small; an event's conversation array can be long.
const MAX_CALLBACK: usize = 64 * 1024;
const MAX_EVENT: usize = 1024 * 1024;

/// The receiver's routes; events are counted in `events`.
pub fn router(
    store: Store,
    secret: SecretString,
    limits: ReceiverLimits,
    events: Arc<EventStats>,
) -> Router {
    Router::new()
        .route("/callback", post(callback))
        .route("/events", post(event))
        .with_state(Receiver {
            store,
            secret,
            body_timeout: limits.body_timeout,
            events,
        })
}

/// The body, read within the receiver's body timeout and size limit.
async fn read_body(r: &Receiver, body: Body, max: usize) -> Result<Bytes, Reply> {
    match tokio::time::timeout(r.body_timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            &match max {
                m if m % (1 << 20) == 0 => format!("the body is larger than {} MiB", m >> 20),
                m => format!("the body is larger than {} KiB", m >> 10),
            },
        )),
        Err(_) => Err(reply(
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )),
    }
}

/// A receiver running in this process.
pub struct RunningReceiver {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningReceiver {
    pub async fn stop(self) -> std::io::Result<()> {
        self.stop.cancel();
        self.task.await.map_err(std::io::Error::other)?
    }
}

pub async fn start(
    listen: SocketAddr,
    store: Store,
    secret: SecretString,
) -> std::io::Result<RunningReceiver> {
    start_with(listen, store, secret, ReceiverLimits::default()).await
}

pub async fn start_with(
    listen: SocketAddr,
    store: Store,
    secret: SecretString,
    limits: ReceiverLimits,
) -> std::io::Result<RunningReceiver> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let app = router(store, secret, limits, Arc::default());
    let task = tokio::spawn(serve(listener, app, limits, stop.clone()));
    Ok(RunningReceiver { addr, stop, task })
}

type Reply = (StatusCode, axum::Json<Value>);

fn reply(status: StatusCode, what: &str) -> Reply {
    (
        status,
        axum::Json(json!({ "ok": i32::from(status.is_success()), "result": what })),
    )
}

async fn callback(State(r): State<Receiver>, headers: HeaderMap, body: Body) -> Reply {
    if !r.authentic(headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok())) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong secret");
    }
    let body = match read_body(&r, body, MAX_CALLBACK).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let news = match read_callback(&body) {
        Ok(news) => news,
        Err(refused) => return reply(StatusCode::BAD_REQUEST, refused),
    };
    let id = match r.store.message_for_callback(news.message, &news.mid).await {
        // The document gives callbacks to WhatsApp template sends only: one about an SMS is
        // not the API's.
        Ok(Some((_, channel))) if channel == "sms" => {
            return reply(
                StatusCode::BAD_REQUEST,
                "SMS messages have no callbacks: nothing changed",
            );
        }
        Ok(Some((id, _))) => id,
        Ok(None) => return reply(StatusCode::ACCEPTED, "unknown message: nothing changed"),
        Err(e) => return store_failed(e),
    };
    let heard = HeardAck {
        message_id: id,
        ack: news.ack,
        source: "callback",
        at_ms: news.at_ms,
        mid: Some(&news.mid),
        attempt: news.attempt,
    };
    match r.store.record_ack(&heard).await {
        Ok(AckApplied::Moved { sent_at }) => {
            super::latency::observe(news.ack, sent_at, news.at_ms);
            reply(StatusCode::OK, "applied")
        }
        Ok(AckApplied::Superseded) => reply(
            StatusCode::OK,
            "kept as an event: it is about an earlier attempt of this message",
        ),
        Ok(AckApplied::Replayed) => reply(StatusCode::OK, "heard before: nothing changed"),
        Ok(_) => reply(
            StatusCode::OK,
            "kept; the message already had this ack or a later one",
        ),
        Err(e) => store_failed(e),
    }
}

fn store_failed(e: StoreError) -> Reply {
    tracing::error!(error = %e, "cannot record a callback");
    // 503: Convrs may try again.
    reply(StatusCode::SERVICE_UNAVAILABLE, "cannot record it now")
}

#[derive(Deserialize)]
struct SecretQuery {
    secret: Option<String>,
}

async fn event(
    State(r): State<Receiver>,
    headers: HeaderMap,
    Query(q): Query<SecretQuery>,
    body: Body,
) -> Reply {
    let given = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(q.secret.as_deref());
    if !r.authentic(given) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong secret");
    }
    let body = match read_body(&r, body, MAX_EVENT).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    match apply(&r.store, &body, InboundSource::Event, &r.events).await {
        Ok(applied) => reply(StatusCode::OK, &said(&applied)),
        Err(EventError::Refused(refused)) => reply(StatusCode::BAD_REQUEST, refused),
        Err(EventError::Store(e)) => store_failed(e),
    }
}

/// What the receiver answers about an event it applied.
fn said(applied: &Applied) -> String {
    match applied {
        Applied::Suppressed => "suppressed".into(),
        Applied::Enabled(true) => "lifted what onUserDisable set".into(),
        Applied::Enabled(false) => "nothing set by onUserDisable to lift: nothing changed".into(),
        Applied::Heard(heard) => format!(
            "heard {} new client messages ({} opt-outs, {} opt-ins, {} possible opt-outs); {} heard before",
            heard.new, heard.opt_outs, heard.opt_ins, heard.possible, heard.replayed
        ),
        Applied::NoNumber => "not a WhatsApp or SMS user: nothing to suppress".into(),
        Applied::Ignored => "ignored".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
