//! What recipients write to us: the `inbound` table (once per mid, whatever brought it), the
//! effects of an opt-out or opt-in keyword on the suppression list, the keyword lists, and the
//! conversations due to be read with GetConversation.

use super::sql::{q, q_as, q_scalar};
use super::states::{Heard, InboundSource, KeywordKind, is_in};
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

/// The suppression sources a keyword opt-in lifts: never the operator's, an import's, nor the
/// API's (ack -2, errors 2006 and 131050).
const LIFTABLE: &str = "source IN ('keyword', 'onUserDisable')";

impl Store {
    /// Keeps a client's message, once per mid, and applies `effect` unless a later keyword of
    /// the same user was heard already (between a STOP and a START, the later `dt` wins). A
    /// replayed message changes nothing. `possible_acts`: possible opt-outs act too (and so
    /// count as keywords for "the later wins").
    pub async fn hear_inbound(
        &self,
        m: &InboundMessage<'_>,
        effect: Effect,
        possible_acts: bool,
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
            _ if later_keyword(&mut tx, m, possible_acts).await? => Acted::Superseded,
            Effect::Suppress => {
                let added = q(
                    "INSERT INTO suppressions (phone, reason, source, created_at, campaign_id)
                     VALUES ($1, $2, 'keyword', $3, $4) ON CONFLICT (phone) DO NOTHING",
                )
                .bind(m.phone.unwrap_or(m.uid))
                .bind(format!(
                    "replied \"{}\" at {}",
                    m.text.trim(),
                    crate::clock::rfc3339_ms(m.dt_ms)
                ))
                .bind(now)
                .bind(campaign.map(|(c,)| c))
                .execute(&mut tx)
                .await?;
                Acted::Suppressed(added.rows_affected() > 0)
            }
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

    /// Lifts what an onUserDisable event set for `recipient` (onUserEnable): nothing else.
    pub async fn lift_disabled(&self, recipient: &str) -> Result<bool, StoreError> {
        let lifted = q("DELETE FROM suppressions WHERE phone = $1 AND source = 'onUserDisable'")
            .bind(recipient)
            .execute(self.pool())
            .await?;
        Ok(lifted.rows_affected() > 0)
    }

    /// What recipients wrote in answer to the campaign, oldest first.
    pub async fn replies(&self, campaign: CampaignId) -> Result<Vec<Reply>, StoreError> {
        let rows: Vec<(String, String, i64, String, String)> = q_as(
            "SELECT COALESCE(phone, uid), text, dt_ms, verdict, source FROM inbound
             WHERE campaign_id = $1 AND campaign_id IS NOT NULL ORDER BY dt_ms, mid",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(recipient, text, at_ms, verdict, source)| {
                Ok(Reply {
                    recipient,
                    text,
                    at_ms,
                    verdict: Heard::parse(&verdict)?,
                    source: InboundSource::parse(&source)?,
                })
            })
            .collect()
    }

    /// The keyword lists, as (normalised word, list).
    pub async fn keywords(&self) -> Result<Vec<(String, KeywordKind)>, StoreError> {
        let rows: Vec<(String, String)> =
            q_as("SELECT word, kind FROM keywords ORDER BY kind, word")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(word, kind)| Ok((word, KeywordKind::parse(&kind)?)))
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

    /// Asks for `uid`'s conversation to be read for the campaign from `due_at`: client messages
    /// after `since_ms` are heard. A read already asked for keeps the earliest due time and
    /// the widest span.
    pub async fn want_conversation(
        &self,
        campaign: CampaignId,
        uid: &str,
        read: &DueRead,
        due_at: i64,
    ) -> Result<(), StoreError> {
        q(WANT_CONVERSATION)
            .bind(campaign)
            .bind(uid)
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
        let rows: Vec<(String, String, i64, i64, i64)> = q_as(format!(
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
            .map(|(uid, source, since_ms, reads, until_ms)| {
                Ok(DueRead {
                    uid,
                    source: InboundSource::parse(&source)?,
                    since_ms,
                    reads,
                    until_ms,
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
