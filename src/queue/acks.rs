//! Acks, from callbacks and polls, feeding one forward-only state machine; per-installation
//! settings. The poll schedule is `polls`.

use super::Lock;
use super::sql::{built, q, q_as, q_scalar};
use super::{InboundSource, MessageState};
use super::{Store, StoreError};
use crate::convrs::Ack;

/// What an incoming ack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckApplied {
    /// The message moved forward; `sent_at` is when it was accepted (unix ms), if known.
    Moved { sent_at: Option<i64> },
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
        let now_ms = self.now_ms();
        let at_ms = heard.at_ms.min(now_ms);
        let mut tx = self.begin(Lock::Beside).await?;
        let Some(row) = q(format!(
            "SELECT state, ack, phone, mid, attempt_id, campaign_id, uid, sent_at, \
             CASE WHEN context IS NULL THEN 0 ELSE 1 END AS has_context FROM messages WHERE id = $1{}",
            self.for_update()
        ))
        .bind(heard.message_id)
        .fetch_optional(&mut tx)
        .await?
        else {
            return Ok(AckApplied::Unknown);
        };
        let (state, current): (MessageState, Option<i64>) =
            (MessageState::parse(row.get("state"))?, row.get("ack"));
        let current_attempt = is_current(
            heard,
            row.get::<Option<&str>, _>("mid"),
            row.get("attempt_id"),
        );
        let kind = if current_attempt {
            "ack"
        } else {
            "ack-superseded"
        };
        let applied = if !keep_event(&mut tx, heard, kind, at_ms, now_ms).await? {
            AckApplied::Replayed
        } else if !current_attempt {
            AckApplied::Superseded
        } else if moves(state, current.and_then(Ack::from_code), heard.ack) {
            move_message(&mut tx, heard, state, at_ms, now_ms).await?;
            after_move(&mut tx, self.backend, heard, &row, at_ms, now_ms).await?;
            AckApplied::Moved {
                sent_at: row.get::<Option<i64>, _>("sent_at"),
            }
        } else {
            q("UPDATE messages SET last_ack_at = CASE WHEN last_ack_at > $1 THEN last_ack_at ELSE $2 END WHERE id = $3",
            )
            .bind(at_ms)
            .bind(at_ms)
            .bind(heard.message_id)
            .execute(&mut tx)
            .await?;
            AckApplied::Stale
        };
        tx.commit().await?;
        Ok(applied)
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

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(q_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Sets `key` to `value`, whatever it was.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        q("INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
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

/// Whether `ack` moves a message in `state` whose last ack was `before`.
fn moves(state: MessageState, before: Option<Ack>, ack: Ack) -> bool {
    match state {
        MessageState::Queued | MessageState::Cancelled => false,
        // Failed by the API's answer (no ack ever): an ack cannot revive it.
        MessageState::Failed if before.is_none() => false,
        _ => before.is_none_or(|old| old.advances_to(ack)),
    }
}

/// Keeps the ack as an event of `kind`; false, keeping nothing, for a replay (the same ack of
/// the same mid from the same source), which is heard once and changes nothing.
async fn keep_event(
    tx: &mut super::Tx,
    heard: &HeardAck<'_>,
    kind: &str,
    at_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let replayed: Option<i32> = q_scalar(
        "SELECT 1 FROM events WHERE message_id = $1 AND source = $2 AND kind = $3 AND ack = $4
           AND detail IS NOT DISTINCT FROM $5 LIMIT 1",
    )
    .bind(heard.message_id)
    .bind(heard.source)
    .bind(kind)
    .bind(heard.ack.code())
    .bind(heard.mid)
    .fetch_optional(&mut *tx)
    .await?;
    if replayed.is_some() {
        return Ok(false);
    }
    q("INSERT INTO events (message_id, at, at_ms, source, kind, ack, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(heard.message_id)
        .bind(now_ms)
        .bind(at_ms)
        .bind(heard.source)
        .bind(kind)
        .bind(heard.ack.code())
        .bind(heard.mid)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// Moves a message in `state` to what the ack says (one still `sending` keeps that state: the
/// recorder maps the ack to a state when it records the answer).
async fn move_message(
    tx: &mut super::Tx,
    heard: &HeardAck<'_>,
    state: MessageState,
    at_ms: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    let ack = heard.ack;
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
    .bind(now_ms)
    .bind(heard.message_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What an ack that moves its message sets going, in its transaction: a -2 suppresses the
/// number, a delivery starts the context after the send, a reply asks for the conversation.
/// `row` is `record_ack`'s read of the message (its columns by name).
async fn after_move(
    tx: &mut super::Tx,
    backend: super::Backend,
    heard: &HeardAck<'_>,
    row: &super::sql::Row,
    at_ms: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    // Only the ack that moves the message suppresses: a late or repeated -2 does not
    // put back a number the operator took off the list.
    if heard.ack == Ack::NotOnWhatsApp {
        q("INSERT INTO suppressions (phone, reason, source, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (phone) DO NOTHING")
            .bind(row.get::<String, _>("phone"))
            .bind("not on WhatsApp (ack -2)")
            .bind(heard.source)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
    }
    // Context after the send: an ack that it reached the phone triggers it (for a
    // campaign that waits for delivery, or one whose acceptance was never recorded),
    // when the message has context to set.
    if heard.ack.code() >= Ack::Delivered.code() && row.get::<i32, _>("has_context") == 1 {
        let mut jobs = super::context::enqueue(
            backend,
            &[heard.message_id],
            "'accepted', 'delivered'",
            now_ms,
        );
        built(&mut jobs).execute(&mut *tx).await?;
    }
    // A reply: its text is read with GetConversation (by the campaign's poller), to
    // hear an opt-out in it.
    if heard.ack == Ack::Replied
        && let Some(uid) = row.get::<Option<String>, _>("uid")
    {
        let since = row.get::<Option<i64>, _>("sent_at").unwrap_or(at_ms);
        q(super::reads::WANT_CONVERSATION)
            .bind(row.get::<i64, _>("campaign_id"))
            .bind(uid)
            .bind(InboundSource::Reply.as_str())
            .bind(since)
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
