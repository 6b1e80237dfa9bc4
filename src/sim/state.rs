//! The simulator's memory: users, messages, conversations and the sliding rate windows.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::acks::Channel;

/// A bot the simulator knows, with the channels it can send on.
#[derive(Debug, Clone)]
pub struct Bot {
    pub id: i64,
    pub whatsapp: bool,
    pub sms: bool,
    /// The user-object `bot` name (WA3, CMS, Telegram, ...).
    pub platform: &'static str,
}

pub fn default_bots() -> Vec<Bot> {
    vec![
        Bot {
            id: 3941,
            whatsapp: true,
            sms: true,
            platform: "WA3",
        },
        Bot {
            id: 3942,
            whatsapp: false,
            sms: true,
            platform: "CMS",
        },
        Bot {
            id: 73,
            whatsapp: false,
            sms: false,
            platform: "Telegram",
        },
    ]
}

#[derive(Debug, Clone)]
pub struct SimUser {
    pub uid: String,
    pub name: String,
    pub phone: String,
    pub bot: String,
    pub bot_id: i64,
    pub created: DateTime<Utc>,
    pub email: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub data: serde_json::Map<String, Value>,
}

impl SimUser {
    pub fn to_json(&self) -> Value {
        let (first, last) = self.name.split_once(' ').unwrap_or((&self.name, ""));
        json!({
            "uid": self.uid, "name": self.name, "first_name": first, "last_name": last,
            "email": self.email, "phone": self.phone, "bot": self.bot, "botID": self.bot_id,
            "lang": "en", "created": iso(self.created), "notes": self.notes,
            "url": format!("https://app.conv.rs/u/{}", self.uid),
        })
    }
}

#[derive(Debug, Clone)]
pub struct SimMessage {
    pub uid: String,
    pub bot_id: i64,
    pub plan: &'static [i64],
    pub accepted: Instant,
    /// The same, on the wall clock (for the times of replies).
    pub accepted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ConversationEntry {
    pub mid: String,
    pub msg: String,
    pub sender: &'static str,
    pub dt: DateTime<Utc>,
    pub bot: String,
}

/// Sliding one-second windows: at most `limit` events per key in any second (0 = no limit).
#[derive(Debug, Default)]
pub struct Windows {
    events: HashMap<String, VecDeque<Instant>>,
}

impl Windows {
    /// Records an event for `key` if the window has room; false when the limit is reached.
    pub fn admit(&mut self, key: &str, limit: u32, now: Instant) -> bool {
        if limit == 0 {
            return true;
        }
        let window = self.events.entry(key.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        if self.events.len() > 50_000 {
            self.events.retain(|_, w| {
                w.back()
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(1))
            });
        }
        true
    }

    /// Would `admit` succeed? (Checks without recording.)
    pub fn has_room(&mut self, key: &str, limit: u32, now: Instant) -> bool {
        if limit == 0 {
            return true;
        }
        match self.events.get_mut(key) {
            None => true,
            Some(window) => {
                while window
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    window.pop_front();
                }
                window.len() < limit as usize
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct SimState {
    pub users: HashMap<String, SimUser>,
    pub user_order: Vec<String>,
    pub messages: HashMap<String, SimMessage>,
    /// Each user's messages (mids), for their replies.
    pub mids_of: HashMap<String, Vec<String>>,
    pub conversations: HashMap<String, Vec<ConversationEntry>>,
    pub token_windows: Windows,
    pub number_windows: Windows,
    pub tags: Vec<String>,
    pub next_mid: u64,
}

impl SimState {
    /// A state holding `users` from the start.
    pub fn with_users(users: &[crate::convrs::wire::User]) -> Self {
        let mut state = SimState::default();
        for u in users {
            state.user_order.push(u.uid.clone());
            let user = SimUser {
                uid: u.uid.clone(),
                name: u.name.clone(),
                phone: u.phone.clone(),
                bot: u.bot.clone(),
                bot_id: u.bot_id,
                created: crate::clock::parse_iso(&u.created).unwrap_or_else(Utc::now),
                email: u.email.clone(),
                notes: u.notes.clone(),
                tags: vec![],
                data: Default::default(),
            };
            state.users.insert(u.uid.clone(), user);
        }
        state
    }

    pub fn new_mid(&mut self) -> String {
        self.next_mid += 1;
        // 24 hex digits, like the document's examples.
        format!(
            "{:08x}{:016x}",
            Utc::now().timestamp() as u32,
            self.next_mid
        )
    }

    pub fn ensure_user(&mut self, uid: &str, phone: &str, bot: &Bot, channel: Channel) {
        if self.users.contains_key(uid) {
            return;
        }
        let user = SimUser {
            uid: uid.to_string(),
            name: String::new(),
            phone: phone.to_string(),
            bot: match channel {
                Channel::WhatsApp => "WA3".into(),
                Channel::Sms => "CMS".into(),
            },
            bot_id: bot.id,
            created: Utc::now(),
            email: String::new(),
            notes: String::new(),
            tags: vec![],
            data: Default::default(),
        };
        self.user_order.push(uid.to_string());
        self.users.insert(uid.to_string(), user);
    }
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_limit_per_second_and_slides() {
        let mut w = Windows::default();
        let t0 = Instant::now();
        assert!(w.admit("a", 2, t0));
        assert!(w.admit("a", 2, t0 + Duration::from_millis(500)));
        assert!(!w.admit("a", 2, t0 + Duration::from_millis(999)));
        assert!(w.admit("b", 2, t0 + Duration::from_millis(999)));
        assert!(w.admit("a", 2, t0 + Duration::from_millis(1000)));
        assert!(!w.admit("a", 2, t0 + Duration::from_millis(1400)));
        assert!(w.admit("a", 0, t0));
    }
}
