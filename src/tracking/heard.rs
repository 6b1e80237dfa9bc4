//! What a webhook body says, read without the store: a delivery callback's ack (which message,
//! which attempt, when), or what a Convrs event asks of the suppression list. Pure, so the
//! receiver's handlers stay thin and arbitrary bodies can be fuzzed (`fuzz/`).

use serde_json::Value;

use crate::clock::now_ms;
use crate::convrs::Ack;
use crate::convrs::phone_of_uid;
use crate::convrs::wire::Callback;
use crate::listening::{ClientMessage, client_messages, event_entries};
use crate::phone::PhoneNumber;

/// A delivery callback as read: an ack of a mid, and what our `webhookPayload` says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackNews {
    pub mid: String,
    pub ack: Ack,
    /// When it happened (unix ms).
    pub at_ms: i64,
    /// Our message and attempt ids, when the payload carries them.
    pub message: Option<i64>,
    pub attempt: Option<i64>,
}

/// A callback body, or why it is refused (400).
pub fn read_callback(body: &[u8]) -> Result<CallbackNews, &'static str> {
    let cb: Callback = serde_json::from_slice(body)
        .map_err(|_| "not a callback: expected JSON with mid and ack")?;
    // The document's callbacks say `ok: 1`; anything else is not a delivery status.
    if cb.ok != 1 {
        return Err("not a delivery callback: ok is not 1");
    }
    let ack = Ack::from_code(cb.ack).ok_or("unknown ack code")?;
    let at_ms = callback_time(&cb.timestamp)?;
    let ours = |key: &str| {
        cb.webhook_payload
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Value::as_i64)
    };
    Ok(CallbackNews {
        message: ours("message"),
        attempt: ours("attempt"),
        mid: cb.mid,
        ack,
        at_ms,
    })
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

/// What a Convrs event asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventNews {
    /// The user's number goes on the suppression list, for this reason; `source` names the
    /// event (onUserEnable lifts only what onUserDisable set).
    Suppress {
        phone: PhoneNumber,
        uid: String,
        reason: &'static str,
        source: &'static str,
    },
    /// onUserEnable: what onUserDisable set for the number is lifted.
    Enable { phone: PhoneNumber },
    /// onUserConversation: the client's text messages in it are heard.
    Conversation { messages: Vec<ClientMessage> },
    /// About a user who is not a WhatsApp or SMS user: no number to suppress.
    NoNumber { command: &'static str },
    /// An event we do not act on.
    Ignored,
}

impl EventNews {
    /// The event's command, as counted (`other` for those we do not act on: a label taken
    /// from the body as it came could be anything).
    pub fn command(&self) -> &'static str {
        match self {
            EventNews::Suppress { source, .. } => source,
            EventNews::Enable { .. } => "onUserEnable",
            EventNews::Conversation { .. } => "onUserConversation",
            EventNews::NoNumber { command } => command,
            EventNews::Ignored => "other",
        }
    }
}

/// An event body, or why it is refused (400).
pub fn read_event(body: &[u8]) -> Result<EventNews, &'static str> {
    let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(body) else {
        return Err("not a Convrs event: expected a JSON object");
    };
    let cmd = event.get("cmd").and_then(Value::as_str).unwrap_or_default();
    let (reason, source) = match cmd {
        "onUserDisable" => ("user disabled (onUserDisable)", "onUserDisable"),
        "onUserDelete" => ("user deleted (onUserDelete)", "onUserDelete"),
        "onUserEnable" => ("", "onUserEnable"),
        "onUserConversation" => ("", "onUserConversation"),
        _ => return Ok(EventNews::Ignored),
    };
    let uid = event
        .get("uid")
        .and_then(Value::as_str)
        .ok_or("the event has no uid")?;
    if cmd == "onUserConversation" {
        let entries = event_entries(event.get("data"));
        return Ok(EventNews::Conversation {
            messages: client_messages(uid, &entries, i64::MIN),
        });
    }
    Ok(match phone_of_uid(uid) {
        Some(phone) if cmd == "onUserEnable" => EventNews::Enable { phone },
        Some(phone) => EventNews::Suppress {
            phone,
            uid: uid.to_string(),
            reason,
            source,
        },
        None => EventNews::NoNumber { command: source },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_says_its_ack_its_time_and_our_ids() {
        let body = br#"{"ok":1,"mid":"m1","ack":2,"timestamp":"2024-11-14T14:28:08","webhookPayload":{"message":7,"attempt":3}}"#;
        let news = read_callback(body).unwrap();
        assert_eq!(
            (news.ack, news.message, news.attempt),
            (Ack::Delivered, Some(7), Some(3))
        );
        assert_eq!(news.at_ms, crate::schedule::utc("2024-11-14T14:28:08Z"));
        let early = br#"{"ok":1,"mid":"m1","ack":2,"timestamp":"1999-12-31T23:59:59"}"#;
        assert!(read_callback(early).is_err());
        assert!(read_callback(br#"{"ok":0,"mid":"m1","ack":2}"#).is_err());
    }
}
