//! The recipients of a campaign, one row each with its times, for the CSV report.

use super::sql::q;
use super::states::MessageState;
use super::{CampaignId, Store, StoreError};

/// One recipient, for the CSV report.
#[derive(Debug, Clone)]
pub struct RecipientRow {
    pub line: i64,
    pub phone: String,
    pub state: MessageState,
    pub ack: Option<i64>,
    pub mid: Option<String>,
    pub attempts: i64,
    pub error_code: Option<i64>,
    pub error: Option<String>,
    pub queued_at: i64,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// When an ack first said it was read, or replied to (unix ms).
    pub read_at: Option<i64>,
    pub replied_at: Option<i64>,
}

impl RecipientRow {
    /// Queued, sent, delivered, read and replied, each no earlier than the one before it:
    /// callback timestamps have whole seconds, so a delivery can seem to come before the send
    /// it follows (ours are to the millisecond); the order of the states decides.
    pub fn times(&self) -> [Option<i64>; 5] {
        let mut times = [
            Some(self.queued_at),
            self.sent_at,
            self.delivered_at,
            self.read_at,
            self.replied_at,
        ];
        in_order(&mut times);
        times
    }
}

/// Each time made no earlier than the last known one before it.
pub(super) fn in_order(times: &mut [Option<i64>]) {
    let mut before: Option<i64> = None;
    for t in times.iter_mut() {
        if let (Some(b), Some(at)) = (before, *t) {
            *t = Some(at.max(b));
        }
        before = t.or(before);
    }
}

impl Store {
    /// Every message of the campaign, by source line, with when it was read and replied to.
    pub async fn recipients(&self, campaign: CampaignId) -> Result<Vec<RecipientRow>, StoreError> {
        let rows = q(
            "SELECT m.line, m.phone, m.state, m.ack, m.mid, m.attempts, m.error_code, m.error,
                    COALESCE(m.queued_ms, m.created_at) AS queued_at, m.sent_at, m.delivered_at,
                    MIN(CASE WHEN e.ack >= 3 THEN e.at_ms END) AS read_at,
                    MIN(CASE WHEN e.ack = 10 THEN e.at_ms END) AS replied_at
             FROM messages m LEFT JOIN events e ON e.message_id = m.id AND e.kind = 'ack'
             WHERE m.campaign_id = $1 GROUP BY m.id ORDER BY m.line, m.id",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RecipientRow {
                    line: r.get("line"),
                    phone: r.get("phone"),
                    state: MessageState::parse(r.get("state"))?,
                    ack: r.get("ack"),
                    mid: r.get("mid"),
                    attempts: r.get("attempts"),
                    error_code: r.get("error_code"),
                    error: r.get("error"),
                    queued_at: r.get("queued_at"),
                    sent_at: r.get("sent_at"),
                    delivered_at: r.get("delivered_at"),
                    read_at: r.get("read_at"),
                    replied_at: r.get("replied_at"),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_second_callback_time_never_puts_a_state_before_the_one_it_follows() {
        let row = RecipientRow {
            line: 2,
            phone: "+447911000001".into(),
            state: MessageState::Read,
            ack: Some(3),
            mid: None,
            attempts: 1,
            error_code: None,
            error: None,
            queued_at: 1_000,
            sent_at: Some(5_400),
            // The callback said 00:00:05, the send was at 00:00:05.400.
            delivered_at: Some(5_000),
            read_at: None,
            replied_at: Some(4_000),
        };
        assert_eq!(
            row.times(),
            [Some(1_000), Some(5_400), Some(5_400), None, Some(5_400)]
        );
    }
}
