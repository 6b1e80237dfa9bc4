//! One recipient's story across campaigns (`campaign lookup`): every message to the number,
//! its acks with their times, what the recipient wrote, and whether and why it is suppressed.
//! Messages are found by number with a scan of the messages not sent yet (only sent ones are
//! indexed by number, so that a load writes no entry): an operator's question, not a hot path.

use super::sql::q_as;
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

type MessageRow = (
    i64,
    i64,
    String,
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

impl Store {
    /// Everything the store knows of `recipient` (an E.164 number, or a uid), oldest first.
    pub async fn lookup(&self, recipient: &str) -> Result<Story, StoreError> {
        let rows: Vec<MessageRow> = q_as(
            "SELECT m.id, m.campaign_id, c.name, m.line, m.state, m.attempts, m.ack, m.error,
                    COALESCE(m.queued_ms, m.created_at), m.sent_at
             FROM messages m JOIN campaigns c ON c.id = m.campaign_id
             WHERE m.phone = $1 OR (m.uid = $2 AND m.uid IS NOT NULL) ORDER BY m.id",
        )
        .bind(recipient)
        .bind(recipient)
        .fetch_all(self.pool())
        .await?;
        let mut messages = vec![];
        for (id, campaign, campaign_name, line, state, attempts, ack, error, queued, sent_at) in
            rows
        {
            let acks: Vec<(Option<i64>, Option<i64>, i64, String)> = q_as(
                "SELECT ack, at_ms, at, source FROM events
                 WHERE message_id = $1 AND ack IS NOT NULL ORDER BY COALESCE(at_ms, at), id",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            messages.push(StoryMessage {
                campaign,
                campaign_name,
                line,
                state: MessageState::parse(&state)?,
                attempts,
                ack,
                error,
                queued_at: queued,
                sent_at,
                acks: acks
                    .into_iter()
                    .filter_map(|(ack, at_ms, at, source)| {
                        Some(StoryAck {
                            ack: ack?,
                            at_ms: at_ms.unwrap_or(at),
                            source,
                        })
                    })
                    .collect(),
            });
        }
        let replies: Vec<(String, i64, String, String, Option<i64>)> = q_as(
            "SELECT text, dt_ms, verdict, source, campaign_id FROM inbound
             WHERE phone = $1 OR uid = $2 ORDER BY dt_ms, mid",
        )
        .bind(recipient)
        .bind(recipient)
        .fetch_all(self.pool())
        .await?;
        let replies = replies
            .into_iter()
            .map(|(text, at_ms, verdict, source, campaign)| {
                Ok(StoryReply {
                    text,
                    at_ms,
                    verdict: Heard::parse(&verdict)?,
                    source: InboundSource::parse(&source)?,
                    campaign,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let suppression: Option<(String, String, String, i64)> =
            q_as("SELECT phone, reason, source, created_at FROM suppressions WHERE phone = $1")
                .bind(recipient)
                .fetch_optional(self.pool())
                .await?;
        Ok(Story {
            recipient: recipient.to_string(),
            messages,
            replies,
            suppression: suppression.map(|(phone, reason, source, created_at)| Suppression {
                phone,
                reason,
                source,
                created_at: crate::clock::rfc3339_ms(created_at),
            }),
        })
    }
}
