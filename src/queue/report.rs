//! Read-only queries for `status` and reports.

use serde::Serialize;

use super::recipients::in_order;
use super::sql::{named, q, q_as, q_scalar};
use super::states::{MessageState, is_in};
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

/// Delivery times, by how they were learnt.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DeliveryTimes {
    /// From the timestamps callbacks carried (whole seconds).
    pub by_callback: Option<Median>,
    /// As observed by polling: when a poll found the message delivered.
    pub by_polling: Option<Median>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Median {
    pub median_ms: i64,
    pub messages: usize,
}

impl Median {
    fn of(mut times: Vec<i64>) -> Option<Median> {
        times.sort_unstable();
        Some(Median {
            median_ms: *times.get(times.len() / 2)?,
            messages: times.len(),
        })
    }
}

/// A campaign as the report's header shows it.
#[derive(Debug, Clone)]
pub struct HeaderRow {
    pub channel: String,
    pub settings: String,
    pub token: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    pub load_summary: Option<String>,
    pub bot_id: i64,
    pub first_sent: Option<i64>,
    pub last_sent: Option<i64>,
    /// The price from the campaign file (JSON).
    pub price: Option<String>,
    /// The campaign's timing (JSON), for its zone.
    pub timing: Option<String>,
    /// The first message by source line: its line and frozen request, for an example.
    pub first: Option<(i64, String)>,
}

named! {
    /// An accepted message's send, and its delivery as a callback told it and as observed.
    struct DeliveryRow {
        sent_at: i64,
        by_callback: Option<i64>,
        observed: Option<i64>,
    }
}

named! {
    struct TroubledRow {
        line: i64,
        phone: String,
        state: String,
        error: Option<String>,
    }
}

impl Store {
    pub async fn funnel(&self, campaign: CampaignId) -> Result<Funnel, StoreError> {
        let r = q(format!(
            "SELECT COUNT(*) AS queued,
                    COUNT(sent_at) AS sent,
                    SUM(CASE WHEN delivered_at IS NOT NULL OR {} THEN 1 ELSE 0 END) AS delivered,
                    SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS seen,
                    SUM(CASE WHEN state = 'replied' THEN 1 ELSE 0 END) AS replied
             FROM messages WHERE campaign_id = $1",
            is_in("state", MessageState::DELIVERED),
            is_in("state", MessageState::SEEN),
        ))
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        let n = |column: &str| r.get::<Option<i64>, _>(column).unwrap_or(0);
        Ok(Funnel {
            queued: n("queued"),
            sent: n("sent"),
            delivered: n("delivered"),
            read: n("seen"),
            replied: n("replied"),
        })
    }

    /// Failed messages grouped by reason, most frequent first.
    pub async fn failure_reasons(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = q(
            "SELECT COALESCE(error, 'unknown') AS reason, COUNT(*) AS n FROM messages
             WHERE campaign_id = $1 AND state = 'failed' GROUP BY 1 ORDER BY n DESC, 1",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("reason"), r.get("n")))
            .collect())
    }

    /// How long accepted messages took to be delivered. A message's time comes from the
    /// timestamp of the first callback that told of delivery (or later) when one did; the
    /// others were found delivered by polling, which tells when we asked, not when it happened.
    pub async fn delivery_times(&self, campaign: CampaignId) -> Result<DeliveryTimes, StoreError> {
        let rows: Vec<DeliveryRow> = q_as(
            "SELECT m.sent_at,
                    MIN(CASE WHEN e.source = 'callback' THEN e.at_ms END) AS by_callback,
                    COALESCE(m.delivered_at, MIN(e.at_ms)) AS observed
             FROM messages m LEFT JOIN events e
               ON e.message_id = m.id AND e.kind = 'ack' AND e.ack >= 2
             WHERE m.campaign_id = $1 AND m.sent_at IS NOT NULL
               AND (m.delivered_at IS NOT NULL OR e.id IS NOT NULL)
             GROUP BY m.id",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        let (mut by_callback, mut by_polling) = (vec![], vec![]);
        for r in rows {
            let sent = r.sent_at;
            match (r.by_callback, r.observed) {
                (Some(at), _) => by_callback.push((at - sent).max(0)),
                (None, Some(at)) => by_polling.push((at - sent).max(0)),
                (None, None) => {}
            }
        }
        Ok(DeliveryTimes {
            by_callback: Median::of(by_callback),
            by_polling: Median::of(by_polling),
        })
    }

    /// Calls `each` with the request body of every message the API accepted (what it
    /// charges for), one at a time.
    pub async fn accepted_payloads(
        &self,
        campaign: CampaignId,
        mut each: impl FnMut(&str),
    ) -> Result<(), StoreError> {
        q("SELECT payload FROM messages WHERE campaign_id = $1 AND sent_at IS NOT NULL")
            .bind(campaign)
            .for_each_row(self.pool(), |row| {
                each(row.try_get::<&str, _>("payload")?);
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// When each message first reached sent, delivered, read and replied (unix ms), each
    /// counted once however many acks (callbacks and polls) told of it. A later state implies
    /// the earlier ones: a message read without a delivered ack was delivered by then.
    pub async fn reach_times(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<[Option<i64>; 4]>, StoreError> {
        let rows = q("SELECT m.sent_at,
                    COALESCE(m.delivered_at, MIN(CASE WHEN e.ack >= 2 THEN e.at_ms END)) AS delivered_at,
                    MIN(CASE WHEN e.ack >= 3 THEN e.at_ms END) AS read_at,
                    MIN(CASE WHEN e.ack = 10 THEN e.at_ms END) AS replied_at,
                    m.state
             FROM messages m LEFT JOIN events e ON e.message_id = m.id AND e.kind = 'ack'
             WHERE m.campaign_id = $1 AND m.sent_at IS NOT NULL GROUP BY m.id")
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let state: String = r.get("state");
                let sent: Option<i64> = r.get("sent_at");
                // As the funnel counts them: by the state the message is in.
                let delivered = r.get::<Option<i64>, _>("delivered_at").or(matches!(
                    state.as_str(),
                    "delivered" | "read" | "replied"
                )
                .then_some(sent)
                .flatten());
                let read = r
                    .get::<Option<i64>, _>("read_at")
                    .filter(|_| matches!(state.as_str(), "read" | "replied"));
                let replied = r
                    .get::<Option<i64>, _>("replied_at")
                    .filter(|_| state == "replied");
                // Callback timestamps have whole seconds: one can read earlier than the send
                // it follows. A state is reached no earlier than the one before it.
                let mut reach = [sent, delivered, read, replied];
                in_order(&mut reach);
                reach
            })
            .collect())
    }

    /// What the report's header shows: channel, settings (as stored), token, when it was
    /// created, its first and last send, and the last load's summary (JSON).
    pub async fn report_header(&self, campaign: CampaignId) -> Result<HeaderRow, StoreError> {
        let r = q("SELECT c.channel, c.definition, c.token_fingerprint, c.created_at, c.load_summary, c.bot_id,
                    (SELECT MIN(sent_at) FROM messages WHERE campaign_id = c.id) AS first_sent,
                    (SELECT MAX(sent_at) FROM messages WHERE campaign_id = c.id) AS last_sent,
                    c.price, c.timing,
                    (SELECT MIN(line) FROM messages WHERE campaign_id = c.id) AS first_line
             FROM campaigns c WHERE c.id = $1",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        let mut header = HeaderRow {
            channel: r.get("channel"),
            settings: r.get("definition"),
            token: r.get("token_fingerprint"),
            created_at: r.get("created_at"),
            load_summary: r.get("load_summary"),
            bot_id: r.get("bot_id"),
            first_sent: r.get("first_sent"),
            last_sent: r.get("last_sent"),
            price: r.get("price"),
            timing: r.get("timing"),
            first: None,
        };
        let line: Option<i64> = r.get("first_line");
        if let Some(line) = line {
            let payload: Option<String> = q_scalar(
                "SELECT payload FROM messages WHERE campaign_id = $1 AND line = $2 LIMIT 1",
            )
            .bind(campaign)
            .bind(line)
            .fetch_optional(self.pool())
            .await?;
            header.first = payload.map(|p| (line, p));
        }
        Ok(header)
    }

    /// The frozen request of the campaign's message from source line `line` (default: the
    /// first line), and its line.
    pub async fn message_at_line(
        &self,
        campaign: CampaignId,
        line: Option<i64>,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let found: Option<(i64, String)> = q_as(
            "SELECT line, payload FROM messages WHERE campaign_id = $1 AND line >= $2
             ORDER BY line, id LIMIT 1",
        )
        .bind(campaign)
        .bind(line.unwrap_or(0))
        .fetch_optional(self.pool())
        .await?;
        Ok(found.filter(|(at, _)| line.is_none_or(|l| l == *at)))
    }

    /// The first `limit` failed or uncertain recipients, by source line: (line, phone, state,
    /// why), and how many there are in all.
    pub async fn troubled(
        &self,
        campaign: CampaignId,
        limit: i64,
    ) -> Result<(Vec<(i64, String, String, String)>, i64), StoreError> {
        let rows: Vec<TroubledRow> = q_as(
            "SELECT line, phone, state, error FROM messages
             WHERE campaign_id = $1 AND state IN ('failed', 'uncertain') ORDER BY line LIMIT $2",
        )
        .bind(campaign)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let all: i64 = q_scalar("SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND state IN ('failed', 'uncertain')",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        let rows = rows
            .into_iter()
            .map(|r| (r.line, r.phone, r.state, r.error.unwrap_or_default()))
            .collect();
        Ok((rows, all))
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
        let rows = q("SELECT COUNT(*) AS n, MIN(next_attempt_at) AS first_at, MAX(next_attempt_at) AS last_at,
                    COALESCE(error, 'waiting to be sent') AS reason
             FROM messages WHERE campaign_id = $1 AND state = 'queued' AND next_attempt_at > $2
             GROUP BY 4 ORDER BY 2",
        )
        .bind(campaign)
        .bind(after_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeferredGroup {
                count: r.get("n"),
                first_at: r.get("first_at"),
                last_at: r.get("last_at"),
                reason: r.get("reason"),
            })
            .collect())
    }
}
