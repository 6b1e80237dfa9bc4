//! Acks, from callbacks and polls, feeding one forward-only state machine; the poll schedule;
//! per-installation settings.

use super::Lock;
use super::MessageState;
use super::sql::{Builder, built, flag, q, q_as, q_scalar};
use super::{Backend, CampaignId, Store, StoreError};
use crate::convrs::Ack;

/// What an incoming ack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckApplied {
    /// The message moved forward.
    Moved,
    /// Kept as an event; the message already had this ack or a later one.
    Stale,
    /// Kept as an event only: it is about an earlier attempt of the message (sent again since).
    Superseded,
    /// Heard before, from the same source: nothing kept, nothing changed.
    Replayed,
    /// No such message.
    Unknown,
}

/// An ack as heard, and what it says it is about.
#[derive(Debug, Clone)]
pub struct HeardAck<'a> {
    pub message_id: i64,
    pub ack: Ack,
    /// "callback" or "poll".
    pub source: &'a str,
    /// When it happened (unix ms); a time in the future is taken as now.
    pub at_ms: i64,
    /// The mid it is about (callbacks and polls both know it).
    pub mid: Option<&'a str>,
    /// The attempt it is about, when the callback carries it (our `webhookPayload`).
    pub attempt: Option<i64>,
}

/// The state a message is in once it has this ack.
pub fn state_for(ack: Ack) -> MessageState {
    match ack {
        Ack::Server | Ack::Sent => MessageState::Sent,
        Ack::Delivered => MessageState::Delivered,
        Ack::Read => MessageState::Read,
        Ack::Replied => MessageState::Replied,
        Ack::Error | Ack::NotOnWhatsApp => MessageState::Failed,
    }
}

/// `state_for` as an SQL expression over the ack code in `column`: the same rule, written once.
pub fn state_for_sql(column: &str) -> String {
    let mut sql = String::from("CASE");
    for ack in Ack::ALL {
        sql.push_str(&format!(
            " WHEN {column} = {} THEN '{}'",
            ack.code(),
            state_for(ack)
        ));
    }
    sql.push_str(" ELSE 'sent' END");
    sql
}

/// The final acks' codes as an SQL list (`-2, -1, 10`): `Ack::is_final`, written once.
pub fn final_acks_sql() -> String {
    Ack::ALL
        .iter()
        .filter(|a| a.is_final())
        .map(|a| a.code().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long a message claimed for a poll is held from other pollers (`Store::due_polls`):
/// longer than a batch of polls takes at the slowest poll rate (1/s).
pub const POLL_HOLD_MS: i64 = 10 * 60_000;

/// The messages of a campaign whose poll is due (`$1` campaign, `$2` now, `$3` at most).
macro_rules! due_polls {
    () => {
        "SELECT m.id, m.mid, m.polls, COALESCE(m.sent_at, 0) AS sent_at, m.last_ack_at,
            c.channel = 'sms' AS sms, m.ack,
            EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id AND e.source = 'callback') AS callbacks
         FROM messages m JOIN campaigns c ON c.id = m.campaign_id
         WHERE m.campaign_id = $1 AND m.next_poll_at IS NOT NULL AND m.next_poll_at <= $2
             AND m.mid IS NOT NULL
         ORDER BY m.next_poll_at LIMIT $3"
    };
}
const DUE_POLLS: &str = due_polls!();
/// Another worker's claim of a due poll is skipped, not waited for.
const DUE_POLLS_PG: &str = concat!(due_polls!(), " FOR UPDATE OF m SKIP LOCKED");

/// A message due for GetMessageDetails.
#[derive(Debug, Clone)]
pub struct DuePoll {
    pub message_id: i64,
    pub mid: String,
    pub polls: i64,
    pub sent_at: i64,
    /// When an ack was last heard (callback or poll), unix ms.
    pub last_ack_at: Option<i64>,
    /// An SMS: nothing follows delivered (no read receipts, no replies to a template).
    pub sms: bool,
    /// Its ack now, if any.
    pub ack: Option<i64>,
    /// Whether callbacks were heard about it: they work for it, and a reply comes by one.
    pub callbacks: bool,
}

/// Whether an ack is about the message's current attempt: by mid once the answer gave one, by
/// attempt id while it has none (the callback beat the answer).
fn is_current(heard: &HeardAck, mid: Option<&str>, attempt: Option<i64>) -> bool {
    match (heard.mid, mid) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => heard.attempt.is_none_or(|a| Some(a) == attempt),
    }
}

impl Store {
    /// Applies an ack. Replays and out-of-order acks never move a message backwards, an ack of
    /// an earlier attempt changes nothing, and every ack is kept as an event, once (a replay of
    /// one already heard from the same source adds nothing). An ack for a
    /// message still `sending` (the callback beat our own record of the answer) or `uncertain`
    /// (it proves the message was sent) is kept too. Ack -2 suppresses the number.
    pub async fn record_ack(&self, heard: &HeardAck<'_>) -> Result<AckApplied, StoreError> {
        let ack = heard.ack;
        let at_ms = heard.at_ms.min(self.now_ms());
        let mut tx = self.begin(Lock::Beside).await?;
        let Some(row) = q(format!(
            "SELECT state, ack, phone, mid, attempt_id FROM messages WHERE id = $1{}",
            self.for_update()
        ))
        .bind(heard.message_id)
        .fetch_optional(&mut tx)
        .await?
        else {
            return Ok(AckApplied::Unknown);
        };
        let (state, current, phone): (MessageState, Option<i64>, String) =
            (MessageState::parse(row.get(0))?, row.get(1), row.get(2));
        let current_attempt = is_current(heard, row.get::<Option<&str>, _>(3), row.get(4));
        let kind = if current_attempt {
            "ack"
        } else {
            "ack-superseded"
        };
        // A replay (the same ack of the same mid from the same source) is heard once: it adds
        // no event and changes nothing.
        let replayed: Option<i32> = q_scalar(
            "SELECT 1 FROM events WHERE message_id = $1 AND source = $2 AND kind = $3 AND ack = $4
               AND detail IS NOT DISTINCT FROM $5 LIMIT 1",
        )
        .bind(heard.message_id)
        .bind(heard.source)
        .bind(kind)
        .bind(ack.code())
        .bind(heard.mid)
        .fetch_optional(&mut tx)
        .await?;
        if replayed.is_some() {
            tx.commit().await?;
            return Ok(AckApplied::Replayed);
        }
        q("INSERT INTO events (message_id, at, at_ms, source, kind, ack, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(heard.message_id)
            .bind(self.now_ms())
            .bind(at_ms)
            .bind(heard.source)
            .bind(kind)
            .bind(ack.code())
            .bind(heard.mid)
            .execute(&mut tx)
            .await?;
        if !current_attempt {
            tx.commit().await?;
            return Ok(AckApplied::Superseded);
        }
        let acked_before = current.and_then(Ack::from_code);
        let moves = match state {
            MessageState::Queued | MessageState::Cancelled => false,
            // Failed by the API's answer (no ack ever): an ack cannot revive it.
            MessageState::Failed if acked_before.is_none() => false,
            _ => acked_before.is_none_or(|old| old.advances_to(ack)),
        };
        if moves {
            // Still `sending`: the recorder maps the ack to a state when it records the answer.
            let new_state = if state == MessageState::Sending {
                MessageState::Sending
            } else {
                state_for(ack)
            };
            q("UPDATE messages SET ack = $1, state = $2, mid = COALESCE(mid, $3), last_ack_at = $4,
                     delivered_at = CASE WHEN $5 >= 2 AND delivered_at IS NULL THEN $6 ELSE delivered_at END,
                     error = CASE WHEN $7 < 0 THEN $8 ELSE error END,
                     next_poll_at = CASE WHEN $9 THEN NULL ELSE next_poll_at END, updated_at = $10
                 WHERE id = $11",
            )
            .bind(ack.code())
            .bind(new_state.as_str())
            .bind(heard.mid)
            .bind(at_ms)
            .bind(ack.code())
            .bind(at_ms)
            .bind(ack.code())
            .bind(format!("ack {ack}"))
            .bind(ack.is_final())
            .bind(self.now_ms())
            .bind(heard.message_id)
            .execute(&mut tx)
            .await?;
        } else {
            q("UPDATE messages SET last_ack_at = CASE WHEN last_ack_at > $1 THEN last_ack_at ELSE $2 END WHERE id = $3",
            )
            .bind(at_ms)
            .bind(at_ms)
            .bind(heard.message_id)
            .execute(&mut tx)
            .await?;
        }
        // Only the ack that moves the message suppresses: a late or repeated -2 does not put
        // back a number the operator took off the list.
        if moves && ack == Ack::NotOnWhatsApp {
            q("INSERT INTO suppressions (phone, reason, source, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (phone) DO NOTHING")
                .bind(&phone)
                .bind("not on WhatsApp (ack -2)")
                .bind(heard.source)
                .bind(self.now_ms())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(if moves {
            AckApplied::Moved
        } else {
            AckApplied::Stale
        })
    }

    /// Claims the messages whose next poll is due: each is held for `POLL_HOLD_MS` (its next
    /// poll put that far off), so that another process asking at the same time gets others,
    /// never the same message in the same interval. The poller sets the real next poll once it
    /// has asked (`schedule_poll`); a process that dies holding some leaves them due again
    /// when the hold ends.
    pub async fn due_polls(
        &self,
        campaign: CampaignId,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DuePoll>, StoreError> {
        let mut tx = self.begin(Lock::Beside).await?;
        let due = match self.backend {
            Backend::Sqlite => DUE_POLLS,
            Backend::Postgres => DUE_POLLS_PG,
        };
        let rows = q(due)
            .bind(campaign)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut tx)
            .await?;
        let due: Vec<DuePoll> = rows
            .into_iter()
            .map(|r| DuePoll {
                message_id: r.get("id"),
                mid: r.get("mid"),
                polls: r.get("polls"),
                sent_at: r.get("sent_at"),
                last_ack_at: r.get("last_ack_at"),
                sms: flag(&r, "sms"),
                ack: r.get("ack"),
                callbacks: flag(&r, "callbacks"),
            })
            .collect();
        if !due.is_empty() {
            let ids: Vec<i64> = due.iter().map(|d| d.message_id).collect();
            let mut hold = Builder::new(self.backend, "UPDATE messages SET next_poll_at = ");
            hold.push_bind(now_ms.saturating_add(POLL_HOLD_MS))
                .push(" WHERE ")
                .push_in("id", &ids);
            built(&mut hold).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Schedules the next poll (`None`: stop polling this message).
    pub async fn schedule_poll(
        &self,
        message_id: i64,
        polls: i64,
        next_at: Option<i64>,
    ) -> Result<(), StoreError> {
        q("UPDATE messages SET polls = $1, next_poll_at = $2 WHERE id = $3")
            .bind(polls)
            .bind(next_at)
            .bind(message_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The message a callback speaks of, and its campaign's channel: by our id (from
    /// `webhookPayload`) or by its mid.
    pub async fn message_for_callback(
        &self,
        message_id: Option<i64>,
        mid: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let row: Option<(i64, String)> = match message_id {
            Some(id) => q_as(
                "SELECT m.id, c.channel FROM messages m JOIN campaigns c ON c.id = m.campaign_id
                      WHERE m.id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?,
            None => q_as(
                "SELECT m.id, c.channel FROM messages m JOIN campaigns c ON c.id = m.campaign_id
                      WHERE m.mid = $1",
            )
            .bind(mid)
            .fetch_optional(self.pool())
            .await?,
        };
        // Found by our id, a callback is about this message, perhaps an earlier attempt of it
        // (`record_ack` tells); found by mid, it is about the attempt that got that mid.
        Ok(row)
    }

    /// When the campaign's next poll is due, if any.
    pub async fn next_poll(&self, campaign: CampaignId) -> Result<Option<i64>, StoreError> {
        Ok(
            q_scalar("SELECT MIN(next_poll_at) FROM messages WHERE campaign_id = $1")
                .bind(campaign)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// How many messages still await an ack: sent, without a final one, not yet too old to poll.
    pub async fn awaiting_acks(&self, campaign: CampaignId) -> Result<i64, StoreError> {
        Ok(q_scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND next_poll_at IS NOT NULL",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?)
    }

    /// Campaigns with messages awaiting an ack or uncertain, and their channel, oldest first.
    pub async fn campaigns_to_track(&self) -> Result<Vec<(CampaignId, String)>, StoreError> {
        let rows: Vec<(i64, String)> = q_as("SELECT c.id, c.channel FROM campaigns c WHERE EXISTS (SELECT 1 FROM messages m
                 WHERE m.campaign_id = c.id AND (m.next_poll_at IS NOT NULL OR m.state = 'uncertain'))
             ORDER BY c.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, ch)| (CampaignId(id), ch))
            .collect())
    }

    /// The campaigns on a token (by fingerprint) with messages to poll, and the options they
    /// were queued with.
    pub async fn campaigns_to_track_on(
        &self,
        token: &str,
    ) -> Result<Vec<(CampaignId, Option<super::SendOptions>)>, StoreError> {
        let rows: Vec<(i64, Option<String>)> = q_as("SELECT c.id, c.send_options FROM campaigns c WHERE c.token_fingerprint = $1 AND EXISTS (SELECT 1 FROM messages m
                 WHERE m.campaign_id = c.id AND m.next_poll_at IS NOT NULL)
             ORDER BY c.id",
        )
        .bind(token)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, o)| Ok((CampaignId(id), super::stored("send options", o)?)))
            .collect()
    }

    /// How many sent messages have no delivery ack (or failure) yet.
    pub async fn undelivered(&self, campaign: CampaignId) -> Result<i64, StoreError> {
        Ok(
            q_scalar("SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND state = 'sent'")
                .bind(campaign)
                .fetch_one(self.pool())
                .await?,
        )
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(q_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Sets `key` unless it is set already; returns the value in force.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        q("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(self.pool())
            .await?;
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }
}
