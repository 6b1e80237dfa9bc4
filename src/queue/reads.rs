//! The conversations due to be read with GetConversation: once after an ack 10, on the SMS
//! reply sweep's schedule, and after the event socket came back from a drop.

use super::sql::{named, q, q_as};
use super::states::InboundSource;
use super::{CampaignId, Lock, Store, StoreError};

/// What a conversation read asked for again keeps: the earliest due time, the earliest start,
/// the latest end.
macro_rules! want_conflict {
    () => {
        "ON CONFLICT (campaign_id, uid) DO UPDATE SET
         due_at = CASE WHEN excluded.due_at < conversation_reads.due_at
             THEN excluded.due_at ELSE conversation_reads.due_at END,
         since_ms = CASE WHEN excluded.since_ms < conversation_reads.since_ms
             THEN excluded.since_ms ELSE conversation_reads.since_ms END,
         until_ms = CASE WHEN excluded.until_ms > conversation_reads.until_ms
             THEN excluded.until_ms ELSE conversation_reads.until_ms END"
    };
}

/// `want_conversation`'s upsert.
pub(super) const WANT_CONVERSATION: &str = concat!(
    "INSERT INTO conversation_reads
         (campaign_id, uid, source, since_ms, due_at, until_ms) VALUES ($1, $2, $3, $4, $5, $6) ",
    want_conflict!()
);

/// A conversation due to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRead {
    pub uid: String,
    /// `Reply` (after an ack 10, once) or `Sweep` (SMS, on a schedule).
    pub source: InboundSource,
    /// Client messages sent after this are heard (unix ms).
    pub since_ms: i64,
    pub reads: i64,
    /// The sweep ends here (unix ms).
    pub until_ms: i64,
}

/// How long a conversation claimed for reading is held from other readers.
const READ_HOLD_MS: i64 = 10 * 60_000;

named! {
    /// A conversation read as stored (its source as text).
    struct ReadRow {
        uid: String,
        source: String,
        since_ms: i64,
        reads: i64,
        until_ms: i64,
    }
}

impl Store {
    /// Asks for `read.uid`'s conversation to be read for the campaign from `due_at`: client
    /// messages after `read.since_ms` are heard (`read.reads` is not used). A read already asked for keeps the earliest due time and
    /// the widest span.
    pub async fn want_conversation(
        &self,
        campaign: CampaignId,
        read: &DueRead,
        due_at: i64,
    ) -> Result<(), StoreError> {
        q(WANT_CONVERSATION)
            .bind(campaign)
            .bind(&read.uid)
            .bind(read.source.as_str())
            .bind(read.since_ms)
            .bind(due_at)
            .bind(read.until_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// After the event socket of `token` was down since `since_ms`: asks for the conversations
    /// of the token's users sent to, or acked (a reply brings ack 10), since then to be read,
    /// since no event missed meanwhile is sent again. Returns how many were asked for.
    pub async fn catch_up(&self, token: &str, since_ms: i64) -> Result<u64, StoreError> {
        let now = self.now_ms();
        let done = q(format!(
            "INSERT INTO conversation_reads (campaign_id, uid, source, since_ms, due_at, until_ms)
             SELECT DISTINCT m.campaign_id, m.uid, 'reply', {since_ms}, {now}, {now}
             FROM messages m JOIN campaigns c ON c.id = m.campaign_id
             WHERE c.token_fingerprint = $1 AND m.uid IS NOT NULL
                 AND (m.sent_at >= $2 OR m.last_ack_at >= $3) {}",
            want_conflict!()
        ))
        .bind(token)
        .bind(since_ms)
        .bind(since_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims the campaign's conversations due to be read: each is held from other readers
    /// until `conversation_read` says when (or whether) it is read again.
    pub async fn due_conversations(
        &self,
        campaign: CampaignId,
        limit: i64,
    ) -> Result<Vec<DueRead>, StoreError> {
        let now = self.now_ms();
        let mut tx = self.begin(Lock::Beside).await?;
        let rows: Vec<ReadRow> = q_as(format!(
            "SELECT uid, source, since_ms, reads, until_ms FROM conversation_reads
             WHERE campaign_id = $1 AND due_at <= $2 ORDER BY due_at LIMIT $3{}",
            self.skip_locked()
        ))
        .bind(campaign)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut tx)
        .await?;
        let due = rows
            .into_iter()
            .map(|r| {
                Ok(DueRead {
                    uid: r.uid,
                    source: InboundSource::parse(&r.source)?,
                    since_ms: r.since_ms,
                    reads: r.reads,
                    until_ms: r.until_ms,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let uids: Vec<String> = due.iter().map(|d| d.uid.clone()).collect();
        if !uids.is_empty() {
            let mut hold =
                super::sql::Builder::new(self.backend, "UPDATE conversation_reads SET due_at = ");
            hold.push_bind(now + READ_HOLD_MS)
                .push(" WHERE campaign_id = ")
                .push_bind(campaign)
                .push(" AND ")
                .push_in("uid", &uids);
            super::sql::built(&mut hold).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Records that `uid`'s conversation has been read `reads` times: read again at `next`,
    /// or never (`None`).
    pub async fn conversation_read(
        &self,
        campaign: CampaignId,
        uid: &str,
        reads: i64,
        next: Option<i64>,
    ) -> Result<(), StoreError> {
        match next {
            Some(at) => q("UPDATE conversation_reads SET reads = $1, due_at = $2
                     WHERE campaign_id = $3 AND uid = $4")
            .bind(reads)
            .bind(at),
            None => q("DELETE FROM conversation_reads WHERE campaign_id = $1 AND uid = $2"),
        }
        .bind(campaign)
        .bind(uid)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
