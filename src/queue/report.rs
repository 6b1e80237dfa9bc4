//! Read-only queries for `status` and reports.

use serde::Serialize;
use sqlx::Row;

use super::{CampaignId, Store, StoreError};

/// How far messages got: each stage counts the messages that reached it or a later one.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Funnel {
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
}

/// One recipient, for the CSV report.
#[derive(Debug, Clone)]
pub struct RecipientRow {
    pub line: i64,
    pub phone: String,
    pub state: String,
    pub ack: Option<i64>,
    pub mid: Option<String>,
    pub attempts: i64,
    pub error_code: Option<i64>,
    pub error: Option<String>,
    pub queued_at: String,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

impl Store {
    pub async fn funnel(&self, campaign: CampaignId) -> Result<Funnel, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*),
                    COUNT(sent_at),
                    SUM(delivered_at IS NOT NULL OR state IN ('delivered', 'read', 'replied')),
                    SUM(state IN ('read', 'replied')),
                    SUM(state = 'replied')
             FROM messages WHERE campaign_id = ?",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        let n = |i| r.get::<Option<i64>, _>(i).unwrap_or(0);
        Ok(Funnel {
            queued: n(0),
            sent: n(1),
            delivered: n(2),
            read: n(3),
            replied: n(4),
        })
    }

    /// Failed messages grouped by reason, most frequent first.
    pub async fn failure_reasons(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT COALESCE(error, 'unknown'), COUNT(*) AS n FROM messages
             WHERE campaign_id = ? AND state = 'failed' GROUP BY 1 ORDER BY n DESC, 1",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The median time from acceptance to delivery, in milliseconds.
    pub async fn median_delivery_ms(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<i64>, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND delivered_at IS NOT NULL AND sent_at IS NOT NULL",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        if n == 0 {
            return Ok(None);
        }
        let median: i64 = sqlx::query_scalar(
            "SELECT MAX(delivered_at - sent_at, 0) FROM messages
             WHERE campaign_id = ? AND delivered_at IS NOT NULL AND sent_at IS NOT NULL
             ORDER BY delivered_at - sent_at LIMIT 1 OFFSET ?",
        )
        .bind(campaign)
        .bind(n / 2)
        .fetch_one(self.pool())
        .await?;
        Ok(Some(median))
    }

    /// Every ack heard, as (unix ms, ack), in time order.
    pub async fn ack_timeline(&self, campaign: CampaignId) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.at_ms, e.ack FROM events e JOIN messages m ON m.id = e.message_id
             WHERE m.campaign_id = ? AND e.kind = 'ack' AND e.at_ms IS NOT NULL ORDER BY e.at_ms",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn recipients(&self, campaign: CampaignId) -> Result<Vec<RecipientRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT line, phone, state, ack, mid, attempts, error_code, error, created_at, sent_at, delivered_at
             FROM messages WHERE campaign_id = ? ORDER BY line, id",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| RecipientRow {
                line: r.get(0),
                phone: r.get(1),
                state: r.get(2),
                ack: r.get(3),
                mid: r.get(4),
                attempts: r.get(5),
                error_code: r.get(6),
                error: r.get(7),
                queued_at: r.get(8),
                sent_at: r.get(9),
                delivered_at: r.get(10),
            })
            .collect())
    }
}

/// Queued messages waiting past the run: how many, until when, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeferredGroup {
    pub count: i64,
    /// The earliest and latest next attempt of the group (unix ms).
    pub first_at: i64,
    pub last_at: i64,
    pub reason: String,
}

impl Store {
    /// Queued messages whose next attempt is after `after_ms`, grouped by reason.
    pub async fn deferred(
        &self,
        campaign: CampaignId,
        after_ms: i64,
    ) -> Result<Vec<DeferredGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT COUNT(*), MIN(next_attempt_at), MAX(next_attempt_at), COALESCE(error, 'waiting to be sent')
             FROM messages WHERE campaign_id = ? AND state = 'queued' AND next_attempt_at > ?
             GROUP BY 4 ORDER BY 2",
        )
        .bind(campaign)
        .bind(after_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeferredGroup {
                count: r.get(0),
                first_at: r.get(1),
                last_at: r.get(2),
                reason: r.get(3),
            })
            .collect())
    }
}
