//! The webhook receiver (axum): delivery callbacks for our WhatsApp sends, and Convrs events.
//!
//! - `POST /callback`: the document's callback payload. It must carry the per-installation
//!   secret in `X-Campaign-Secret` (compared in constant time; otherwise 401). Malformed JSON, a
//!   bad ack, `ok` other than 1, a time before 2000 or a callback about an SMS (the document
//!   gives callbacks to WhatsApp template sends only) is 400; a callback about a message we do
//!   not know is 202 and changes nothing. Replays and out-of-order callbacks never move a
//!   message backwards, and a replay adds no event and suppresses nothing (the store decides).
//! - `POST /events`: Convrs events (onUserDisable, onUserDelete suppress the user's number),
//!   authenticated by the same secret, as the header or a `?secret=` query parameter (the
//!   organisation's webhook URL is configured in the Convrs dashboard, where only the URL can
//!   carry it).
//!
//! Bodies are limited to 64 KiB (413) and must arrive within the body timeout (408); headers
//! within the header timeout, with a limit on connections (`serve`). Nothing here panics on
//! input.

use std::net::SocketAddr;

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
use crate::convrs::Ack;
use crate::convrs::wire::Callback;
use crate::phone::PhoneNumber;
use crate::queue::{AckApplied, HeardAck, Store, StoreError};
use crate::tracking::serve::{ReceiverLimits, serve};

pub use crate::convrs::callback::{CallbackTarget, SECRET_HEADER};
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

const MAX_BODY: usize = 64 * 1024;

pub fn router(store: Store, secret: SecretString, limits: ReceiverLimits) -> Router {
    Router::new()
        .route("/callback", post(callback))
        .route("/events", post(event))
        .with_state(Receiver {
            store,
            secret,
            body_timeout: limits.body_timeout,
        })
}

/// The body, read within the receiver's body timeout and size limit.
async fn read_body(r: &Receiver, body: Body) -> Result<Bytes, Reply> {
    match tokio::time::timeout(r.body_timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 64 KiB",
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
    let app = router(store, secret, limits);
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
    let body = match read_body(&r, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Ok(cb) = serde_json::from_slice::<Callback>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "not a callback: expected JSON with mid and ack",
        );
    };
    // The document's callbacks say `ok: 1`; anything else is not a delivery status.
    if cb.ok != 1 {
        return reply(
            StatusCode::BAD_REQUEST,
            "not a delivery callback: ok is not 1",
        );
    }
    let Some(ack) = Ack::from_code(cb.ack) else {
        return reply(StatusCode::BAD_REQUEST, "unknown ack code");
    };
    let at = match callback_time(&cb.timestamp) {
        Ok(at) => at,
        Err(refused) => return reply(StatusCode::BAD_REQUEST, refused),
    };
    let ours = |key: &str| {
        cb.webhook_payload
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Value::as_i64)
    };
    let (message, attempt) = (ours("message"), ours("attempt"));
    let id = match r.store.message_for_callback(message, &cb.mid).await {
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
        ack,
        source: "callback",
        at_ms: at,
        mid: Some(&cb.mid),
        attempt,
    };
    match r.store.record_ack(&heard).await {
        Ok(AckApplied::Moved) => reply(StatusCode::OK, "applied"),
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

/// When a callback says its ack happened (unix ms): the document's `2024-11-14T14:28:08` (UTC
/// assumed: the document names no zone) or RFC 3339; now when it gives none or none we read.
/// A time before 2000 is refused: no such send exists, and the report's times would be wrong.
fn callback_time(timestamp: &str) -> Result<i64, &'static str> {
    let parsed = chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(timestamp).map(|t| t.timestamp_millis()));
    match parsed {
        Ok(at) if at < EARLIEST_CALLBACK_MS => {
            Err("the timestamp is before 2000: not a callback about one of our sends")
        }
        Ok(at) => Ok(at),
        Err(_) => Ok(now_ms()),
    }
}

/// 2000-01-01T00:00:00Z.
const EARLIEST_CALLBACK_MS: i64 = 946_684_800_000;

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
    let body = match read_body(&r, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "not a Convrs event: expected a JSON object",
        );
    };
    let cmd = event.get("cmd").and_then(Value::as_str).unwrap_or_default();
    let reason = match cmd {
        "onUserDisable" => "user disabled (onUserDisable)",
        "onUserDelete" => "user deleted (onUserDelete)",
        _ => return reply(StatusCode::OK, "ignored"),
    };
    let Some(uid) = event.get("uid").and_then(Value::as_str) else {
        return reply(StatusCode::BAD_REQUEST, "the event has no uid");
    };
    let Some(phone) = phone_of_uid(uid) else {
        return reply(
            StatusCode::OK,
            "not a WhatsApp or SMS user: nothing to suppress",
        );
    };
    match r.store.suppress(phone.as_str(), reason, "event").await {
        Ok(_) => reply(StatusCode::OK, "suppressed"),
        Err(e) => store_failed(e),
    }
}

/// `3941-wa3-447911123456` -> `+447911123456` (WhatsApp and SMS uids carry the number).
pub fn phone_of_uid(uid: &str) -> Option<PhoneNumber> {
    let mut parts = uid.splitn(3, '-');
    let (_bot, tag, digits) = (parts.next()?, parts.next()?, parts.next()?);
    matches!(tag, "wa3" | "cms")
        .then(|| PhoneNumber::parse(&format!("+{digits}"), None).ok())
        .flatten()
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

    #[test]
    fn whatsapp_and_sms_uids_give_the_number() {
        assert_eq!(
            phone_of_uid("3941-wa3-447911123456").unwrap().as_str(),
            "+447911123456"
        );
        assert_eq!(
            phone_of_uid("3941-cms-447911123456").unwrap().as_str(),
            "+447911123456"
        );
        assert!(phone_of_uid("73-tel-615940546").is_none());
        assert!(phone_of_uid("garbage").is_none());
    }
}
