//! The poll schedule: which sent messages are due to be asked about, claimed so that two
//! pollers never ask about the same message in the same interval, and what is left to track.

use super::sql::{Builder, built, flag, q, q_as, q_scalar};
use super::{Backend, CampaignId, Lock, Store, StoreError};

/// How long a message claimed for a poll is held from other pollers (`Store::due_polls`):
/// longer than a batch of polls takes at the slowest poll rate (1/s).
pub const POLL_HOLD_MS: i64 = 10 * 60_000;

/// The messages of a campaign whose poll is due (`$1` campaign, `$2` now, `$3` at most).
macro_rules! due_polls {
    () => {
        "SELECT m.id, m.mid, m.uid, m.polls, COALESCE(m.sent_at, 0) AS sent_at, m.last_ack_at,
            c.channel = 'sms' AS sms, m.ack,
            EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id AND e.source = 'callback') AS callbacks
         FROM messages m JOIN campaigns c ON c.id = m.campaign_id
         WHERE m.campaign_id = $1 AND m.next_poll_at IS NOT NULL AND m.next_poll_at <= $2
             AND (m.mid IS NOT NULL OR m.uid IS NOT NULL)
         ORDER BY m.next_poll_at LIMIT $3"
    };
}
pub(super) const DUE_POLLS: &str = due_polls!();
/// Another worker's claim of a due poll is skipped, not waited for.
pub(super) const DUE_POLLS_PG: &str = concat!(due_polls!(), " FOR UPDATE OF m SKIP LOCKED");

/// When campaign `$1`'s next poll is due.
pub(super) const NEXT_POLL: &str =
    "SELECT MIN(next_poll_at) FROM messages WHERE campaign_id = $1 AND next_poll_at IS NOT NULL";

/// Campaigns with messages awaiting an ack or uncertain, or conversations to read. Two lookups,
/// each by its own index (the polls' and the claims'), as scalar subqueries (see
/// `TO_TRACK_ON`).
pub(super) const TO_TRACK: &str = "SELECT c.id, c.channel FROM campaigns c
     WHERE (SELECT MIN(m.next_poll_at) FROM messages m
            WHERE m.campaign_id = c.id AND m.next_poll_at IS NOT NULL) IS NOT NULL
        OR (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.state = 'uncertain' LIMIT 1) IS NOT NULL
        OR (SELECT 1 FROM conversation_reads r WHERE r.campaign_id = c.id LIMIT 1) IS NOT NULL
     ORDER BY c.id";

/// The campaigns on token `$1` with messages to poll or conversations to read. Messages to poll
/// as a MIN, one entry of the polls' index per campaign: PostgreSQL ran the `EXISTS` beside an
/// OR as a hash of every message awaiting an ack (22 ms a read at 60,000 sent, each second of
/// a worker's send).
pub(super) const TO_TRACK_ON: &str =
    "SELECT c.id, c.send_options FROM campaigns c WHERE c.token_fingerprint = $1
         AND ((SELECT MIN(m.next_poll_at) FROM messages m
                 WHERE m.campaign_id = c.id AND m.next_poll_at IS NOT NULL) IS NOT NULL
             OR (SELECT 1 FROM conversation_reads r WHERE r.campaign_id = c.id LIMIT 1) IS NOT NULL)
     ORDER BY c.id";

/// A message due for GetMessageDetails, or (a text accepted without a mid) for its mid to be
/// searched for in its user's conversation.
#[derive(Debug, Clone)]
pub struct DuePoll {
    pub message_id: i64,
    pub mid: Option<String>,
    /// The API's id of the recipient (from the send's answer), if it gave one.
    pub uid: Option<String>,
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

impl Store {
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
                uid: r.get("uid"),
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

    /// What a text accepted without a mid is searched for with: its frozen request, and when
    /// its attempt started (unix ms).
    pub async fn search_basis(&self, message_id: i64) -> Result<(String, i64), StoreError> {
        Ok(q_as(
            "SELECT m.payload, COALESCE(a.started_at, m.sent_at, 0) FROM messages m
             LEFT JOIN attempts a ON a.id = m.attempt_id WHERE m.id = $1",
        )
        .bind(message_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// A text's mid, found in its user's conversation: from now on it is polled as any.
    pub async fn identify(
        &self,
        message_id: i64,
        mid: &str,
        next_at: i64,
    ) -> Result<bool, StoreError> {
        let done = q(
            "UPDATE messages SET mid = $1, polls = 0, next_poll_at = $2, updated_at = $3
             WHERE id = $4 AND mid IS NULL",
        )
        .bind(mid)
        .bind(next_at)
        .bind(self.now_ms())
        .bind(message_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A text whose mid was not found: it stays sent, untracked, with `why`.
    pub async fn untrack(&self, message_id: i64, why: &str) -> Result<(), StoreError> {
        q("UPDATE messages SET next_poll_at = NULL, error = $1, updated_at = $2 WHERE id = $3")
            .bind(why)
            .bind(self.now_ms())
            .bind(message_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many of the campaign's sent messages are untracked: accepted without a mid that
    /// was ever found, so no ack can be asked for.
    pub async fn untracked(&self, campaign: CampaignId) -> Result<i64, StoreError> {
        Ok(q_scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND state = 'sent'
                 AND mid IS NULL AND next_poll_at IS NULL",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?)
    }

    /// What a rehearsal's earlier simulators took and something still follows: each message
    /// with a mid and a uid whose acks are still polled or whose recipient's conversation is
    /// still read, as (mid, uid, sent at in ms). A new simulator remembers them (`track` and
    /// `run` on a rehearsal database), so that a rehearsal can be tracked after its run.
    pub async fn earlier_sends(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = q("SELECT m.mid, m.uid, m.sent_at FROM messages m
             WHERE m.mid IS NOT NULL AND m.uid IS NOT NULL AND m.sent_at IS NOT NULL
                 AND (m.next_poll_at IS NOT NULL OR EXISTS (SELECT 1 FROM conversation_reads r
                     WHERE r.campaign_id = m.campaign_id AND r.uid = m.uid))
             ORDER BY m.id")
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("mid"), r.get("uid"), r.get("sent_at")))
            .collect())
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

    /// When the campaign's next poll is due, if any.
    pub async fn next_poll(&self, campaign: CampaignId) -> Result<Option<i64>, StoreError> {
        Ok(q_scalar(NEXT_POLL)
            .bind(campaign)
            .fetch_one(self.pool())
            .await?)
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

    /// Campaigns with messages awaiting an ack or uncertain, or conversations to read, and their
    /// channel, oldest first.
    pub async fn campaigns_to_track(&self) -> Result<Vec<(CampaignId, String)>, StoreError> {
        let rows: Vec<(i64, String)> = q_as(TO_TRACK).fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, ch)| (CampaignId(id), ch))
            .collect())
    }

    /// The campaigns on a token (by fingerprint) with messages to poll or conversations to
    /// read, and the options they were queued with.
    pub async fn campaigns_to_track_on(
        &self,
        token: &str,
    ) -> Result<Vec<(CampaignId, Option<super::SendOptions>)>, StoreError> {
        let rows: Vec<(i64, Option<String>)> =
            q_as(TO_TRACK_ON).bind(token).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|(id, o)| Ok((CampaignId(id), super::stored("send options", o)?)))
            .collect()
    }

    /// How many sent messages have no delivery ack (or failure) yet, of those an ack can come
    /// for (not an untracked text).
    pub async fn undelivered(&self, campaign: CampaignId) -> Result<i64, StoreError> {
        Ok(q_scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND state = 'sent'
                 AND (mid IS NOT NULL OR next_poll_at IS NOT NULL)",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?)
    }
}
