//! Listening: what recipients write to us, whatever brought it (an `onUserConversation` event
//! on the webhook or the WebSocket, GetConversation after an ack 10, the SMS reply sweep), goes
//! through `hear`: kept once per mid, read against the keyword lists, and acted on (an opt-out
//! suppresses the sender, an opt-in lifts what a keyword or onUserDisable set).

pub mod keywords;
pub mod quality;
pub mod reads;

use serde_json::Value;

use crate::convrs::phone_of_uid;
use crate::convrs::wire::ConversationMessage;
use crate::queue::{
    Acted, Effect, HearRules, Heard, InboundMessage, InboundSource, Store, StoreError,
};

pub use keywords::{Keywords, normalise};

/// The setting that says whether possible opt-outs act (`campaign opt-out possible act`).
pub const POSSIBLE_SETTING: &str = "possible_opt_outs";

/// The setting that holds the text an opt-out is answered with (`campaign opt-out confirm`).
pub const CONFIRM_SETTING: &str = "opt_out_confirmation";

/// A client's text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    pub uid: String,
    pub mid: String,
    pub text: String,
    /// When the client sent it (unix ms).
    pub dt_ms: i64,
}

/// The client's text messages among conversation entries (GetConversation's `data`, or an
/// `onUserConversation` event's), sent after `since_ms`. Entries by agents or the system,
/// other types (images, notes), and entries without a mid or a time we can read are left out:
/// a message we cannot date cannot be ordered against a STOP or a START.
pub fn client_messages(
    uid: &str,
    entries: &[ConversationMessage],
    since_ms: i64,
) -> Vec<ClientMessage> {
    entries
        .iter()
        .filter(|e| e.sender == "client" && e.typ == "text" && !e.mid.is_empty())
        .filter_map(|e| {
            let dt_ms = chrono::DateTime::parse_from_rfc3339(&e.dt)
                .ok()?
                .timestamp_millis();
            (dt_ms > since_ms).then(|| ClientMessage {
                uid: if e.uid.is_empty() { uid } else { &e.uid }.to_string(),
                mid: e.mid.clone(),
                text: e.msg.clone(),
                dt_ms,
            })
        })
        .collect()
}

/// The entries of an `onUserConversation` event's `data`, as far as they can be read.
pub fn event_entries(data: Option<&Value>) -> Vec<ConversationMessage> {
    match data {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| serde_json::from_value(item.clone()).ok())
            .collect(),
        _ => vec![],
    }
}

/// What hearing a batch of client messages did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Hearing {
    pub new: usize,
    pub replayed: usize,
    pub opt_outs: usize,
    pub opt_ins: usize,
    pub possible: usize,
}

/// Hears client messages: each is kept once, read against the lists in the store, and acted
/// on.
pub async fn hear(
    store: &Store,
    messages: &[ClientMessage],
    source: InboundSource,
) -> Result<Hearing, StoreError> {
    let mut heard = Hearing::default();
    if messages.is_empty() {
        return Ok(heard);
    }
    let keywords = Keywords::new(store.keywords().await?);
    let rules = HearRules {
        possible_acts: store.setting(POSSIBLE_SETTING).await?.as_deref() == Some("act"),
        confirmation: store
            .setting(CONFIRM_SETTING)
            .await?
            .filter(|text| !text.is_empty()),
    };
    for m in messages {
        let verdict = keywords.read(&m.text);
        let effect = match verdict {
            Heard::OptOut => Effect::Suppress,
            Heard::PossibleOptOut if rules.possible_acts => Effect::Suppress,
            Heard::OptIn => Effect::Lift,
            _ => Effect::None,
        };
        let phone = phone_of_uid(&m.uid);
        let inbound = InboundMessage {
            mid: &m.mid,
            uid: &m.uid,
            phone: phone.as_ref().map(|p| p.as_str()),
            text: &m.text,
            dt_ms: m.dt_ms,
            source,
            verdict,
        };
        let acted = store.hear_inbound(&inbound, effect, &rules).await?;
        if acted == Acted::Replayed {
            heard.replayed += 1;
            continue;
        }
        heard.new += 1;
        match verdict {
            Heard::OptOut => heard.opt_outs += 1,
            Heard::OptIn => heard.opt_ins += 1,
            Heard::PossibleOptOut => heard.possible += 1,
            _ => {}
        }
        match acted {
            Acted::Suppressed(true) => tracing::info!(
                source = source.as_str(),
                "a recipient opted out: their number is suppressed"
            ),
            Acted::Lifted(true) => tracing::info!(
                source = source.as_str(),
                "a recipient opted in again: their keyword suppression is lifted"
            ),
            _ => tracing::debug!(
                verdict = verdict.as_str(),
                source = source.as_str(),
                ?acted,
                "heard a client's message"
            ),
        }
    }
    Ok(heard)
}
