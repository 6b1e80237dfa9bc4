//! A Convrs event, however it came (the webhook's `/events` or the API's WebSocket): read,
//! applied, and counted by source and command.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::listening::{Hearing, hear};
use crate::queue::{InboundSource, Store, StoreError};
use crate::tracking::heard::{EventNews, read_event};
use crate::tracking::socket::SocketState;

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The user's number went on the suppression list.
    Suppressed,
    /// onUserEnable: whether something onUserDisable set was lifted.
    Enabled(bool),
    /// onUserConversation: what hearing its client messages did.
    Heard(Hearing),
    /// About a user who is not a WhatsApp or SMS user: no number to suppress.
    NoNumber,
    /// An event we do not act on.
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not an event we can read (the webhook answers 400).
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and applies one event body.
pub async fn apply(
    store: &Store,
    body: &[u8],
    source: InboundSource,
    stats: &EventStats,
) -> Result<Applied, EventError> {
    let news = read_event(body).map_err(EventError::Refused)?;
    stats.event(source, news.command());
    Ok(match news {
        EventNews::Suppress {
            phone,
            uid,
            reason,
            source,
        } => {
            store
                .suppress_for_event(phone.as_str(), &uid, reason, source)
                .await?;
            Applied::Suppressed
        }
        EventNews::Enable { phone } => Applied::Enabled(store.lift_disabled(phone.as_str()).await?),
        EventNews::Conversation { messages } => {
            Applied::Heard(hear(store, &messages, source).await?)
        }
        EventNews::NoNumber { .. } => Applied::NoNumber,
        EventNews::Ignored => Applied::Ignored,
    })
}

/// Events heard, by source and command, and WebSocket reconnects, by reason: for `/metrics`.
#[derive(Debug, Default)]
pub struct EventStats {
    events: Mutex<BTreeMap<(String, String), u64>>,
    reconnects: Mutex<BTreeMap<String, u64>>,
    /// Where each token's socket stands (for `/healthz`).
    sockets: Mutex<BTreeMap<String, SocketState>>,
}

impl EventStats {
    fn event(&self, source: InboundSource, command: &str) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        *events
            .entry((source.as_str().to_string(), command.to_string()))
            .or_default() += 1;
    }

    /// Counts a reconnect of a WebSocket, for `reason` (a short word: `dropped`, `1018`...).
    pub fn reconnect(&self, reason: &str) {
        let mut reconnects = self.reconnects.lock().unwrap_or_else(|p| p.into_inner());
        *reconnects.entry(reason.to_string()).or_default() += 1;
    }

    pub(super) fn socket(&self, token: &str, state: SocketState) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.insert(token.to_string(), state);
    }

    /// Where each token's socket stands.
    pub fn sockets(&self) -> BTreeMap<String, SocketState> {
        self.sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// ((source, command), count).
    pub fn events(&self) -> BTreeMap<(String, String), u64> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// (reason, count).
    pub fn reconnects(&self) -> BTreeMap<String, u64> {
        self.reconnects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
