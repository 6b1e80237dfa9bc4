//! Events over the API's WebSocket (`campaign worker --events-ws URL`), for an operator who
//! cannot expose a public webhook: one socket per token, opened by the holder of the token's
//! lease only. The document's "Using Websockets": the first command is `connect` with the
//! token (answered `connected`), then a heartbeat keeps the connection alive; events arrive
//! as the webhook's bodies and go to the same handler (`events::apply`).
//!
//! - A heartbeat every 30 s; no frame for 75 s and the socket is taken for dead.
//! - Dropped, it reconnects after a jittered backoff from 1 s to 60 s, and then reads the
//!   conversations of the users sent to (or acked) since it dropped, since the document
//!   promises no replay of events missed meanwhile.
//! - 1019 (the first command was not `connect`) is a bug of ours: logged as one, reconnects.
//! - 1018 (a newer connection with the token replaced ours) waits 5 minutes; the third in
//!   30 minutes stops this token's socket and says so in `/healthz`: another integration owns
//!   it, and taking it back in turn would starve both.
//! - A close with 1000 or 1001 stops this token's socket (the server ended it on purpose).
//!
//! The document lists 1018 and 1019 among the API's error codes, so they are read from error
//! frames (`errorCode`). A close frame cannot carry them: the WebSocket standard reserves
//! 1016-2999, and tungstenite reports such a close as 1002 (protocol error), which is a drop
//! here. The document names no close codes at all: 1000 and 1001 are the standard's. The token
//! is sent in the `connect` frame only, never logged.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

mod config;
mod frame;

pub use config::{SocketConfig, SocketState, SocketUrlError};
use frame::{Frame, read_frame, short};

use crate::convrs::Client;
use crate::queue::{InboundSource, Store};
use crate::tracking::events::{EventStats, apply};

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// We were told to stop.
    Stopped,
    /// The server closed it with 1000 or 1001.
    Closed(u16),
    /// 1018: a newer connection with the token replaced ours.
    Replaced,
    /// 1019: our first command was not `connect`.
    Refused,
    /// Anything else: the connection broke, went silent, or could not be made.
    Dropped { reason: String, connected: bool },
}

/// Listens on the token's socket until `stop` (the token's lease is lost or the worker stops)
/// or the server says to stop.
pub async fn listen(
    store: Store,
    client: Client,
    config: SocketConfig,
    stats: Arc<EventStats>,
    stop: CancellationToken,
) {
    let token = client.token_fingerprint();
    let mut backoff = config.backoff.0;
    let mut replaced: VecDeque<Instant> = VecDeque::new();
    // When the socket last went down: events since then may be lost.
    let mut down_since: Option<i64> = None;
    loop {
        stats.socket(&token, SocketState::Connecting);
        let end = session(&store, &client, &config, &stats, down_since, &stop).await;
        let (wait, reason) = match end {
            End::Stopped => break,
            End::Closed(code) => {
                let reason = format!(
                    "the server closed the socket with {code}: no events by WebSocket for this token until the worker restarts"
                );
                tracing::warn!(%token, "{reason}");
                stats.socket(&token, SocketState::Stopped { reason });
                return;
            }
            End::Replaced => {
                stats.reconnect("1018");
                let now = Instant::now();
                replaced.push_back(now);
                while replaced
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > config.replaced_window)
                {
                    replaced.pop_front();
                }
                if replaced.len() >= config.replaced_limit {
                    let reason = format!(
                        "replaced by a newer connection with the token (1018) {} times in {} minutes: another integration owns this token's socket; events come by webhook or by reading conversations",
                        replaced.len(),
                        config.replaced_window.as_secs() / 60
                    );
                    tracing::error!(%token, "{reason}");
                    stats.socket(&token, SocketState::Stopped { reason });
                    return;
                }
                tracing::warn!(%token, "the socket was replaced by a newer connection with the token (1018): trying again later");
                (
                    config.replaced_wait,
                    "replaced by a newer connection (1018)".to_string(),
                )
            }
            End::Refused => {
                stats.reconnect("1019");
                tracing::error!(%token, "the API says the socket's first command was not connect (1019): a bug of campaign, please report it; reconnecting");
                (
                    jitter(backoff),
                    "refused: connect expected first (1019)".to_string(),
                )
            }
            End::Dropped { reason, connected } => {
                stats.reconnect("dropped");
                if connected {
                    backoff = config.backoff.0;
                }
                tracing::warn!(%token, %reason, "the event socket dropped; reconnecting");
                (jitter(backoff), reason)
            }
        };
        down_since.get_or_insert_with(|| store.now_ms());
        stats.socket(
            &token,
            SocketState::Reconnecting {
                reason,
                retry_in_s: wait.as_secs(),
            },
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => break,
        }
        backoff = (backoff * 2).min(config.backoff.1);
    }
    stats.socket(&token, SocketState::Off);
}

/// Somewhere between half of `wait` and all of it, so that workers that dropped together do
/// not all come back in the same instant.
fn jitter(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    wait / 2 + wait.mul_f64((random % 1000) as f64 / 2000.0)
}

/// One connection, from `connect` to its end. After a drop (`down_since`), once connected it
/// asks for the conversations that may hold replies it missed.
async fn session(
    store: &Store,
    client: &Client,
    config: &SocketConfig,
    stats: &EventStats,
    down_since: Option<i64>,
    stop: &CancellationToken,
) -> End {
    let dropped = |reason: String| End::Dropped {
        reason,
        connected: false,
    };
    let connecting = tokio_tungstenite::connect_async(config.url.as_str());
    let mut ws = tokio::select! {
        made = tokio::time::timeout(config.dead_after, connecting) => match made {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return dropped(format!("cannot connect: {}", short(&e.to_string()))),
            Err(_) => return dropped("the connection was not made in time".into()),
        },
        _ = stop.cancelled() => return End::Stopped,
    };
    if ws
        .send(Message::text(client.connect_frame()))
        .await
        .is_err()
    {
        return dropped("the connection broke before connect".into());
    }
    let mut connected = false;
    let mut last_frame = Instant::now();
    let mut beat = tokio::time::interval_at(Instant::now() + config.heartbeat, config.heartbeat);
    let end = loop {
        let silent_until = last_frame + config.dead_after;
        let frame = tokio::select! {
            _ = stop.cancelled() => break End::Stopped,
            _ = tokio::time::sleep_until(silent_until) => break End::Dropped {
                reason: format!("no frame for {} s", config.dead_after.as_secs()),
                connected,
            },
            _ = beat.tick() => {
                if ws.send(Message::text(r#"{"cmd":"heartbeat"}"#)).await.is_err() {
                    break End::Dropped { reason: "cannot send the heartbeat".into(), connected };
                }
                continue;
            }
            frame = ws.next() => frame,
        };
        last_frame = Instant::now();
        match frame {
            None => {
                break End::Dropped {
                    reason: "the connection ended".into(),
                    connected,
                };
            }
            Some(Err(e)) => {
                break End::Dropped {
                    reason: short(&e.to_string()),
                    connected,
                };
            }
            Some(Ok(Message::Close(frame))) => {
                break match frame.map(|f| u16::from(f.code)) {
                    Some(code @ (1000 | 1001)) => End::Closed(code),
                    code => End::Dropped {
                        reason: format!(
                            "the server closed the socket ({})",
                            code.map_or("no code".into(), |c| c.to_string())
                        ),
                        connected,
                    },
                };
            }
            Some(Ok(Message::Text(text))) => match read_frame(text.as_bytes()) {
                Frame::Connected if !connected => {
                    connected = true;
                    stats.socket(
                        &client.token_fingerprint(),
                        SocketState::Connected {
                            since: crate::clock::rfc3339_secs(store.now_ms()),
                        },
                    );
                    if let Some(since) = down_since {
                        catch_up(store, client, since).await;
                    }
                }
                Frame::Error(1018) => break End::Replaced,
                Frame::Error(1019) => break End::Refused,
                Frame::Error(code) if !connected => {
                    break End::Dropped {
                        reason: format!("the API refused the connection ({code})"),
                        connected,
                    };
                }
                Frame::Event => {
                    if let Err(e) =
                        apply(store, text.as_bytes(), InboundSource::WebSocket, stats).await
                    {
                        tracing::warn!(error = %e, "cannot apply an event from the socket");
                    }
                }
                Frame::Connected | Frame::Error(_) | Frame::Other => {}
            },
            // Pings are answered by the library; pongs and binary frames say nothing to us.
            Some(Ok(_)) => {}
        }
    };
    if end == End::Stopped {
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "worker stopping".into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(Some(bye))).await;
    }
    end
}

/// Asks for the conversations of the token's users sent to or acked since `since` to be read:
/// their replies may have come while the socket was down, and no event will be sent again.
async fn catch_up(store: &Store, client: &Client, since: i64) {
    match store.catch_up(&client.token_fingerprint(), since).await {
        Ok(n) => tracing::info!(
            conversations = n,
            "the socket is back: reading the conversations that may hold replies sent meanwhile"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask for the conversations to read after the socket came back")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_is_jittered_within_half_of_it() {
        let wait = Duration::from_secs(10);
        for _ in 0..50 {
            let j = jitter(wait);
            assert!(j >= wait / 2 && j <= wait, "{j:?}");
        }
    }
}
