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

/// A message an earlier simulator took, remembered by a new one (a rehearsal tracked, or run
/// again, after its simulator ended): its acks and replies unfold from when it was taken, as
/// they would have on the simulator that took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierSend {
    pub mid: String,
    /// `{botID}-wa3-{digits}` or `{botID}-cms-{digits}`; any other is not remembered.
    pub uid: String,
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

    /// Remembers what earlier simulators took (see `EarlierSend`); a uid this simulator's bots
    /// could not have sent to is skipped. Mids made later never repeat a remembered one.
    pub fn remember(&mut self, earlier: &[EarlierSend], bots: &[Bot]) {
        let now = (Instant::now(), Utc::now());
        for send in earlier {
            let Some((bot, tag, digits)) = crate::convrs::uid_parts(&send.uid) else {
                continue;
            };
            let channel = match tag {
                "wa3" => Channel::WhatsApp,
                "cms" => Channel::Sms,
                _ => continue,
            };
            let Some(bot) = bots.iter().find(|b| b.id.to_string() == bot) else {
                continue;
            };
            self.ensure_user(&send.uid, &format!("+{digits}"), bot, channel);
            let elapsed = (now.1 - send.accepted_at).to_std().unwrap_or_default();
            // An Instant cannot go back before the machine started: such a message is old
            // enough for every ack it will ever have.
            let accepted = now.0.checked_sub(elapsed).unwrap_or_else(|| {
                now.0
                    .checked_sub(Duration::from_secs(3600))
                    .unwrap_or(now.0)
            });
            self.messages.insert(
                send.mid.clone(),
                SimMessage {
                    uid: send.uid.clone(),
                    bot_id: bot.id,
                    plan: super::acks::plan(channel, digits),
                    accepted,
                    accepted_at: send.accepted_at,
                },
            );
            self.mids_of
                .entry(send.uid.clone())
                .or_default()
                .push(send.mid.clone());
            // The mid's counter (its last 16 hex digits): new ones start past it.
            let counter = send
                .mid
                .get(send.mid.len().saturating_sub(16)..)
                .and_then(|c| u64::from_str_radix(c, 16).ok());
            self.next_mid = self.next_mid.max(counter.unwrap_or(0));
        }
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

    #[test]
    fn a_remembered_send_has_the_acks_of_its_age_and_new_mids_never_repeat_it() {
        let mut state = SimState::default();
        let taken = |mid: &str, uid: &str, secs: i64| EarlierSend {
            mid: mid.into(),
            uid: uid.into(),
            accepted_at: Utc::now() - chrono::TimeDelta::seconds(secs),
        };
        state.remember(
            &[
                taken("65f000000000000000000005", "3941-wa3-447700900128", 10),
                taken("65f000000000000000000002", "3942-cms-447700900121", 0),
                taken("65f000000000000000000009", "73-tel-615940546", 10),
            ],
            &default_bots(),
        );
        let old = &state.messages["65f000000000000000000005"];
        let step = Duration::from_millis(500);
        assert_eq!(
            super::super::acks::current(old.plan, old.accepted.elapsed(), step),
            10,
            "taken 10 s ago: replied by now"
        );
        let new = &state.messages["65f000000000000000000002"];
        assert_eq!(
            super::super::acks::current(new.plan, new.accepted.elapsed(), step),
            0
        );
        assert_eq!(state.users["3942-cms-447700900121"].phone, "+447700900121");
        assert!(!state.messages.contains_key("65f000000000000000000009"));
        assert!(state.new_mid().ends_with("0000000000000006"));
    }
}
