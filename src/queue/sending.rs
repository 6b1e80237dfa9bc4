//! What a sender of a token looks for: campaigns queued or left running on the token, a run
//! handing its campaign over to the worker that holds the token, and where a campaign stands
//! for whoever follows it.

use super::sql::{q, q_scalar};
use super::states::{CampaignState, MessageState, is_in};
use super::{CampaignId, Control, Store, StoreError};

/// How a campaign is to be sent, as the run that queued it chose: stored with the campaign,
/// and applied by whichever process sends it (a run, the worker it was handed to, another
/// worker after a takeover). `None` (campaigns queued by an older version): the sender's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SendOptions {
    pub max_attempts: Option<i64>,
    /// Sends per second of this campaign (at most its token's).
    pub rate: Option<u32>,
    /// Sends per second to one number.
    pub number_rate: Option<u32>,
    pub in_flight: Option<usize>,
    pub poll_first_ms: Option<u64>,
    pub poll_max_age_ms: Option<u64>,
    /// GetMessageDetails calls per second for this campaign (within its token's budget).
    pub poll_rate: Option<u32>,
    pub reconcile_after_ms: Option<u64>,
    /// How long after an SMS is sent its conversation is read for replies (0: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_sweep_ms: Option<u64>,
    /// When the campaign pauses itself for its quality (`listening::quality`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<super::QualityPolicy>,
}

/// A campaign with something to send on a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sendable {
    pub id: CampaignId,
    pub channel: String,
    pub priority: u32,
    pub options: Option<SendOptions>,
}

/// Where a campaign stands, as one who follows it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub state: CampaignState,
    pub reason: Option<String>,
    pub control: Option<Control>,
    /// Who holds its lease now, while that lease runs.
    pub sender: Option<String>,
}

/// Campaigns on token `$1` meant to be sent with a message due before `$2` or left sending
/// or uncertain (`Store::sendable_campaigns`). Scalar subqueries, each answered by one entry
/// of the claim index (the first due message as a MIN), never `EXISTS`: beside an OR,
/// PostgreSQL runs an `EXISTS` as a hash of every matching message of the table, or as a scan
/// of every message (31 ms at 60,000) when its statistics, taken while everything was queued,
/// say most are.
pub(super) fn sendable() -> String {
    format!(
        "SELECT c.id, c.channel, c.priority, c.send_options FROM campaigns c
         WHERE c.token_fingerprint = $1 AND {} AND c.control IS NULL
           AND ((SELECT MIN(m.next_attempt_at) FROM messages m
                  WHERE m.campaign_id = c.id AND m.state = 'queued') <= $2
             OR (c.state <> 'deferred' AND (
               (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.state = 'sending' LIMIT 1) IS NOT NULL
               OR (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.state = 'uncertain' LIMIT 1) IS NOT NULL)))
         ORDER BY c.priority DESC, c.id",
        is_in("c.state", CampaignState::TO_SEND)
    )
}

impl Store {
    /// Campaigns on the token (by fingerprint) that are meant to be sent, not paused or
    /// cancelled, with a message due before `due_before_ms`, or (not yet sent through once)
    /// left sending or uncertain by a sender that died. A deferred campaign is taken up again
    /// when a message comes due, not for messages left undecided for the operator.
    pub async fn sendable_campaigns(
        &self,
        token: &str,
        due_before_ms: i64,
    ) -> Result<Vec<Sendable>, StoreError> {
        let rows = q(sendable())
            .bind(token)
            .bind(due_before_ms)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Sendable {
                    id: CampaignId(r.get("id")),
                    channel: r.get("channel"),
                    priority: r.get::<i64, _>("priority").clamp(1, 10) as u32,
                    options: super::stored("send options", r.get("send_options"))?,
                })
            })
            .collect()
    }

    /// Queues the campaign for a sender of `token` (a worker) with the run's options; one
    /// being sent now, or paused or cancelled by the operator, keeps its state.
    pub async fn queue_for_sender(
        &self,
        campaign: CampaignId,
        token: &str,
        priority: u32,
        options: SendOptions,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.queue_on_token(campaign, token, Some((priority, options)), reason)
            .await
    }

    /// The options the campaign was last queued or sent with, if any.
    pub async fn send_options(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<SendOptions>, StoreError> {
        let stored: Option<String> = q_scalar("SELECT send_options FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_optional(self.pool())
            .await?
            .flatten();
        super::stored("send options", stored)
    }

    /// Records the options the campaign is sent with (a run sending it itself), for whoever
    /// sends it next.
    pub async fn set_send_options(
        &self,
        campaign: CampaignId,
        options: &SendOptions,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET send_options = $1 WHERE id = $2")
            .bind(serde_json::to_string(options).unwrap_or_default())
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Queues the campaign on `token`, with a priority and options when given (else it keeps
    /// its own).
    pub(super) async fn queue_on_token(
        &self,
        campaign: CampaignId,
        token: &str,
        with: Option<(u32, SendOptions)>,
        reason: &str,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET
               state = CASE WHEN lease_until > $1 OR control IS NOT NULL THEN state ELSE 'queued' END,
               state_reason = CASE WHEN lease_until > $1 OR control IS NOT NULL THEN state_reason ELSE $2 END,
               token_fingerprint = $3, priority = COALESCE($4, priority),
               send_options = COALESCE($5, send_options), updated_at = $6
             WHERE id = $7",
        )
        .bind(self.now_ms())
        .bind(reason)
        .bind(token)
        .bind(with.map(|(priority, _)| i64::from(priority.clamp(1, 10))))
        .bind(with.map(|(_, options)| serde_json::to_string(&options).unwrap_or_default()))
        .bind(self.now_ms())
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The fingerprint of the token the campaign is sent with, if it was ever sent or queued.
    pub async fn campaign_token(&self, campaign: CampaignId) -> Result<Option<String>, StoreError> {
        Ok(
            q_scalar("SELECT token_fingerprint FROM campaigns WHERE id = $1")
                .bind(campaign)
                .fetch_optional(self.pool())
                .await?
                .flatten(),
        )
    }

    /// The campaign's name and channel (`whatsapp` or `sms`).
    pub async fn name_and_channel(
        &self,
        campaign: CampaignId,
    ) -> Result<(String, String), StoreError> {
        let r = q("SELECT name, channel FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_one(self.pool())
            .await?;
        Ok((r.get("name"), r.get("channel")))
    }

    /// The campaign's share of its token (1 to 10), as last chosen.
    pub async fn priority(&self, campaign: CampaignId) -> Result<u32, StoreError> {
        let priority: i64 = q_scalar("SELECT priority FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_one(self.pool())
            .await?;
        Ok(priority.clamp(1, 10) as u32)
    }

    /// Records the campaign's share of its token (1 to 10).
    pub async fn set_priority(
        &self,
        campaign: CampaignId,
        priority: u32,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET priority = $1 WHERE id = $2")
            .bind(i64::from(priority.clamp(1, 10)))
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether the campaign has anything to send or decide: queued, sending or uncertain.
    pub async fn has_work(&self, campaign: CampaignId) -> Result<bool, StoreError> {
        // EXISTS, not a subquery in FROM: PostgreSQL before 16 wants such a subquery named.
        let n: i32 = q_scalar(format!(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM messages WHERE campaign_id = $1
               AND {}) THEN 1 ELSE 0 END",
            is_in("state", MessageState::TO_SEND)
        ))
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Where the campaign stands now.
    pub async fn standing(&self, campaign: CampaignId) -> Result<Standing, StoreError> {
        let r = q("SELECT state, state_reason, control,
                    CASE WHEN lease_until > $1 THEN lease_owner END AS sender
             FROM campaigns WHERE id = $2")
        .bind(self.now_ms())
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        Ok(Standing {
            state: CampaignState::parse(r.get("state"))?,
            reason: r.get("state_reason"),
            control: r
                .get::<Option<String>, _>("control")
                .as_deref()
                .map(Control::parse)
                .transpose()?,
            sender: r.get("sender"),
        })
    }
}
