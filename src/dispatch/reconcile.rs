//! Reconciling `uncertain` messages: a send that may or may not have reached the API.
//!
//! The uid of the recipient is known in advance (`<botID>-wa3-<digits>` or `<botID>-cms-<digits>`),
//! so GetConversation shows whether an outbound message with exactly this text (the template
//! body with its parameters, or the SMS text) reached that user after the attempt began. If it
//! did, the message is `sent`. If the user is unknown, or shows nothing, once `safe_delay` has
//! passed since the attempt *ended* (the client gave up, the connection broke, or the run died),
//! it was not sent and is queued again, unless it has used up its attempts: a message that keeps
//! meeting ambiguous answers stays `uncertain`. Anything that cannot be decided stays
//! `uncertain` for the operator (`campaign retry --uncertain`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use std::collections::HashMap;

use super::{DispatchConfig, now_ms};
use crate::convrs::wire::{ConversationMessage, Template, render_body};
use crate::convrs::{CallError, Client, ErrorCode};
use crate::queue::{CampaignId, Store, StoreError, Uncertain};

/// Allowance for the API's clock being behind ours.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

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

/// What the conversation says about one uncertain message.
#[derive(Debug, PartialEq, Eq)]
enum Finding {
    Sent(String),
    NotSent(&'static str),
    Wait(DateTime<Utc>),
    /// GetConversation failed: ask again later.
    Unanswered,
    Unknown,
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
    for u in store.uncertain(campaign).await? {
        let expected = expectation(&u, config.command, &mut templates, store).await?;
        let finding = match (expected, time(&u.started_at), time(&u.ended_at)) {
            (Some(expected), Some(started), Some(ended)) => {
                let answer = client.get_conversation(&expected.uid).await;
                judge(&expected, (started, ended), answer, Utc::now(), safe_delay)
            }
            _ => Finding::Unknown,
        };
        match finding {
            Finding::Sent(mid) => {
                let why = "reconciled: the conversation shows it was sent";
                report.sent += store
                    .settle_uncertain(
                        &u,
                        Some((&mid, now_ms() + config.first_poll.as_millis() as i64)),
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
            Finding::Unknown => report.undecided += 1,
        }
    }
    Ok(report)
}

/// What a message that reached the API looks like in the conversation.
#[derive(Debug)]
struct Expected {
    uid: String,
    /// The whole text the recipient sees: the template body with its parameters, or the SMS.
    text: String,
}

/// Template bodies by (bot, name, language), from the store's cache; `None` when not cached.
type Templates = HashMap<(i64, String, String), Option<String>>;

async fn expectation(
    u: &Uncertain,
    command: &str,
    templates: &mut Templates,
    store: &Store,
) -> Result<Option<Expected>, StoreError> {
    let Ok(payload) = serde_json::from_str::<Value>(&u.payload) else {
        return Ok(None);
    };
    let (Some(bot), Some(phone)) = (
        payload.get("botID").and_then(Value::as_i64),
        payload.get("phone").and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let digits = phone.trim_start_matches('+');
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    if command == "SendSMSMessage" {
        return Ok(text("message").map(|text| Expected {
            uid: format!("{bot}-cms-{digits}"),
            text,
        }));
    }
    let (Some(name), Some(language)) = (text("templateName"), text("language")) else {
        return Ok(None);
    };
    let key = (bot, name, language);
    if !templates.contains_key(&key) {
        let cached = store.cached_template(bot, &key.1, &key.2).await?;
        let body = cached
            .and_then(|json| serde_json::from_str::<Template>(&json).ok())
            .map(|t| t.body_text().to_string());
        templates.insert(key.clone(), body);
    }
    // Without the body there is nothing that proves this message over any other: undecided.
    let Some(Some(body)) = templates.get(&key) else {
        return Ok(None);
    };
    let params: Vec<String> = payload
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Expected {
        uid: format!("{bot}-wa3-{digits}"),
        text: render_body(body, &params),
    }))
}

fn time(at: &Option<String>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at.as_deref()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `attempt` is when the attempt started and when it ended.
fn judge(
    expected: &Expected,
    (started, ended): (DateTime<Utc>, DateTime<Utc>),
    answer: Result<Vec<ConversationMessage>, CallError>,
    now: DateTime<Utc>,
    safe_delay: Duration,
) -> Finding {
    let decided_at = chrono::TimeDelta::from_std(safe_delay)
        .ok()
        .and_then(|d| ended.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let nothing_seen = |why| {
        if now >= decided_at {
            Finding::NotSent(why)
        } else {
            Finding::Wait(decided_at)
        }
    };
    match answer {
        Ok(messages) => {
            let found = messages.iter().find(|m| {
                m.sender != "client"
                    && DateTime::parse_from_rfc3339(&m.dt)
                        .is_ok_and(|dt| dt.with_timezone(&Utc) >= started - CLOCK_SKEW)
                    && m.msg.trim() == expected.text.trim()
            });
            match found {
                Some(m) => Finding::Sent(m.mid.clone()),
                None => nothing_seen(
                    "reconciled: no such message in the conversation, so it was not sent",
                ),
            }
        }
        Err(CallError::Api {
            code: ErrorCode::UnknownUser,
            ..
        }) => nothing_seen("reconciled: the user does not exist, so it was not sent"),
        Err(e) => {
            tracing::warn!(uid = %expected.uid, error = %e, "cannot reconcile an uncertain message now");
            Finding::Unanswered
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn expected() -> Expected {
        Expected {
            uid: "3941-wa3-447911000001".into(),
            text: "Hi Ann, your order O-1 is confirmed".into(),
        }
    }

    fn msg(dt: &str, text: &str, sender: &str) -> ConversationMessage {
        ConversationMessage {
            mid: "m1".into(),
            msg: text.into(),
            dt: dt.into(),
            sender: sender.into(),
            ..Default::default()
        }
    }

    const DELAY: Duration = Duration::from_secs(60);

    /// An attempt that started and ended at `t`.
    fn instant(t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (t, t)
    }

    #[test]
    fn an_outbound_message_with_the_whole_text_after_the_attempt_proves_it_was_sent() {
        let started = at("2026-01-01T10:00:00Z");
        let answer = Ok(vec![msg(
            "2026-01-01T10:00:01.000Z",
            "Hi Ann, your order O-1 is confirmed",
            "system",
        )]);
        assert_eq!(
            judge(&expected(), instant(started), answer, started, DELAY),
            Finding::Sent("m1".into())
        );
    }

    #[test]
    fn older_messages_other_content_partial_matches_and_replies_do_not_count() {
        let started = at("2026-01-01T10:00:00Z");
        let answer = || {
            Ok(vec![
                msg(
                    "2026-01-01T09:00:00.000Z",
                    "Hi Ann, your order O-1 is confirmed",
                    "system",
                ),
                msg(
                    "2026-01-01T10:00:01.000Z",
                    "Hi Bob, your order O-9 is confirmed",
                    "system",
                ),
                // Another campaign's message that happens to contain the parameters.
                msg("2026-01-01T10:00:01.000Z", "Ann: O-1 has shipped", "system"),
                msg(
                    "2026-01-01T10:00:02.000Z",
                    "Hi Ann, your order O-1 is confirmed",
                    "client",
                ),
            ])
        };
        assert_eq!(
            judge(&expected(), instant(started), answer(), started, DELAY),
            Finding::Wait(started + chrono::TimeDelta::seconds(60))
        );
        let later = started + chrono::TimeDelta::seconds(61);
        assert!(matches!(
            judge(&expected(), instant(started), answer(), later, DELAY),
            Finding::NotSent(_)
        ));
    }

    #[test]
    fn the_safe_delay_counts_from_when_the_attempt_ended_not_when_it_was_claimed() {
        // Claimed at 10:00:00, the request gave up at 10:00:30 (the client's timeout): a
        // conversation still empty at 10:01:01 proves nothing yet, since the API may still be
        // processing what it received just before 10:00:30.
        let started = at("2026-01-01T10:00:00Z");
        let ended = at("2026-01-01T10:00:30Z");
        let empty = || Ok(vec![]);
        let now = at("2026-01-01T10:01:01Z");
        assert_eq!(
            judge(&expected(), (started, ended), empty(), now, DELAY),
            Finding::Wait(ended + chrono::TimeDelta::seconds(60))
        );
        let now = at("2026-01-01T10:01:31Z");
        assert!(matches!(
            judge(&expected(), (started, ended), empty(), now, DELAY),
            Finding::NotSent(_)
        ));
    }

    #[test]
    fn an_unknown_user_means_not_sent_once_the_safe_delay_has_passed() {
        let started = at("2026-01-01T10:00:00Z");
        let unknown = || {
            Err(CallError::Api {
                code: ErrorCode::UnknownUser,
                message: "unknown user".into(),
                whatsapp: None,
            })
        };
        assert!(matches!(
            judge(&expected(), instant(started), unknown(), started, DELAY),
            Finding::Wait(_)
        ));
        assert!(matches!(
            judge(
                &expected(),
                instant(started),
                unknown(),
                started,
                Duration::ZERO
            ),
            Finding::NotSent(_)
        ));
        let down = Err(CallError::NotSent {
            detail: "refused".into(),
        });
        assert_eq!(
            judge(&expected(), instant(started), down, started, Duration::ZERO),
            Finding::Unanswered
        );
    }
}
