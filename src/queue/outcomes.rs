//! How attempts end, recorded: each outcome moves its message (fenced by the attempt id: a
//! message no longer this attempt's is left alone) and closes its attempt, a hundred at a
//! time in two set-based statements; a permanent failure suppresses the number, and an
//! accepted message of a campaign that sets context after the send gets its job.

use super::acks::{final_acks_sql, state_for_sql};
use super::claim::Claim;
use super::sql::{Builder, built, q};
use super::{AttemptOutcome, Backend, Lock, MessageState, Store, StoreError, counts};

/// How an attempt ended, as stored.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Accepted; first poll at `poll_at` (unix ms).
    Sent {
        mid: String,
        uid: Option<String>,
        poll_at: i64,
    },
    /// Accepted without a mid (a text): sent to `uid`, its mid searched for in the user's
    /// conversation from `poll_at` (unix ms).
    SentUnidentified {
        uid: String,
        poll_at: i64,
    },
    Retry {
        at_ms: i64,
        reason: String,
    },
    /// Failed for good; `suppress` puts the number on the suppression list (2006, 131050).
    Failed {
        code: Option<i64>,
        reason: String,
        suppress: bool,
    },
    Uncertain {
        reason: String,
    },
    /// The request never reached the API: queued again for `at_ms`, the attempt not counted.
    Unreached {
        at_ms: i64,
        reason: String,
    },
    /// Not sent because the campaign or token was stopped: back to the queue.
    Released {
        reason: String,
    },
}

impl Outcome {
    /// Accepted by the API, with a mid or without.
    pub fn is_sent(&self) -> bool {
        matches!(
            self,
            Outcome::Sent { .. } | Outcome::SentUnidentified { .. }
        )
    }

    /// Its kind, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } | Outcome::SentUnidentified { .. } => "sent",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed { .. } => "failed",
            Outcome::Uncertain { .. } => "uncertain",
            Outcome::Unreached { .. } => "unreached",
            Outcome::Released { .. } => "released",
        }
    }
}

/// A message going back to the queue of a campaign the operator cancelled is cancelled instead.
const CANCELLED: &str = "WHEN v.state = 'queued' AND EXISTS (SELECT 1 FROM campaigns c \
     WHERE c.id = messages.campaign_id AND c.control = 'cancelled') THEN 'cancelled'";

/// One ended attempt, as the columns it writes.
struct Finished<'a> {
    message_id: i64,
    attempt_id: i64,
    started_at: i64,
    state: AttemptOutcome,
    mid: Option<&'a str>,
    uid: Option<&'a str>,
    code: Option<i64>,
    detail: &'a str,
    next: i64,
    /// 1 when the attempt never left (released): it does not count.
    give_back: i64,
    /// When it was accepted, and when to poll it first (unix ms).
    sent_at: Option<i64>,
    poll_at: Option<i64>,
}

impl<'a> Finished<'a> {
    fn of(claim: &Claim, outcome: &'a Outcome, now_ms: i64) -> Self {
        let (state, detail) = match outcome {
            Outcome::Sent { .. } | Outcome::SentUnidentified { .. } => (AttemptOutcome::Sent, ""),
            Outcome::Retry { reason, .. }
            | Outcome::Unreached { reason, .. }
            | Outcome::Released { reason } => (AttemptOutcome::Queued, reason.as_str()),
            Outcome::Failed { reason, .. } => (AttemptOutcome::Failed, reason.as_str()),
            Outcome::Uncertain { reason } => (AttemptOutcome::Uncertain, reason.as_str()),
        };
        let (mid, uid) = match outcome {
            Outcome::Sent { mid, uid, .. } => (Some(mid.as_str()), uid.as_deref()),
            Outcome::SentUnidentified { uid, .. } => (None, Some(uid.as_str())),
            _ => (None, None),
        };
        Finished {
            message_id: claim.message_id,
            attempt_id: claim.attempt_id,
            started_at: claim.started_at,
            state,
            mid,
            uid,
            code: match outcome {
                Outcome::Failed { code, .. } => *code,
                _ => None,
            },
            detail,
            next: match outcome {
                Outcome::Retry { at_ms, .. } | Outcome::Unreached { at_ms, .. } => *at_ms,
                _ => 0,
            },
            give_back: matches!(
                outcome,
                Outcome::Released { .. } | Outcome::Unreached { .. }
            ) as i64,
            sent_at: outcome.is_sent().then_some(now_ms),
            poll_at: match outcome {
                Outcome::Sent { poll_at, .. } | Outcome::SentUnidentified { poll_at, .. } => {
                    Some(*poll_at)
                }
                _ => None,
            },
        }
    }
}

impl Store {
    /// Records how an attempt ended. False if the message was no longer this attempt's.
    pub async fn finish(&self, claim: &Claim, outcome: &Outcome) -> Result<bool, StoreError> {
        Ok(self
            .finish_many(&[(claim.clone(), outcome.clone())])
            .await?
            == 1)
    }

    /// Records several ended attempts in one transaction (one fsync); returns how many
    /// messages were still theirs and changed.
    pub async fn finish_many(&self, ended: &[(Claim, Outcome)]) -> Result<u64, StoreError> {
        let stamp = self.now_ms();
        let mut tx = self.begin(Lock::Beside).await?;
        let mut changed = 0;
        // Set-based: two statements per 100 outcomes.
        for chunk in ended.chunks(100) {
            let rows: Vec<Finished> = chunk
                .iter()
                .map(|(c, o)| Finished::of(c, o, stamp))
                .collect();
            let mut messages = finishing(self.backend, &rows, stamp);
            changed += match self.backend {
                // Counted here, not by SQLite's row trigger (migration 0026).
                Backend::Sqlite => {
                    messages.push(MOVED);
                    let moved = built(&mut messages).fetch_all(&mut tx).await?;
                    let moves = counts::moved_from(&moved, MessageState::Sending)?;
                    counts::count_moved(&mut tx, self.backend, moves).await?;
                    moved.len() as u64
                }
                Backend::Postgres => built(&mut messages).execute(&mut tx).await?.rows_affected(),
            };
            let mut attempts = ending(self.backend, &rows, stamp);
            built(&mut attempts).execute(&mut tx).await?;
        }
        // Context after the send, for campaigns that set it once a message is accepted (the
        // claim read it): the jobs are stored with the outcomes that trigger them.
        let accepted: Vec<i64> = ended
            .iter()
            .filter(|(c, o)| c.context_on_accept && o.is_sent())
            .map(|(c, _)| c.message_id)
            .collect();
        for ids in accepted.chunks(100) {
            let mut jobs = super::context::enqueue(self.backend, ids, "'accepted'", stamp);
            built(&mut jobs).execute(&mut tx).await?;
        }
        for (claim, outcome) in ended {
            if let Outcome::Failed {
                suppress: true,
                reason,
                ..
            } = outcome
            {
                q("INSERT INTO suppressions (phone, reason, source, created_at) VALUES ($1, $2, 'api', $3) ON CONFLICT (phone) DO NOTHING")
                    .bind(&claim.phone)
                    .bind(reason)
                    .bind(stamp)
                    .execute(&mut tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(changed)
    }
}

fn finishing(backend: Backend, rows: &[Finished<'_>], stamp: i64) -> Builder {
    let mut messages = Builder::new(
        backend,
        "WITH v(id, attempt, state, mid, uid, code, err, next, give, sent_at, poll_at) AS (",
    );
    match backend {
        Backend::Sqlite => {
            messages.push_values(rows, |mut b, f| {
                b.push_bind(f.message_id)
                    .push_bind(f.attempt_id)
                    .push_bind(f.state.as_str())
                    .push_bind(f.mid)
                    .push_bind(f.uid)
                    .push_bind(f.code)
                    .push_bind(f.detail)
                    .push_bind(f.next)
                    .push_bind(f.give_back)
                    .push_bind(f.sent_at)
                    .push_bind(f.poll_at);
            });
        }
        // One array per column: the statement's text is the same whatever the batch's size.
        Backend::Postgres => finished_arrays(&mut messages, rows),
    }
    messages
        .push(
            // An ack heard while the message was still `sending` (the callback beat the
            // answer) proves it was sent, whatever the answer said: it decides the state.
            format!(
                ") UPDATE messages SET state = CASE WHEN messages.ack IS NOT NULL THEN {} {CANCELLED} ELSE v.state END, ",
                state_for_sql("messages.ack")
            ),
        )
        .push(
            "\
             mid = COALESCE(v.mid, messages.mid), uid = COALESCE(v.uid, messages.uid), \
             error_code = CASE WHEN messages.ack IS NOT NULL THEN NULL ELSE v.code END, \
             error = CASE WHEN v.state = 'sent' OR messages.ack IS NOT NULL THEN messages.error \
                 ELSE NULLIF(v.err, '') END, \
             next_attempt_at = v.next, \
             attempts = messages.attempts - CASE WHEN messages.ack IS NOT NULL THEN 0 ELSE v.give END, \
             sent_at = COALESCE(v.sent_at, messages.sent_at, CASE WHEN messages.ack IS NOT NULL THEN ",
        )
        .push_bind(stamp)
        .push(format!(
            " END), \
             next_poll_at = CASE WHEN COALESCE(messages.ack, 0) IN ({}) THEN messages.next_poll_at \
                 WHEN v.poll_at IS NOT NULL THEN v.poll_at \
                 WHEN messages.ack IS NOT NULL THEN COALESCE(messages.next_poll_at, ",
            final_acks_sql()
        ))
        .push_bind(stamp)
        .push(
            ") ELSE messages.next_poll_at END, \
             updated_at = ",
        )
        .push_bind(stamp)
        .push(" FROM v WHERE messages.id = v.id AND messages.attempt_id = v.attempt AND messages.state = 'sending'");
    messages
}

/// The attempts of `rows` written, ended at `stamp` with their outcome and detail: the one
/// write of an attempt's row (the claim put its id and start on the message). An attempt
/// that already has a row (ended as `uncertain` when a new holder took its campaign over, or
/// made by a claim before migration 0025) is given this outcome, as the end of an attempt
/// always was.
fn ending(backend: Backend, rows: &[Finished<'_>], stamp: i64) -> Builder {
    let mut attempts = Builder::new(
        backend,
        "WITH v(id, message_id, started_at, outcome, detail) AS (",
    );
    match backend {
        Backend::Sqlite => {
            attempts.push_values(rows, |mut b, f| {
                b.push_bind(f.attempt_id)
                    .push_bind(f.message_id)
                    .push_bind(f.started_at)
                    .push_bind(f.state.as_str())
                    .push_bind(f.detail);
            });
        }
        Backend::Postgres => {
            attempts
                .push("SELECT * FROM unnest(")
                .push_bind(column(rows, |f| f.attempt_id))
                .push("::bigint[], ")
                .push_bind(column(rows, |f| f.message_id))
                .push("::bigint[], ")
                .push_bind(column(rows, |f| f.started_at))
                .push("::bigint[], ")
                .push_bind(column(rows, |f| f.state.as_str().to_string()))
                .push("::text[], ")
                .push_bind(column(rows, |f| f.detail.to_string()))
                .push("::text[])");
        }
    }
    attempts
        .push(
            ") INSERT INTO attempts (id, message_id, started_at, finished_at, outcome, detail) \
             SELECT id, message_id, started_at, ",
        )
        .push_bind(stamp)
        // `WHERE true`: SQLite's parser needs it before an upsert's ON CONFLICT.
        .push(", outcome, NULLIF(detail, '') FROM v WHERE true ")
        .push(ATTEMPT_ENDED);
    attempts
}

/// What a statement that moves messages returns of each, to count it (`counts::moved_from`).
pub(super) const MOVED: &str = " RETURNING messages.campaign_id, messages.state, messages.ack";

/// An attempt's row that is there already takes the end being written.
pub(super) const ATTEMPT_ENDED: &str = "ON CONFLICT (id) DO UPDATE SET \
     finished_at = excluded.finished_at, outcome = excluded.outcome, detail = excluded.detail";

/// One column of `rows`, as an array argument.
fn column<T>(rows: &[Finished<'_>], f: impl Fn(&Finished<'_>) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// `rows` as `SELECT * FROM unnest(...)`, one array per column of `v`.
fn finished_arrays(messages: &mut Builder, rows: &[Finished<'_>]) {
    messages
        .push("SELECT * FROM unnest(")
        .push_bind(column(rows, |f| f.message_id))
        .push("::bigint[], ")
        .push_bind(column(rows, |f| f.attempt_id))
        .push("::bigint[], ")
        .push_bind(column(rows, |f| f.state.as_str().to_string()))
        .push("::text[], ")
        .push_bind(column(rows, |f| f.mid.map(str::to_string)))
        .push("::text[], ")
        .push_bind(column(rows, |f| f.uid.map(str::to_string)))
        .push("::text[], ")
        .push_bind(column(rows, |f| f.code))
        .push("::bigint[], ")
        .push_bind(column(rows, |f| f.detail.to_string()))
        .push("::text[], ")
        .push_bind(column(rows, |f| f.next))
        .push("::bigint[], ")
        .push_bind(column(rows, |f| f.give_back))
        .push("::bigint[], ")
        .push_bind(column(rows, |f| f.sent_at))
        .push("::bigint[], ")
        .push_bind(column(rows, |f| f.poll_at))
        .push("::bigint[])");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(n: i64) -> Vec<Finished<'static>> {
        (0..n)
            .map(|i| Finished {
                message_id: i,
                attempt_id: i,
                started_at: 0,
                state: AttemptOutcome::Sent,
                mid: Some("m"),
                uid: None,
                code: None,
                detail: "",
                next: 0,
                give_back: 0,
                sent_at: Some(1),
                poll_at: None,
            })
            .collect()
    }

    /// On PostgreSQL the outcome batch is one array per column: one text, prepared once,
    /// whatever the batch's size (SQLite, which has no arrays, gets a row of `?` per outcome).
    #[test]
    fn an_outcome_batch_has_one_text_whatever_its_size_on_postgres() {
        let text = |backend, n| finishing(backend, &ended(n), 0).text().to_string();
        assert_eq!(text(Backend::Postgres, 1), text(Backend::Postgres, 100));
        assert!(text(Backend::Postgres, 3).contains("unnest("));
        assert_ne!(text(Backend::Sqlite, 1), text(Backend::Sqlite, 2));
    }
}
