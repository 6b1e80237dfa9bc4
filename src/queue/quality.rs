//! What judging a campaign's quality takes (`listening::quality` judges): its policy, stored
//! with its send options, and its figures.

use super::sql::q_scalar;
use super::{CampaignId, Store, StoreError};

/// What judging a campaign's quality takes (`Store::quality_figures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QualityFigures {
    /// Messages delivered (or read, or replied to).
    pub delivered: i64,
    /// Messages read (or replied to).
    pub read: i64,
    /// Recipients who opted out or blocked the bot in answer to the campaign.
    pub turned_away: i64,
    /// Messages queued or in flight: what a pause would hold back.
    pub unsent: i64,
    /// An SMS campaign: no read receipts.
    pub sms: bool,
}

/// When a campaign is judged, and what pauses it (`listening::quality`). Shares are in basis
/// points (1% = 100), so that a stored policy compares exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QualityPolicy {
    /// Judged once this many messages are delivered.
    pub min_delivered: i64,
    /// Paused under this share of delivered messages read (0: never for this).
    pub min_read_bp: u32,
    /// Paused over this share of delivered recipients opting out or blocking (10000: never).
    pub max_turned_away_bp: u32,
}

impl Default for QualityPolicy {
    fn default() -> Self {
        QualityPolicy {
            min_delivered: 200,
            min_read_bp: 4000,
            max_turned_away_bp: 100,
        }
    }
}

impl QualityPolicy {
    /// Never pauses.
    pub const OFF: QualityPolicy = QualityPolicy {
        min_delivered: i64::MAX,
        min_read_bp: 0,
        max_turned_away_bp: 10_000,
    };
}

impl Store {
    /// What judging the campaign's quality takes: its messages delivered and read so far,
    /// its recipients who opted out (a keyword) or blocked the bot (onUserDisable) in answer
    /// to it and are still suppressed for it, and what it has left to send.
    pub async fn quality_figures(
        &self,
        campaign: CampaignId,
    ) -> Result<QualityFigures, StoreError> {
        let counts = self.counts(campaign).await?;
        let turned_away: i64 = q_scalar(
            "SELECT COUNT(*) FROM suppressions WHERE campaign_id = $1 AND campaign_id IS NOT NULL
                 AND source IN ('keyword', 'onUserDisable')",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?;
        let channel: Option<String> = q_scalar("SELECT channel FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_optional(self.pool())
            .await?;
        Ok(QualityFigures {
            delivered: counts.delivered + counts.read + counts.replied,
            read: counts.read + counts.replied,
            turned_away,
            unsent: counts.queued + counts.sending,
            sms: channel.as_deref() == Some("sms"),
        })
    }
}
