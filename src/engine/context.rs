//! Setting the context after the send: each recipient's Convrs user gets the campaign's tag
//! (SetUserTag, after CreateUserTag once when `create_tag`) and data (SetUserData), by the
//! process holding the campaign's token, through the token's gate in a lane of its own with the
//! least weight, so sends go first.
//!
//! Both calls are idempotent (a tag added twice, data merged twice, end the same), so a job is
//! tried again after any failure that may pass: no answer, a rate limit, an internal error.
//! A user the API does not know yet (1005: it may create the user after the send) is asked for
//! again for up to 30 minutes after the send, then the job fails with the reason. A tag error
//! (3050-3053) stops the campaign's context jobs with one message; its sends go on.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::campaign::after_send::AfterSend;
use crate::campaign::definition::Channel;
use crate::convrs::wire::{CreateUserTag, SetUserData, SetUserTag};
use crate::convrs::{CallError, Client, ErrorCode};
use crate::dispatch::Gate;
use crate::queue::{CampaignId, ContextEnd, ContextJob, Store, StoreError};

/// The gate's lane for context calls (no campaign has a negative id).
const CONTEXT: CampaignId = CampaignId(-1);

/// How long after the send a user the API does not know yet is asked for again.
const USER_GRACE_MS: i64 = 30 * 60 * 1000;

/// Attempts of a job failing otherwise before it is given up.
const MAX_ATTEMPTS: i64 = 8;

/// Tags this process has created (CreateUserTag once per tag).
#[derive(Debug, Default)]
pub struct CreatedTags(Mutex<HashSet<String>>);

/// Sets the context of up to `limit` due jobs of `token`'s campaigns (or of `campaign`);
/// returns how many were done.
pub async fn send_context(
    store: &Store,
    client: &Client,
    gate: &Arc<Gate>,
    campaign: Option<CampaignId>,
    created: &CreatedTags,
) -> Result<usize, StoreError> {
    let jobs = store
        .due_context(&client.token_fingerprint(), campaign, 20)
        .await?;
    let mut done = 0;
    let mut stopped: HashSet<CampaignId> = HashSet::new();
    for job in jobs {
        if stopped.contains(&job.campaign) {
            continue;
        }
        let Ok(after) = serde_json::from_str::<AfterSend>(&job.after_send) else {
            let reason = "the campaign's after_send cannot be read";
            store.stop_context(job.campaign, reason).await?;
            stopped.insert(job.campaign);
            continue;
        };
        match set(client, gate, &job, &after, created).await {
            Ok(()) => {
                store
                    .context_done(job.message_id, &ContextEnd::Done)
                    .await?;
                done += 1;
            }
            Err(e) => {
                if let Some(stop) = tag_error(&e, &after) {
                    tracing::warn!(campaign = %job.campaign, reason = %stop, "context after the send stopped; the sends go on");
                    store.stop_context(job.campaign, &stop).await?;
                    stopped.insert(job.campaign);
                    // The job stays pending: it is done if the operator mends the tag.
                    let again = ContextEnd::Again {
                        at_ms: store.now_ms(),
                        reason: stop,
                    };
                    store.context_done(job.message_id, &again).await?;
                    continue;
                }
                let end = ending(&job, &e, store.now_ms());
                store.context_done(job.message_id, &end).await?;
            }
        }
    }
    Ok(done)
}

/// A run's context task: every second, the due jobs of its campaign, through its token's gate
/// (kept after the run hands its token on: the calls are not sends). `finish` does a last pass.
pub struct RunContext {
    /// `None` for a campaign without `[after_send]`: nothing to do.
    every: Option<super::token::Renewing>,
    store: Store,
    client: Client,
    gate: Arc<Gate>,
    campaign: CampaignId,
    created: Arc<CreatedTags>,
}

impl RunContext {
    pub async fn start(
        store: &Store,
        client: &Client,
        gate: &Arc<Gate>,
        campaign: CampaignId,
    ) -> Result<Self, StoreError> {
        let created = Arc::new(CreatedTags::default());
        let wanted = store.context_counts(campaign).await?.is_some();
        let (s, c, g, t) = (store.clone(), client.clone(), gate.clone(), created.clone());
        let every = wanted.then(|| super::token::Renewing::start(Duration::from_secs(1), move || {
            let (s, c, g, t) = (s.clone(), c.clone(), g.clone(), t.clone());
            async move {
                if let Err(e) = send_context(&s, &c, &g, Some(campaign), &t).await {
                    tracing::warn!(error = %e, "cannot set the context after the send now; will try again");
                }
                true
            }
        }));
        Ok(RunContext {
            every,
            store: store.clone(),
            client: client.clone(),
            gate: gate.clone(),
            campaign,
            created,
        })
    }

    /// Stops the task, then sets what is due now.
    pub async fn finish(mut self) {
        let Some(every) = self.every.as_mut() else {
            return;
        };
        every.stop().await;
        let last = send_context(
            &self.store,
            &self.client,
            &self.gate,
            Some(self.campaign),
            &self.created,
        );
        if let Err(e) = last.await {
            tracing::warn!(error = %e, "cannot set the context after the send now");
        }
    }
}

impl Drop for RunContext {
    fn drop(&mut self) {
        // Dropped without `finish` (an error path): the task stops.
        if let Some(every) = &self.every {
            every.cancel();
        }
    }
}

/// The user's uid: as the API answered the send, else as the document's examples build it for
/// a WhatsApp or SMS user (`<bot>-wa3-<digits>`, `<bot>-cms-<digits>`).
fn uid_of(job: &ContextJob) -> Option<String> {
    job.uid.clone().or_else(|| {
        let tag = Channel::from_stored(&job.channel).uid_tag()?;
        Some(crate::convrs::uid_of_number(job.bot_id, tag, &job.phone))
    })
}

async fn set(
    client: &Client,
    gate: &Arc<Gate>,
    job: &ContextJob,
    after: &AfterSend,
    created: &CreatedTags,
) -> Result<(), CallError> {
    let Some(uid) = uid_of(job) else {
        return Err(CallError::Unexpected {
            detail: "the send's answer gave no uid, and a route's recipient has none we can \
                     derive"
                .into(),
        });
    };
    if let Some(tag) = &after.tag {
        let fresh = after.create_tag
            && !created
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(tag);
        if fresh {
            gate.admit(CONTEXT, 1).await;
            // An error here is left to SetUserTag to tell: the document does not say what
            // creating a tag that exists answers.
            if let Err(e) = client.call(&CreateUserTag { tag: tag.clone() }).await {
                tracing::debug!(tag, error = %e, "CreateUserTag did not succeed");
            }
            created
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tag.clone());
        }
        gate.admit(CONTEXT, 1).await;
        client
            .call(&SetUserTag {
                uid: uid.clone(),
                tag: tag.clone(),
            })
            .await?;
    }
    let data: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&job.data).unwrap_or_default();
    if !data.is_empty() {
        gate.admit(CONTEXT, 1).await;
        client.call(&SetUserData { uid, data }).await?;
    }
    Ok(())
}

/// A tag error that no job of the campaign gets past: the reason to stop with.
fn tag_error(e: &CallError, after: &AfterSend) -> Option<String> {
    let CallError::Api { code, .. } = e else {
        return None;
    };
    use ErrorCode::*;
    matches!(
        code,
        InvalidTag | InvalidTagColor | InvalidTagDescription | UnknownTag
    )
    .then(|| {
        let tag = after.tag.as_deref().unwrap_or_default();
        let fix = if *code == UnknownTag && !after.create_tag {
            ": create the tag in Convrs, or set create_tag = true in [after_send]".to_string()
        } else {
            String::new()
        };
        format!("the tag {tag:?} cannot be set ({e}){fix}")
    })
}

/// How a failed job ends: again later, or failed with the reason.
fn ending(job: &ContextJob, e: &CallError, now_ms: i64) -> ContextEnd {
    let backoff = |attempts: i64| {
        let seconds = 30u64 << attempts.clamp(0, 5);
        now_ms + Duration::from_secs(seconds).as_millis() as i64
    };
    if let CallError::Api {
        code: ErrorCode::UnknownUser,
        ..
    } = e
    {
        let since_send = now_ms - job.sent_at.unwrap_or(now_ms);
        return if since_send < USER_GRACE_MS {
            ContextEnd::Again {
                at_ms: backoff(job.attempts).min(job.sent_at.unwrap_or(now_ms) + USER_GRACE_MS),
                reason: format!("the user is not created yet ({e})"),
            }
        } else {
            ContextEnd::Failed {
                reason: format!("the user did not exist 30 minutes after the send ({e})"),
            }
        };
    }
    let passing = matches!(
        e,
        CallError::NotSent { .. } | CallError::MaybeSent { .. } | CallError::Http { .. }
    ) || matches!(
        e,
        CallError::Api {
            code: ErrorCode::NumberRateLimit
                | ErrorCode::TokenRateLimit
                | ErrorCode::InternalTimeout
                | ErrorCode::InternalError,
            ..
        }
    );
    if passing && job.attempts + 1 < MAX_ATTEMPTS {
        ContextEnd::Again {
            at_ms: backoff(job.attempts),
            reason: e.to_string(),
        }
    } else {
        ContextEnd::Failed {
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(sent_at: i64, attempts: i64) -> ContextJob {
        ContextJob {
            message_id: 1,
            campaign: CampaignId(1),
            after_send: String::new(),
            data: "{}".into(),
            uid: None,
            phone: "+447911123456".into(),
            bot_id: 3941,
            channel: "whatsapp".into(),
            attempts,
            sent_at: Some(sent_at),
        }
    }

    fn api(code: ErrorCode) -> CallError {
        CallError::Api {
            code,
            message: code.to_string(),
            whatsapp: None,
        }
    }

    #[test]
    fn a_user_not_created_yet_is_asked_for_again_for_30_minutes_after_the_send() {
        let unknown = api(ErrorCode::UnknownUser);
        let sent = 1_000_000;
        assert!(matches!(
            ending(&job(sent, 3), &unknown, sent + 29 * 60_000),
            ContextEnd::Again { at_ms, .. } if at_ms <= sent + USER_GRACE_MS
        ));
        assert!(matches!(
            ending(&job(sent, 4), &unknown, sent + 31 * 60_000),
            ContextEnd::Failed { reason } if reason.contains("30 minutes after the send")
        ));
    }

    #[test]
    fn passing_failures_are_tried_again_until_the_attempts_run_out() {
        let timeout = CallError::MaybeSent {
            detail: "timeout".into(),
        };
        assert!(matches!(
            ending(&job(0, 0), &timeout, 0),
            ContextEnd::Again { .. }
        ));
        assert!(matches!(
            ending(&job(0, MAX_ATTEMPTS - 1), &timeout, 0),
            ContextEnd::Failed { .. }
        ));
        assert!(matches!(
            ending(&job(0, 0), &api(ErrorCode::InvalidEmail), 0),
            ContextEnd::Failed { .. }
        ));
    }

    #[test]
    fn a_tag_error_stops_the_campaigns_context_and_says_what_to_do() {
        let after = AfterSend {
            when: crate::campaign::after_send::When::Accepted,
            tag: Some("spring".into()),
            create_tag: false,
            data: vec![],
        };
        let why = tag_error(&api(ErrorCode::UnknownTag), &after).unwrap();
        assert!(
            why.contains("\"spring\"") && why.contains("create_tag = true"),
            "{why}"
        );
        assert!(tag_error(&api(ErrorCode::UnknownUser), &after).is_none());
    }

    #[test]
    fn the_uid_is_the_answers_or_built_from_the_bot_and_number() {
        assert_eq!(uid_of(&job(0, 0)).unwrap(), "3941-wa3-447911123456");
        let route = ContextJob {
            channel: "route".into(),
            ..job(0, 0)
        };
        assert_eq!(uid_of(&route), None);
    }
}
