//! Reconciling `uncertain` messages: a send that may or may not have reached the API.
//!
//! The uid of the recipient is known in advance (`<botID>-wa3-<digits>` or `<botID>-cms-<digits>`),
//! so GetConversation shows whether an outbound message with this content reached that user
//! after the attempt began. If it did, the message is `sent`. If the user is unknown, or shows
//! nothing, once `safe_delay` has passed since the attempt, it was not sent and is queued again.
//! Anything else stays `uncertain` for the operator (`campaign retry --uncertain`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{DispatchConfig, now_ms};
use crate::convrs::wire::ConversationMessage;
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
}

/// What the conversation says about one uncertain message.
#[derive(Debug, PartialEq, Eq)]
enum Finding {
    Sent(String),
    NotSent(&'static str),
    Wait(DateTime<Utc>),
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
    for u in store.uncertain(campaign).await? {
        let finding = match (expectation(&u, config.command), started(&u)) {
            (Some(expected), Some(started)) => {
                let answer = client.get_conversation(&expected.uid).await;
                judge(&expected, started, answer, Utc::now(), safe_delay)
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
            Finding::NotSent(why) => {
                report.requeued += store.settle_uncertain(&u, None, why).await? as u64
            }
            Finding::Wait(at) => {
                report.undecided += 1;
                report.next_decision = Some(report.next_decision.map_or(at, |n| n.min(at)));
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
    /// Texts the outbound message must contain (the parameters, or the SMS text).
    texts: Vec<String>,
}

fn expectation(u: &Uncertain, command: &str) -> Option<Expected> {
    let payload: Value = serde_json::from_str(&u.payload).ok()?;
    let bot = payload.get("botID")?.as_i64()?;
    let digits = payload
        .get("phone")?
        .as_str()?
        .trim_start_matches('+')
        .to_string();
    let (tag, texts) = if command == "SendSMSMessage" {
        ("cms", vec![payload.get("message")?.as_str()?.to_string()])
    } else {
        let params = payload
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        (
            "wa3",
            params
                .iter()
                .filter_map(|p| p.get("text")?.as_str().map(str::to_string))
                .collect(),
        )
    };
    Some(Expected {
        uid: format!("{bot}-{tag}-{digits}"),
        texts,
    })
}

fn started(u: &Uncertain) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(u.started_at.as_deref()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn judge(
    expected: &Expected,
    started: DateTime<Utc>,
    answer: Result<Vec<ConversationMessage>, CallError>,
    now: DateTime<Utc>,
    safe_delay: Duration,
) -> Finding {
    let decided_at =
        started + chrono::TimeDelta::from_std(safe_delay).unwrap_or(chrono::TimeDelta::MAX);
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
                    && expected.texts.iter().all(|t| m.msg.contains(t.as_str()))
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
            Finding::Unknown
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
            texts: vec!["Ann".into(), "O-1".into()],
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

    #[test]
    fn the_payload_gives_the_uid_in_advance() {
        let u = Uncertain {
            message_id: 1,
            attempt_id: Some(1),
            payload: r#"{"botID":3941,"phone":"+447911000001","message":"Hi"}"#.into(),
            started_at: None,
        };
        let e = expectation(&u, "SendSMSMessage").unwrap();
        assert_eq!(
            (e.uid.as_str(), e.texts),
            ("3941-cms-447911000001", vec!["Hi".to_string()])
        );
    }

    #[test]
    fn an_outbound_message_with_the_content_after_the_attempt_proves_it_was_sent() {
        let started = at("2026-01-01T10:00:00Z");
        let answer = Ok(vec![msg(
            "2026-01-01T10:00:01.000Z",
            "Hi Ann, your order O-1",
            "system",
        )]);
        assert_eq!(
            judge(&expected(), started, answer, started, DELAY),
            Finding::Sent("m1".into())
        );
    }

    #[test]
    fn older_messages_other_content_and_replies_do_not_count() {
        let started = at("2026-01-01T10:00:00Z");
        let answer = || {
            Ok(vec![
                msg(
                    "2026-01-01T09:00:00.000Z",
                    "Hi Ann, your order O-1",
                    "system",
                ),
                msg(
                    "2026-01-01T10:00:01.000Z",
                    "Hi Bob, your order O-9",
                    "system",
                ),
                msg("2026-01-01T10:00:02.000Z", "Ann O-1", "client"),
            ])
        };
        assert_eq!(
            judge(&expected(), started, answer(), started, DELAY),
            Finding::Wait(started + chrono::TimeDelta::seconds(60))
        );
        let later = started + chrono::TimeDelta::seconds(61);
        assert!(matches!(
            judge(&expected(), started, answer(), later, DELAY),
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
            judge(&expected(), started, unknown(), started, DELAY),
            Finding::Wait(_)
        ));
        assert!(matches!(
            judge(&expected(), started, unknown(), started, Duration::ZERO),
            Finding::NotSent(_)
        ));
        let down = Err(CallError::NotSent {
            detail: "refused".into(),
        });
        assert_eq!(
            judge(&expected(), started, down, started, Duration::ZERO),
            Finding::Unknown
        );
    }
}
