//! The 24-hour window of a text campaign's recipients, checked at load: a user's newest
//! message to us (the `inbound` table, else their conversation through GetConversation, on
//! the poll budget) must be recent enough that the window, less the campaign's margin, is
//! still open. A row outside it is a reject; one inside it expires when its window closes.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::text::WINDOW_MS;
use crate::convrs::{CallError, Client, ErrorCode};

/// GetConversation calls a second a load makes, unless told otherwise: the poller's default
/// budget (`--poll-rate`), which reading conversations shares.
pub const DEFAULT_RATE: u32 = 5;

/// A row's window as the load found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// Open: the message must leave before `closes_ms` (the window's end less the margin).
    Open { closes_ms: i64 },
    /// Closed, or never opened: why, for the reject.
    Closed(String),
    /// The conversation could not be read (the API failed): why, for the reject.
    Unread(String),
    /// Not known: nothing heard, and no API to ask (`validate` without a token).
    Unknown,
}

/// How a load's text rows stood against their window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WindowCounts {
    /// Inside their window now (they are queued, and expire when it closes).
    pub open: u64,
    /// Outside it (rejected: a template is required).
    pub closed: u64,
    /// Not known: no API was there to read their conversation.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown: u64,
    /// Not checked: the API failed to give their conversation (rejected; a run again checks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unread: u64,
    /// When the first of the open windows closes (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_close_ms: Option<i64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WindowCounts {
    pub fn count(&mut self, window: &Window) {
        match window {
            Window::Open { closes_ms } => {
                self.open += 1;
                self.first_close_ms = Some(
                    self.first_close_ms
                        .map_or(*closes_ms, |f| f.min(*closes_ms)),
                );
            }
            Window::Closed(_) => self.closed += 1,
            Window::Unread(_) => self.unread += 1,
            Window::Unknown => self.unknown += 1,
        }
    }
}

/// GetConversation, for users the inbound table has not heard from, run from the loader's
/// blocking thread on the runtime it was made on.
struct Asker {
    client: Client,
    limiter: DefaultDirectRateLimiter,
    handle: tokio::runtime::Handle,
}

/// Finds each row's window. Made on the runtime (it keeps a handle to it); used from the
/// loader's blocking thread.
pub struct WindowCheck {
    /// The newest message heard from each user in the last 24 hours (unix ms).
    heard: HashMap<String, i64>,
    ask: Option<Asker>,
    margin_ms: i64,
    now_ms: i64,
}

impl WindowCheck {
    /// `heard`: the inbound table's newest message per user since `now_ms - 24 h`; `client`
    /// reads the conversation of a user not in it, at most `rate` a second.
    pub fn new(
        heard: HashMap<String, i64>,
        client: Option<&Client>,
        rate: u32,
        margin_ms: i64,
        now_ms: i64,
    ) -> Self {
        let ask = client.map(|client| Asker {
            client: client.clone(),
            limiter: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(rate.max(1)).expect("non-zero"),
            )),
            handle: tokio::runtime::Handle::current(),
        });
        WindowCheck {
            heard,
            ask,
            margin_ms,
            now_ms,
        }
    }

    /// The window of `uid`'s conversation now. Blocks on GetConversation when the user was
    /// not heard from: call it from a blocking thread.
    pub fn of(&self, uid: &str) -> Window {
        let last = match self.heard.get(uid) {
            Some(at) => Some(*at),
            None => match &self.ask {
                None => return Window::Unknown,
                Some(ask) => match ask.handle.block_on(async {
                    ask.limiter.until_ready().await;
                    ask.client.get_conversation(uid).await
                }) {
                    Ok(messages) => newest_client_message(&messages),
                    // The API knows no such user: nobody of that uid ever wrote to us.
                    Err(CallError::Api {
                        code: ErrorCode::UnknownUser,
                        ..
                    }) => None,
                    Err(e) => {
                        return Window::Unread(format!(
                            "cannot read {uid}'s conversation to find its 24-hour window ({e}); \
                             not queued: run again to check it again"
                        ));
                    }
                },
            },
        };
        judge(uid, last, self.margin_ms, self.now_ms)
    }
}

/// When the newest message the client sent was sent (unix ms), if the conversation has one.
fn newest_client_message(messages: &[crate::convrs::wire::ConversationMessage]) -> Option<i64> {
    messages
        .iter()
        .filter(|m| m.sender == "client")
        .filter_map(|m| crate::clock::parse_iso(&m.dt))
        .map(|dt| dt.timestamp_millis())
        .max()
}

/// The window a user's last message (`last`, unix ms) leaves open at `now_ms`, less `margin_ms`.
fn judge(uid: &str, last: Option<i64>, margin_ms: i64, now_ms: i64) -> Window {
    let template = "a WhatsApp template is required (channel = \"whatsapp\")";
    let Some(last) = last else {
        return Window::Closed(format!(
            "{uid} never wrote to us, so no 24-hour window is open: {template}"
        ));
    };
    let closes_ms = last + WINDOW_MS - margin_ms;
    if closes_ms > now_ms {
        Window::Open { closes_ms }
    } else {
        Window::Closed(format!(
            "{uid} last wrote to us at {}, so the 24-hour window (less a {} margin) closed at {}: {template}",
            crate::clock::rfc3339_secs(last),
            minutes(margin_ms),
            crate::clock::rfc3339_secs(closes_ms),
        ))
    }
}

fn minutes(ms: i64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms => format!("{} s", ms / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convrs::wire::ConversationMessage;

    const H: i64 = 3_600_000;
    const MARGIN: i64 = 10 * 60_000;

    #[test]
    fn the_window_closes_24_hours_after_the_last_message_less_the_margin() {
        let now = 100 * H;
        assert_eq!(
            judge("u", Some(now - H), MARGIN, now),
            Window::Open {
                closes_ms: now + 23 * H - MARGIN
            }
        );
        // 23 h 51 min ago: 9 minutes of window left, inside the 10-minute margin.
        let late = judge("u", Some(now - 23 * H - 51 * 60_000), MARGIN, now);
        let Window::Closed(why) = late else {
            panic!("{late:?}")
        };
        assert!(
            why.contains("last wrote to us at") && why.contains("10 min"),
            "{why}"
        );
        let Window::Closed(never) = judge("u", None, MARGIN, now) else {
            panic!()
        };
        assert!(
            never.contains("never wrote to us") && never.contains("template"),
            "{never}"
        );
    }

    #[test]
    fn a_conversation_the_api_would_not_give_is_counted_apart_from_a_closed_window() {
        let mut counts = WindowCounts::default();
        counts.count(&Window::Closed("closed".into()));
        counts.count(&Window::Unread("the API failed".into()));
        counts.count(&Window::Open { closes_ms: 5 });
        counts.count(&Window::Open { closes_ms: 3 });
        assert_eq!(
            (
                counts.open,
                counts.closed,
                counts.unread,
                counts.first_close_ms
            ),
            (2, 1, 1, Some(3))
        );
    }

    #[test]
    fn only_the_clients_own_messages_open_the_window() {
        let msg = |sender: &str, dt: &str| ConversationMessage {
            sender: sender.into(),
            dt: dt.into(),
            ..Default::default()
        };
        let messages = [
            msg("client", "2026-12-01T10:00:00.000Z"),
            msg("agent", "2026-12-02T10:00:00.000Z"),
            msg("client", "2026-12-01T12:00:00.000Z"),
        ];
        let newest = newest_client_message(&messages).unwrap();
        assert_eq!(crate::clock::rfc3339_secs(newest), "2026-12-01T12:00:00Z");
        assert_eq!(
            newest_client_message(&[msg("agent", "2026-12-02T10:00:00Z")]),
            None
        );
    }
}
