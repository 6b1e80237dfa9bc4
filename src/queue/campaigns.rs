//! Campaigns in the store: finding one by name, creating one, its settings, its state, its
//! token, listing them, and the template cache (a load's messages and rejects: `loading`).

use super::sql::{named, q, q_as, q_scalar};
use super::states::CampaignState;
use super::{CampaignId, CampaignKey, Store, StoreError};
use crate::clock::rfc3339_ms;

named! {
    /// A template as the cache holds it.
    #[derive(Debug, Clone)]
    pub struct CachedTemplate {
        pub bot_id: i64,
        pub name: String,
        pub language: String,
        /// The API's template, as JSON.
        pub body: String,
        /// When it was fetched, unix ms.
        pub fetched_at: i64,
    }
}

impl Store {
    /// The newest campaign of this name: its id and its settings as stored.
    pub async fn latest_campaign_named(
        &self,
        name: &str,
    ) -> Result<Option<(CampaignId, String)>, StoreError> {
        let row: Option<(i64, String)> =
            q_as("SELECT id, definition FROM campaigns WHERE name = $1 ORDER BY id DESC LIMIT 1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(id, settings)| (CampaignId(id), settings)))
    }

    /// The settings a campaign runs with, as stored (`None` for no such campaign).
    pub async fn campaign_settings(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<String>, StoreError> {
        Ok(q_scalar("SELECT definition FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Creates a campaign. With `skip_reached`, recipients (by dedupe key) that an earlier
    /// campaign of the same name reached are not queued in it.
    pub async fn create_campaign(
        &self,
        key: &CampaignKey<'_>,
        skip_reached: bool,
    ) -> Result<CampaignId, StoreError> {
        let now = self.now_ms();
        let id: i64 = q_scalar("INSERT INTO campaigns (name, fingerprint, channel, bot_id, definition, skip_reached, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(key.name)
        .bind(key.fingerprint)
        .bind(key.channel)
        .bind(key.bot_id)
        .bind(key.definition)
        .bind(skip_reached)
        .bind(now)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(CampaignId(id))
    }

    /// Records the settings a campaign runs with from now on (the operator chose `--resume`).
    pub async fn update_campaign_settings(
        &self,
        campaign: CampaignId,
        fingerprint: &str,
        settings: &str,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET fingerprint = $1, definition = $2, source_stamp = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(fingerprint)
        .bind(settings)
        .bind(self.now_ms())
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The timing from the campaign file (JSON), as of the last load.
    pub async fn set_timing(&self, campaign: CampaignId, timing: &str) -> Result<(), StoreError> {
        q("UPDATE campaigns SET timing = $1 WHERE id = $2")
            .bind(timing)
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The price from the campaign file (JSON), as of the last load.
    pub async fn set_price(
        &self,
        campaign: CampaignId,
        price: Option<&str>,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET price = $1 WHERE id = $2")
            .bind(price)
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_campaign_state(
        &self,
        campaign: CampaignId,
        state: CampaignState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET state = $1, state_reason = $2, updated_at = $3 WHERE id = $4")
            .bind(state.as_str())
            .bind(reason)
            .bind(self.now_ms())
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn message_count(&self, campaign: CampaignId) -> Result<u64, StoreError> {
        let n: i64 = q_scalar("SELECT COUNT(*) FROM messages WHERE campaign_id = $1")
            .bind(campaign)
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    /// The cached template body JSON, if any.
    pub async fn cached_template(
        &self,
        bot_id: i64,
        name: &str,
        language: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = q("SELECT body FROM templates WHERE bot_id = $1 AND name = $2 AND language = $3")
            .bind(bot_id)
            .bind(name)
            .bind(language)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.get("body")))
    }

    /// Every cached template, by bot, name and language.
    pub async fn cached_templates(&self) -> Result<Vec<CachedTemplate>, StoreError> {
        Ok(q_as(
            "SELECT bot_id, name, language, body, fetched_at FROM templates \
             ORDER BY bot_id, name, language",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn cache_template(
        &self,
        bot_id: i64,
        name: &str,
        language: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        q("INSERT INTO templates (bot_id, name, language, body, fetched_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (bot_id, name, language) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at")
            .bind(bot_id)
            .bind(name)
            .bind(language)
            .bind(body)
            .bind(self.now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// One line of `campaign list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub id: CampaignId,
    pub name: String,
    pub state: CampaignState,
    /// The token it was last sent with, as a fingerprint.
    pub token: Option<String>,
    /// RFC 3339, UTC, to the millisecond.
    pub created_at: String,
    pub updated_at: String,
    /// Messages that reached the API (sent, delivered, read, replied, or failed by an ack).
    pub sent: i64,
    pub total: i64,
    /// Who is sending it now (`pid N@host`), while its lease runs.
    pub sending_now: Option<String>,
    /// Who holds its token now (`worker pid N@host`, `run pid N@host`).
    pub token_holder: Option<String>,
    /// Meant to be sent, but no process holds its token (or another campaign's run does).
    pub waiting_for_token: bool,
}

impl Store {
    /// Every campaign, newest first, with its progress (from the kept counts) and who sends
    /// it now.
    pub async fn list_campaigns(&self, now_ms: i64) -> Result<Vec<Listed>, StoreError> {
        let rows = q(
            "SELECT c.id, c.name, c.state, c.token_fingerprint, c.created_at, c.updated_at,
                    CASE WHEN c.lease_until > $1 THEN c.lease_owner END AS sending_now,
                    (SELECT t.role || ' ' || t.owner FROM token_leases t
                      WHERE t.fingerprint = c.token_fingerprint AND t.until_ms > $1) AS holder,
                    (SELECT t.role FROM token_leases t
                      WHERE t.fingerprint = c.token_fingerprint AND t.until_ms > $1) AS holder_role
             FROM campaigns c ORDER BY c.id DESC",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        // (reached, total) by campaign.
        let mut progress = std::collections::HashMap::<CampaignId, (i64, i64)>::new();
        for (campaign, state, ack, n) in self.counted(None).await? {
            let p = progress.entry(campaign).or_default();
            p.1 += n;
            if super::counts::reached(state, ack) {
                p.0 += n;
            }
        }
        rows.into_iter()
            .map(|r| {
                let id = CampaignId(r.get("id"));
                let state = CampaignState::parse(r.get("state"))?;
                let sending_now: Option<String> = r.get("sending_now");
                let holder_role: Option<String> = r.get("holder_role");
                let to_send = CampaignState::TO_SEND.contains(&state);
                let (sent, total) = progress.get(&id).copied().unwrap_or_default();
                Ok(Listed {
                    id,
                    name: r.get("name"),
                    waiting_for_token: to_send
                        && sending_now.is_none()
                        && holder_role.as_deref() != Some("worker"),
                    state,
                    token: r.get("token_fingerprint"),
                    created_at: rfc3339_ms(r.get("created_at")),
                    updated_at: rfc3339_ms(r.get("updated_at")),
                    sent,
                    total,
                    sending_now,
                    token_holder: r.get("holder"),
                })
            })
            .collect()
    }
}
