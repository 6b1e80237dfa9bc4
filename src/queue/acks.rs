//! Acks, from callbacks and polls, feeding one forward-only state machine; the poll schedule;
//! per-installation settings.

use sqlx::Row;

use super::{CampaignId, Store, StoreError, now};
use crate::convrs::Ack;

/// What an incoming ack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckApplied {
    /// The message moved forward.
    Moved,
    /// Kept as an event; the message already had this ack or a later one.
    Stale,
    /// No such message.
    Unknown,
}

/// The state a message is in once it has this ack.
pub fn state_for(ack: Ack) -> &'static str {
    match ack {
        Ack::Server | Ack::Sent => "sent",
        Ack::Delivered => "delivered",
        Ack::Read => "read",
        Ack::Replied => "replied",
        Ack::Error | Ack::NotOnWhatsApp => "failed",
    }
}

/// A message due for GetMessageDetails.
#[derive(Debug, Clone)]
pub struct DuePoll {
    pub message_id: i64,
    pub mid: String,
    pub polls: i64,
    pub sent_at: i64,
    /// When an ack was last heard (callback or poll), unix ms.
    pub last_ack_at: Option<i64>,
}

impl Store {
    /// Applies an ack heard from `source` ("callback" or "poll") at `at_ms`. Replays and
    /// out-of-order acks never move a message backwards; every ack is kept as an event. An ack
    /// for a message still `sending` (the callback beat our own record of the answer) or
    /// `uncertain` (it proves the message was sent) is kept too. Ack -2 suppresses the number.
    pub async fn record_ack(
        &self,
        message_id: i64,
        ack: Ack,
        source: &str,
        at_ms: i64,
        mid: Option<&str>,
    ) -> Result<AckApplied, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let Some(row) = sqlx::query("SELECT state, ack, phone FROM messages WHERE id = ?")
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(AckApplied::Unknown);
        };
        let (state, current, phone): (String, Option<i64>, String) =
            (row.get(0), row.get(1), row.get(2));
        sqlx::query("INSERT INTO events (message_id, at, at_ms, source, kind, ack) VALUES (?, ?, ?, ?, 'ack', ?)")
            .bind(message_id)
            .bind(now())
            .bind(at_ms)
            .bind(source)
            .bind(ack.code())
            .execute(&mut *tx)
            .await?;
        let acked_before = current.and_then(Ack::from_code);
        let moves = match state.as_str() {
            "queued" | "cancelled" => false,
            // Failed by the API's answer (no ack ever): an ack cannot revive it.
            "failed" if acked_before.is_none() => false,
            _ => acked_before.is_none_or(|old| old.advances_to(ack)),
        };
        if moves {
            // Still `sending`: the recorder maps the ack to a state when it records the answer.
            let new_state = if state == "sending" {
                "sending"
            } else {
                state_for(ack)
            };
            sqlx::query(
                "UPDATE messages SET ack = ?, state = ?, mid = COALESCE(mid, ?), last_ack_at = ?,
                     delivered_at = CASE WHEN ? >= 2 AND delivered_at IS NULL THEN ? ELSE delivered_at END,
                     error = CASE WHEN ? < 0 THEN ? ELSE error END,
                     next_poll_at = CASE WHEN ? THEN NULL ELSE next_poll_at END, updated_at = ?
                 WHERE id = ?",
            )
            .bind(ack.code())
            .bind(new_state)
            .bind(mid)
            .bind(at_ms)
            .bind(ack.code())
            .bind(at_ms)
            .bind(ack.code())
            .bind(format!("ack {ack}"))
            .bind(ack.is_final())
            .bind(now())
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE messages SET last_ack_at = MAX(COALESCE(last_ack_at, 0), ?) WHERE id = ?",
            )
            .bind(at_ms)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        }
        if ack == Ack::NotOnWhatsApp {
            sqlx::query("INSERT OR IGNORE INTO suppressions (phone, reason, source, created_at) VALUES (?, ?, ?, ?)")
                .bind(&phone)
                .bind("not on WhatsApp (ack -2)")
                .bind(source)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(if moves {
            AckApplied::Moved
        } else {
            AckApplied::Stale
        })
    }

    /// Messages whose next poll is due.
    pub async fn due_polls(
        &self,
        campaign: CampaignId,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DuePoll>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, mid, polls, COALESCE(sent_at, 0), last_ack_at FROM messages
             WHERE campaign_id = ? AND next_poll_at IS NOT NULL AND next_poll_at <= ? AND mid IS NOT NULL
             ORDER BY next_poll_at LIMIT ?",
        )
        .bind(campaign)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DuePoll {
                message_id: r.get(0),
                mid: r.get(1),
                polls: r.get(2),
                sent_at: r.get(3),
                last_ack_at: r.get(4),
            })
            .collect())
    }

    /// Schedules the next poll (`None`: stop polling this message).
    pub async fn schedule_poll(
        &self,
        message_id: i64,
        polls: i64,
        next_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE messages SET polls = ?, next_poll_at = ? WHERE id = ?")
            .bind(polls)
            .bind(next_at)
            .bind(message_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The message a callback speaks of: by our id (from `webhookPayload`) or by its mid.
    pub async fn message_for_callback(
        &self,
        message_id: Option<i64>,
        mid: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64, Option<String>)> = match message_id {
            Some(id) => {
                sqlx::query_as("SELECT id, mid FROM messages WHERE id = ?")
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
            }
            None => {
                sqlx::query_as("SELECT id, mid FROM messages WHERE mid = ?")
                    .bind(mid)
                    .fetch_optional(self.pool())
                    .await?
            }
        };
        // A callback whose mid is not the message's own is not about this message.
        Ok(row
            .filter(|(_, known)| known.as_deref().is_none_or(|k| k == mid))
            .map(|(id, _)| id))
    }

    /// When the campaign's next poll is due, if any.
    pub async fn next_poll(&self, campaign: CampaignId) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT MIN(next_poll_at) FROM messages WHERE campaign_id = ?")
                .bind(campaign)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// How many sent messages have no delivery ack (or failure) yet.
    pub async fn undelivered(&self, campaign: CampaignId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND state = 'sent'",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Sets `key` unless it is set already; returns the value in force.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)")
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
