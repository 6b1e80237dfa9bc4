//! Reconciling `uncertain` messages: a send that may or may not have reached the API.
//!
//! The uid of the recipient is known in advance (`<botID>-wa3-<digits>` or `<botID>-cms-<digits>`),
//! so GetConversation shows what reached that user after the attempt began:
//! - an outbound message with exactly this text (the template body with its parameters, or the
//!   SMS text) proves it was sent;
//! - no outbound message at all, or only messages other sends of ours account for (their mids
//!   are in the store), once `safe_delay` has passed since the attempt *ended* (the client gave
//!   up, the connection broke, or the run died), proves it was not sent: it is queued again,
//!   unless it has used up its attempts;
//! - an outbound message nothing accounts for, whose text is not our rendering, decides
//!   nothing: the API document does not say how a template shows in a conversation (a header,
//!   the name, the parameters only...), so it may be this very message. It stays `uncertain`
//!   with that reason: sending it again on a guess is how people get it twice.
//!
//! Anything that cannot be decided stays `uncertain` for the operator (`campaign retry
//! --uncertain`).

mod expected;
mod judge;

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::DispatchConfig;
use crate::campaign::identity::Settings;
use crate::convrs::Client;
use crate::queue::{CampaignId, Store, StoreError};
use expected::{Templates, expectation, route_expectation};
use judge::{Finding, judge};
pub use judge::{find_sent, outbound_since};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Proven sent.
    pub sent: u64,
    /// Proven not sent, queued again.
    pub requeued: u64,
    /// Still uncertain.
    pub undecided: u64,
    /// When the next undecided message can be decided by waiting (its safe delay ends).
    pub next_decision: Option<DateTime<Utc>>,
    /// Undecided because GetConversation failed: worth asking again soon.
    pub unanswered: u64,
}

pub async fn reconcile(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    config: &DispatchConfig,
    safe_delay: Duration,
) -> Result<Reconciled, StoreError> {
    let mut report = Reconciled::default();
    let mut templates = Templates::default();
    let settings = match config.command {
        "SendMessage" => store
            .campaign_settings(campaign)
            .await?
            .and_then(|json| Settings::from_json(&json)),
        _ => None,
    };
    for u in store.uncertain(campaign).await? {
        let expected = match &settings {
            Some(settings) => route_expectation(&u, settings),
            None => expectation(&u, config.command, &mut templates, store).await?,
        };
        let finding = match (expected, time(&u.started_at), time(&u.ended_at)) {
            (Some(expected), Some(started), Some(ended)) => {
                let answer = client.get_conversation(&expected.uid).await;
                let known = match &answer {
                    Ok(messages) => {
                        let mids: Vec<&str> = outbound_since(messages, started)
                            .map(|m| m.mid.as_str())
                            .collect();
                        store.known_mids(&mids).await?
                    }
                    Err(_) => Default::default(),
                };
                let attempt = (started, ended);
                judge(&expected, attempt, answer, &known, Utc::now(), safe_delay)
            }
            _ => Finding::Unknown,
        };
        match finding {
            Finding::Sent(mid) => {
                let why = "reconciled: the conversation shows it was sent";
                report.sent += store
                    .settle_uncertain(
                        &u,
                        Some((&mid, store.now_ms() + config.first_poll.as_millis() as i64)),
                        why,
                    )
                    .await? as u64;
            }
            Finding::NotSent(_) if u.attempts >= config.max_attempts => {
                let why = format!(
                    "{} attempts, each with an ambiguous answer; not sent again automatically: \
                     `campaign retry CAMPAIGN --uncertain` sends it again if you decide so",
                    u.attempts
                );
                store.leave_uncertain(&u, &why).await?;
                report.undecided += 1;
            }
            Finding::NotSent(why) => {
                report.requeued += store.settle_uncertain(&u, None, why).await? as u64
            }
            Finding::Wait(at) => {
                report.undecided += 1;
                report.next_decision = Some(report.next_decision.map_or(at, |n| n.min(at)));
            }
            Finding::Unanswered => {
                report.undecided += 1;
                report.unanswered += 1;
            }
            Finding::Ambiguous(why) => {
                store.leave_uncertain(&u, &why).await?;
                report.undecided += 1;
            }
            Finding::Unknown => report.undecided += 1,
        }
    }
    Ok(report)
}

fn time(at: &Option<i64>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis((*at)?)
}
