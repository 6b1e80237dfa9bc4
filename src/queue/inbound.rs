//! What recipients write to us: the `inbound` table (once per mid, whatever brought it), the
//! effects of an opt-out or opt-in keyword (or an event) on the suppression list, and the
//! keyword lists. The conversations due to be read are `reads`.

use super::sql::{named, q, q_as};
use super::states::{Heard, InboundSource, KeywordKind, is_in};
use super::{CampaignId, Lock, Store, StoreError};

/// A client's message, read.
#[derive(Debug, Clone)]
pub struct InboundMessage<'a> {
    pub mid: &'a str,
    pub uid: &'a str,
    /// The number the uid carries (WhatsApp and SMS users), if any.
    pub phone: Option<&'a str>,
    pub text: &'a str,
    /// When the client sent it (unix ms).
    pub dt_ms: i64,
    pub source: InboundSource,
    pub verdict: Heard,
}

/// How a client's message is acted on, as the operator set it (`campaign opt-out`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HearRules {
    /// Possible opt-outs act too (and so count as keywords for "the later wins").
    pub possible_acts: bool,
    /// The text an opt-out that suppresses is answered with, once, if any.
    pub confirmation: Option<String>,
}

/// The 24-hour window a client's message opens, less this margin, bounds its confirmation.
const WINDOW_MS: i64 = 24 * 3_600_000 - 10 * 60_000;

/// What a client's message does to the suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Suppress the number (or the uid of a user without one), source `keyword`.
    Suppress,
    /// Lift a suppression whose source is `keyword` or `onUserDisable`.
    Lift,
}

/// What hearing a client's message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    /// Heard before (same mid): nothing changed.
    Replayed,
    /// Kept; it changes nothing on the suppression list.
    Kept,
    /// Kept; a later keyword of the same user was heard already, and wins.
    Superseded,
    /// Kept, and the sender is now suppressed (false: was already).
    Suppressed(bool),
    /// Kept, and the sender's keyword suppression was lifted (false: there was none to lift).
    Lifted(bool),
}

/// A client's message as the reports show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reply {
    /// The number, or the uid of a user without one.
    pub recipient: String,
    pub text: String,
    /// When the client sent it (unix ms).
    pub at_ms: i64,
    pub verdict: Heard,
    pub source: InboundSource,
}

/// The suppression sources a keyword opt-in lifts: never the operator's, an import's, nor the
/// API's (ack -2, errors 2006 and 131050).
const LIFTABLE: &str = "source IN ('keyword', 'onUserDisable')";

named! {
    /// A reply to a campaign as stored (its verdict and source as text).
    struct ReplyRow {
        recipient: String,
        text: String,
        dt_ms: i64,
        verdict: String,
        source: String,
    }
}

impl Store {
    /// Keeps a client's message, once per mid, and applies `effect` unless a later keyword of
    /// the same user was heard already (between a STOP and a START, the later `dt` wins). A
    /// replayed message changes nothing. An opt-out that suppresses asks for its confirmation
    /// text, when `rules` has one and the campaign it answers has a token to send it with.
    pub async fn hear_inbound(
        &self,
        m: &InboundMessage<'_>,
        effect: Effect,
        rules: &HearRules,
    ) -> Result<Acted, StoreError> {
        let now = self.now_ms();
        let mut tx = self.begin(Lock::Recipient(super::lock_key(m.uid))).await?;
        // The campaign it answers: the last sent to this user before it.
        let campaign: Option<(i64,)> = q_as(
            "SELECT campaign_id FROM messages WHERE uid = $1 AND uid IS NOT NULL AND sent_at <= $2
             ORDER BY sent_at DESC LIMIT 1",
        )
        .bind(m.uid)
        .bind(m.dt_ms)
        .fetch_optional(&mut tx)
        .await?;
        let kept = q(
            "INSERT INTO inbound (mid, uid, phone, text, dt_ms, source, verdict, campaign_id, heard_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (mid) DO NOTHING",
        )
        .bind(m.mid)
        .bind(m.uid)
        .bind(m.phone)
        .bind(m.text)
        .bind(m.dt_ms)
        .bind(m.source.as_str())
        .bind(m.verdict.as_str())
        .bind(campaign.map(|(c,)| c))
        .bind(now)
        .execute(&mut tx)
        .await?;
        if kept.rows_affected() == 0 {
            return Ok(Acted::Replayed);
        }
        let acted = match effect {
            Effect::None => Acted::Kept,
            _ if later_keyword(&mut tx, m, rules.possible_acts).await? => Acted::Superseded,
            Effect::Suppress => Acted::Suppressed(
                suppress_for_keyword(&mut tx, m, rules, campaign.map(|(c,)| c), now).await?,
            ),
            Effect::Lift => {
                let lifted = q(format!(
                    "DELETE FROM suppressions WHERE phone = $1 AND {LIFTABLE}"
                ))
                .bind(m.phone.unwrap_or(m.uid))
                .execute(&mut tx)
                .await?;
                Acted::Lifted(lifted.rows_affected() > 0)
            }
        };
        tx.commit().await?;
        Ok(acted)
    }

    /// Suppresses a number for a Convrs event (onUserDisable, onUserDelete: `source`) about
    /// `uid`, with the campaign last sent to that user, if any. A suppression of another
    /// source (the operator's, a keyword's, the API's) is left as it is: an onUserEnable later
    /// must not lift it.
    pub async fn suppress_for_event(
        &self,
        phone: &str,
        uid: &str,
        reason: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        q(
            "INSERT INTO suppressions (phone, reason, source, created_at, campaign_id)
             VALUES ($1, $2, $3, $4, (SELECT campaign_id FROM messages
                 WHERE uid = $5 AND uid IS NOT NULL AND sent_at IS NOT NULL
                 ORDER BY sent_at DESC LIMIT 1))
             ON CONFLICT (phone) DO UPDATE SET reason = excluded.reason, source = excluded.source,
                 campaign_id = excluded.campaign_id
             WHERE suppressions.source IN ('onUserDisable', 'onUserDelete', 'event')",
        )
        .bind(phone)
        .bind(reason)
        .bind(source)
        .bind(self.now_ms())
        .bind(uid)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lifts what an onUserDisable event set for `recipient` (onUserEnable): nothing else.
    pub async fn lift_disabled(&self, recipient: &str) -> Result<bool, StoreError> {
        let lifted = q("DELETE FROM suppressions WHERE phone = $1 AND source = 'onUserDisable'")
            .bind(recipient)
            .execute(self.pool())
            .await?;
        Ok(lifted.rows_affected() > 0)
    }

    /// What recipients wrote in answer to the campaign, oldest first.
    /// The newest message heard from each user since `since_ms` (unix ms): whose 24-hour
    /// window a text campaign may still send in.
    pub async fn heard_since(
        &self,
        since_ms: i64,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> =
            q_as("SELECT uid, MAX(dt_ms) FROM inbound WHERE dt_ms >= $1 GROUP BY uid")
                .bind(since_ms)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn replies(&self, campaign: CampaignId) -> Result<Vec<Reply>, StoreError> {
        let rows: Vec<ReplyRow> = q_as(
            "SELECT COALESCE(phone, uid) AS recipient, text, dt_ms, verdict, source FROM inbound
             WHERE campaign_id = $1 AND campaign_id IS NOT NULL ORDER BY dt_ms, mid",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Reply {
                    recipient: r.recipient,
                    text: r.text,
                    at_ms: r.dt_ms,
                    verdict: Heard::parse(&r.verdict)?,
                    source: InboundSource::parse(&r.source)?,
                })
            })
            .collect()
    }

    /// The keyword lists, as (normalised word, list).
    pub async fn keywords(&self) -> Result<Vec<(String, KeywordKind)>, StoreError> {
        let rows = q("SELECT word, kind FROM keywords ORDER BY kind, word")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.get("word"), KeywordKind::parse(r.get("kind"))?)))
            .collect()
    }

    /// Puts a (normalised) word on a list, moving it from another; false if it was there.
    pub async fn set_keyword(&self, word: &str, kind: KeywordKind) -> Result<bool, StoreError> {
        let done = q("INSERT INTO keywords (word, kind) VALUES ($1, $2)
             ON CONFLICT (word) DO UPDATE SET kind = excluded.kind WHERE keywords.kind <> excluded.kind")
        .bind(word)
        .bind(kind.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes a word off its list; false if it was on none.
    pub async fn remove_keyword(&self, word: &str) -> Result<bool, StoreError> {
        let done = q("DELETE FROM keywords WHERE word = $1")
            .bind(word)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// A reply as a suppression's reason quotes it: at most 100 characters.
fn short_text(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// Whether a keyword of the same user, sent after this one, was heard already.
async fn later_keyword(
    tx: &mut super::sql::Tx,
    m: &InboundMessage<'_>,
    possible_acts: bool,
) -> Result<bool, StoreError> {
    let keywords: &[Heard] = if possible_acts {
        &[Heard::OptOut, Heard::OptIn, Heard::PossibleOptOut]
    } else {
        &[Heard::OptOut, Heard::OptIn]
    };
    let later: Option<(i64,)> = q_as(format!(
        "SELECT dt_ms FROM inbound WHERE uid = $1 AND dt_ms > $2 AND {} LIMIT 1",
        is_in("verdict", keywords)
    ))
    .bind(m.uid)
    .bind(m.dt_ms)
    .fetch_optional(tx)
    .await?;
    Ok(later.is_some())
}

/// Suppresses the number of a keyword's sender (unless suppressed already: false), and asks
/// for the opt-out's confirmation when `rules` has a text and the campaign it answers has a
/// token to send it with.
async fn suppress_for_keyword(
    tx: &mut super::Tx,
    m: &InboundMessage<'_>,
    rules: &HearRules,
    campaign: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let added = q(
        "INSERT INTO suppressions (phone, reason, source, created_at, campaign_id)
         VALUES ($1, $2, 'keyword', $3, $4) ON CONFLICT (phone) DO NOTHING",
    )
    .bind(m.phone.unwrap_or(m.uid))
    .bind(format!(
        "replied \"{}\" at {}",
        short_text(m.text),
        crate::clock::rfc3339_ms(m.dt_ms)
    ))
    .bind(now)
    .bind(campaign)
    .execute(&mut *tx)
    .await?;
    let added = added.rows_affected() > 0;
    if let (true, Some(text), Some(campaign)) = (added, rules.confirmation.as_deref(), campaign) {
        q(
            "INSERT INTO confirmations (mid, uid, token_fingerprint, text, until_ms, updated_at)
                 SELECT $1, $2, token_fingerprint, $3, $4, $5 FROM campaigns
                 WHERE id = $6 AND token_fingerprint IS NOT NULL
                 ON CONFLICT (mid) DO NOTHING",
        )
        .bind(m.mid)
        .bind(m.uid)
        .bind(text)
        .bind(m.dt_ms + WINDOW_MS)
        .bind(now)
        .bind(campaign)
        .execute(&mut *tx)
        .await?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reply_is_quoted_short_in_the_suppressions_reason() {
        assert_eq!(short_text("  Stop.  "), "Stop.");
        let long = "é".repeat(150);
        assert_eq!(short_text(&long), format!("{}...", "é".repeat(100)));
    }
}
