//! Context after the send: a campaign's `[after_send]` (stored at load), the jobs its messages'
//! outcomes and acks store in their own transactions (`finish_many`, `record_ack`), and their
//! claiming and ending by the process holding the campaign's token (`engine::context`).

use super::sql::{Builder, built, named, q, q_as, q_scalar};
use super::{CampaignId, Lock, Store, StoreError};

/// How long a claimed job is left to its claimer before another process may take it.
const CLAIM_MS: i64 = 60_000;

/// A job due: set the tag and data of one recipient's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextJob {
    pub message_id: i64,
    pub campaign: CampaignId,
    /// The campaign's `[after_send]` (JSON).
    pub after_send: String,
    /// The recipient's data (JSON object).
    pub data: String,
    /// The uid the API answered the send with, if it gave one.
    pub uid: Option<String>,
    pub phone: String,
    pub bot_id: i64,
    pub channel: String,
    pub attempts: i64,
    /// When the message was accepted, unix ms.
    pub sent_at: Option<i64>,
}

named! {
    /// A job as read, with its message and campaign.
    struct JobRow {
        message_id: i64,
        campaign_id: i64,
        after_send: String,
        context: Option<String>,
        uid: Option<String>,
        phone: String,
        bot_id: i64,
        channel: String,
        attempts: i64,
        sent_at: Option<i64>,
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextEnd {
    Done,
    /// Not now: due again at `at_ms`.
    Again {
        at_ms: i64,
        reason: String,
    },
    Failed {
        reason: String,
    },
}

/// A campaign's context jobs by state, and why they stopped, if they did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContextCounts {
    pub done: i64,
    pub pending: i64,
    pub failed: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The jobs of `ids`' messages whose campaign sets context on `when` (an SQL list of
/// `after_send_when` values), stored in the caller's transaction.
pub(super) fn enqueue(backend: super::Backend, ids: &[i64], when: &str, now_ms: i64) -> Builder {
    let mut insert = Builder::new(
        backend,
        "INSERT INTO context_jobs (message_id, campaign_id, due_at, created_at, updated_at) \
         SELECT m.id, m.campaign_id, ",
    );
    insert
        .push_bind(now_ms)
        .push(", ")
        .push_bind(now_ms)
        .push(", ")
        .push_bind(now_ms)
        .push(
            " FROM messages m JOIN campaigns c ON c.id = m.campaign_id \
             WHERE m.context IS NOT NULL AND c.after_send_when IN (",
        )
        .push(when)
        .push(") AND ")
        .push_in("m.id", ids)
        .push(" ON CONFLICT (message_id) DO NOTHING");
    insert
}

impl Store {
    /// A campaign's context after the send (JSON) and when it is set, as of the last load.
    pub async fn set_after_send(
        &self,
        campaign: CampaignId,
        after_send: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET after_send = $1, after_send_when = $2 WHERE id = $3")
            .bind(after_send.map(|a| a.0))
            .bind(after_send.map(|a| a.1))
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Claims up to `limit` jobs due of the campaigns whose token is `token` (or of `campaign`),
    /// whose context has not stopped: each is left to this claimer for a minute.
    pub async fn due_context(
        &self,
        token: &str,
        campaign: Option<CampaignId>,
        limit: i64,
    ) -> Result<Vec<ContextJob>, StoreError> {
        let now = self.now_ms();
        // Most ticks find nothing due: a plain read says so without a write transaction.
        let any: Option<i64> = q_scalar(
            "SELECT j.message_id FROM context_jobs j JOIN campaigns c ON c.id = j.campaign_id \
             WHERE j.state = 'pending' AND j.due_at <= $1 AND c.context_stopped IS NULL \
             AND (c.token_fingerprint = $2 OR c.id = $3) LIMIT 1",
        )
        .bind(now)
        .bind(token)
        .bind(campaign.map_or(0, |c| c.0))
        .fetch_optional(self.pool())
        .await?;
        if any.is_none() {
            return Ok(vec![]);
        }
        let mut tx = self.begin(Lock::Beside).await?;
        let rows: Vec<JobRow> = q_as(format!(
            "SELECT j.message_id, j.campaign_id, c.after_send, m.context, m.uid, m.phone, \
             c.bot_id, c.channel, j.attempts, m.sent_at \
             FROM context_jobs j JOIN messages m ON m.id = j.message_id \
             JOIN campaigns c ON c.id = j.campaign_id \
             WHERE j.state = 'pending' AND j.due_at <= $1 AND c.context_stopped IS NULL \
             AND c.after_send IS NOT NULL AND (c.token_fingerprint = $2 OR c.id = $3) \
             ORDER BY j.due_at LIMIT $4{}",
            self.skip_locked()
        ))
        .bind(now)
        .bind(token)
        .bind(campaign.map_or(0, |c| c.0))
        .bind(limit)
        .fetch_all(&mut tx)
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.message_id).collect();
        if !ids.is_empty() {
            let mut claim = Builder::new(self.backend, "UPDATE context_jobs SET due_at = ");
            claim
                .push_bind(now + CLAIM_MS)
                .push(" WHERE ")
                .push_in("message_id", &ids);
            built(&mut claim).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| ContextJob {
                message_id: r.message_id,
                campaign: CampaignId(r.campaign_id),
                after_send: r.after_send,
                data: r.context.unwrap_or_else(|| "{}".into()),
                uid: r.uid,
                phone: r.phone,
                bot_id: r.bot_id,
                channel: r.channel,
                attempts: r.attempts,
                sent_at: r.sent_at,
            })
            .collect())
    }

    /// Records how a job ended.
    pub async fn context_done(&self, message_id: i64, end: &ContextEnd) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (state, due, reason) = match end {
            ContextEnd::Done => ("done", now, None),
            ContextEnd::Again { at_ms, reason } => ("pending", *at_ms, Some(reason.as_str())),
            ContextEnd::Failed { reason } => ("failed", now, Some(reason.as_str())),
        };
        q("UPDATE context_jobs SET state = $1, due_at = $2, reason = $3, attempts = attempts + 1, \
           updated_at = $4 WHERE message_id = $5")
            .bind(state)
            .bind(due)
            .bind(reason)
            .bind(now)
            .bind(message_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stops a campaign's context jobs (its tag or data cannot be set: 3050-3053), with why;
    /// its sends go on. The first reason stays.
    pub async fn stop_context(&self, campaign: CampaignId, reason: &str) -> Result<(), StoreError> {
        q("UPDATE campaigns SET context_stopped = $1 WHERE id = $2 AND context_stopped IS NULL")
            .bind(reason)
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A campaign's context jobs by state; `None` for a campaign without `[after_send]`.
    pub async fn context_counts(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<ContextCounts>, StoreError> {
        let head = q("SELECT after_send, context_stopped FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_optional(self.pool())
            .await?;
        let Some(head) = head else {
            return Ok(None);
        };
        if head.get::<Option<String>, _>("after_send").is_none() {
            return Ok(None);
        }
        let stopped: Option<String> = head.get("context_stopped");
        let rows: Vec<(String, i64)> =
            q_as("SELECT state, COUNT(*) FROM context_jobs WHERE campaign_id = $1 GROUP BY state")
                .bind(campaign)
                .fetch_all(self.pool())
                .await?;
        let mut counts = ContextCounts {
            stopped,
            ..Default::default()
        };
        for (state, n) in rows {
            match state.as_str() {
                "done" => counts.done = n,
                "failed" => counts.failed = n,
                _ => counts.pending = n,
            }
        }
        Ok(Some(counts))
    }
}
