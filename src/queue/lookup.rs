//! One recipient's story across campaigns (`campaign lookup`): every message to the number,
//! its acks with their times, what the recipient wrote, and whether and why it is suppressed.
//! Messages are found by number with a scan of the messages not sent yet (only sent ones are
//! indexed by number, so that a load writes no entry): an operator's question, not a hot path.

use super::sql::{named, q_as};
use super::states::{Heard, InboundSource, MessageState};
use super::{Store, StoreError, Suppression};

/// A message to the recipient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoryMessage {
    pub campaign: i64,
    pub campaign_name: String,
    /// The source line it came from.
    pub line: i64,
    pub state: MessageState,
    pub attempts: i64,
    pub ack: Option<i64>,
    pub error: Option<String>,
    pub queued_at: i64,
    pub sent_at: Option<i64>,
    /// Every ack heard, with when it happened and how it was heard (callback, poll).
    pub acks: Vec<StoryAck>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoryAck {
    pub ack: i64,
    pub at_ms: i64,
    pub source: String,
}

/// What the recipient wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoryReply {
    pub text: String,
    pub at_ms: i64,
    pub verdict: Heard,
    pub source: InboundSource,
    pub campaign: Option<i64>,
}

/// One recipient's story.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Story {
    pub recipient: String,
    pub messages: Vec<StoryMessage>,
    pub replies: Vec<StoryReply>,
    pub suppression: Option<Suppression>,
}

named! {
    struct MessageRow {
        id: i64,
        campaign_id: i64,
        campaign_name: String,
        line: i64,
        state: String,
        attempts: i64,
        ack: Option<i64>,
        error: Option<String>,
        queued_at: i64,
        sent_at: Option<i64>,
    }
}

named! {
    struct AckRow {
        ack: Option<i64>,
        at_ms: Option<i64>,
        at: i64,
        source: String,
    }
}

named! {
    struct ReplyRow {
        text: String,
        dt_ms: i64,
        verdict: String,
        source: String,
        campaign_id: Option<i64>,
    }
}

named! {
    struct SuppressionRow {
        phone: String,
        reason: String,
        source: String,
        created_at: i64,
    }
}

impl Store {
    /// Everything the store knows of `recipient` (an E.164 number, or a uid), oldest first.
    pub async fn lookup(&self, recipient: &str) -> Result<Story, StoreError> {
        let rows: Vec<MessageRow> = q_as(
            "SELECT m.id, m.campaign_id, c.name AS campaign_name, m.line, m.state, m.attempts,
                    m.ack, m.error, COALESCE(m.queued_ms, m.created_at) AS queued_at, m.sent_at
             FROM messages m JOIN campaigns c ON c.id = m.campaign_id
             WHERE m.phone = $1 OR (m.uid = $2 AND m.uid IS NOT NULL) ORDER BY m.id",
        )
        .bind(recipient)
        .bind(recipient)
        .fetch_all(self.pool())
        .await?;
        let mut messages = vec![];
        for m in rows {
            let acks: Vec<AckRow> = q_as(
                "SELECT ack, at_ms, at, source FROM events
                 WHERE message_id = $1 AND ack IS NOT NULL ORDER BY COALESCE(at_ms, at), id",
            )
            .bind(m.id)
            .fetch_all(self.pool())
            .await?;
            messages.push(StoryMessage {
                campaign: m.campaign_id,
                campaign_name: m.campaign_name,
                line: m.line,
                state: MessageState::parse(&m.state)?,
                attempts: m.attempts,
                ack: m.ack,
                error: m.error,
                queued_at: m.queued_at,
                sent_at: m.sent_at,
                acks: acks
                    .into_iter()
                    .filter_map(|a| {
                        Some(StoryAck {
                            ack: a.ack?,
                            at_ms: a.at_ms.unwrap_or(a.at),
                            source: a.source,
                        })
                    })
                    .collect(),
            });
        }
        let replies: Vec<ReplyRow> = q_as(
            "SELECT text, dt_ms, verdict, source, campaign_id FROM inbound
             WHERE phone = $1 OR uid = $2 ORDER BY dt_ms, mid",
        )
        .bind(recipient)
        .bind(recipient)
        .fetch_all(self.pool())
        .await?;
        let replies = replies
            .into_iter()
            .map(|r| {
                Ok(StoryReply {
                    text: r.text,
                    at_ms: r.dt_ms,
                    verdict: Heard::parse(&r.verdict)?,
                    source: InboundSource::parse(&r.source)?,
                    campaign: r.campaign_id,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let suppression: Option<SuppressionRow> =
            q_as("SELECT phone, reason, source, created_at FROM suppressions WHERE phone = $1")
                .bind(recipient)
                .fetch_optional(self.pool())
                .await?;
        Ok(Story {
            recipient: recipient.to_string(),
            messages,
            replies,
            suppression: suppression.map(|s| Suppression {
                phone: s.phone,
                reason: s.reason,
                source: s.source,
                created_at: crate::clock::rfc3339_ms(s.created_at),
            }),
        })
    }
}
