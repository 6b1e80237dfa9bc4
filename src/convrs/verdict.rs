//! What the dispatcher does with the outcome of one send attempt.
//!
//! Every answer, and every way an attempt can fail, maps to one `Verdict`. The rule that matters
//! most: only an answer that proves the request was not processed may be retried blindly; anything
//! that may have reached the server is `Ambiguous` and must be reconciled, never resent.

use std::time::Duration;

use super::client::CallError;
use super::codes::{ErrorCode, whatsapp};
use super::wire::Answer;

/// The outcome of one send, as a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The API accepted the message.
    Accepted { mid: String, uid: Option<String> },
    /// The API accepted a text (SendTextMessage answers `ok:1` without a mid, as the document
    /// shows): sent, its mid to be found in the user's conversation.
    AcceptedWithoutId,
    /// Not sent, and safe to send again after `after`. `rate_limited` asks the sender to slow down.
    RetryLater {
        reason: String,
        after: Duration,
        rate_limited: bool,
    },
    /// The request never reached the API (connection refused, DNS, connect timeout): nothing
    /// was sent. Many in a row mean an outage, not a bad message.
    Unreachable { reason: String },
    /// May or may not have been sent: reconcile before doing anything else.
    Ambiguous { reason: String },
    /// Ambiguous because no answer came at all (a timeout, the connection lost after the
    /// request was written): many in a row mean an API that takes requests and answers none.
    Unanswered { reason: String },
    /// This message can never be sent as it is. `suppress` marks a number to add to the
    /// suppression list (unsubscribed, opted out).
    Rejected {
        reason: String,
        code: Option<i64>,
        suppress: bool,
    },
    /// Every message of this campaign would fail the same way: pause the campaign.
    StopCampaign { reason: String },
    /// The token itself is refused or blocked: stop every campaign that uses it.
    StopToken { reason: String },
}

const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);
const TRANSIENT_PAUSE: Duration = Duration::from_secs(5);
const AGENT_CHAT_PAUSE: Duration = Duration::from_secs(15 * 60);
const ENGAGEMENT_PAUSE: Duration = Duration::from_secs(6 * 3600);

impl Verdict {
    /// Classifies the result of a send call.
    pub fn of_send(result: Result<Answer, CallError>) -> Verdict {
        match result {
            Ok(answer) => match answer.mid {
                Some(mid) if !mid.is_empty() => Verdict::Accepted {
                    mid,
                    uid: answer.uid,
                },
                _ => Verdict::Ambiguous {
                    reason: "the API said ok but gave no message id".into(),
                },
            },
            Err(CallError::Api {
                code,
                message,
                whatsapp,
            }) => classify_api_error(code, &message, whatsapp),
            Err(err @ CallError::NotSent { .. }) => Verdict::Unreachable {
                reason: err.to_string(),
            },
            Err(err @ CallError::MaybeSent { .. }) => Verdict::Unanswered {
                reason: err.to_string(),
            },
            Err(err @ CallError::Redirect { .. }) => Verdict::StopCampaign {
                reason: err.to_string(),
            },
            Err(err @ CallError::Http { status, .. }) => match status {
                429 => retry(err.to_string(), RATE_LIMIT_PAUSE, true),
                401 | 403 => Verdict::StopToken {
                    reason: err.to_string(),
                },
                400..=499 => Verdict::StopCampaign {
                    reason: err.to_string(),
                },
                _ => Verdict::Ambiguous {
                    reason: err.to_string(),
                },
            },
            Err(err @ CallError::Unexpected { .. }) => Verdict::Ambiguous {
                reason: err.to_string(),
            },
        }
    }
}

impl Verdict {
    /// Classifies the result of a SendTextMessage: its success has no mid, and 131047 means
    /// the recipient's 24-hour window closed (failed, the number not suppressed).
    pub fn of_text(result: Result<Answer, CallError>) -> Verdict {
        match result {
            Ok(answer) if answer.mid.as_deref().is_none_or(str::is_empty) => {
                Verdict::AcceptedWithoutId
            }
            Err(CallError::Api {
                whatsapp: Some((whatsapp::REENGAGEMENT, desc)),
                ..
            }) => Verdict::Rejected {
                reason: format!(
                    "window closed: WhatsApp refused the text (3002, WhatsApp error 131047: {desc}): more than 24 hours since the user last wrote; only a template reaches them now"
                ),
                code: Some(whatsapp::REENGAGEMENT),
                suppress: false,
            },
            other => Verdict::of_send(other),
        }
    }
}

fn retry(reason: String, after: Duration, rate_limited: bool) -> Verdict {
    Verdict::RetryLater {
        reason,
        after,
        rate_limited,
    }
}

fn classify_api_error(code: ErrorCode, message: &str, wa: Option<(i64, String)>) -> Verdict {
    use ErrorCode::*;
    let reason = format!("{code}: {message}");
    let reject = |suppress: bool| Verdict::Rejected {
        reason: reason.clone(),
        code: Some(code.code()),
        suppress,
    };
    match code {
        MissingToken | InvalidToken => Verdict::StopToken { reason },
        NumberRateLimit | TokenRateLimit | WhatsAppBusy => retry(reason, RATE_LIMIT_PAUSE, true),
        CannotCreateUser | SmsSendingError => retry(reason, TRANSIENT_PAUSE, false),
        UserChattingToAgent => retry(reason, AGENT_CHAT_PAUSE, false),
        InternalTimeout | InternalError => Verdict::Ambiguous { reason },
        Unsubscribed => reject(true),
        InvalidPhone | InvalidPhoneLength | MissingPhone | MissingMessage | MessageTooLong => {
            reject(false)
        }
        WhatsAppApiError => match wa {
            Some((wa_code, desc)) => classify_whatsapp(wa_code, &desc),
            None => reject(false),
        },
        UnknownCommand
        | MissingChatbotId
        | UnknownChatbot
        | WrongChatbotType
        | MissingRoute
        | UnknownRoute
        | RouteTooLong
        | InvalidJson
        | WebsocketReused
        | WebsocketConnectExpected
        | InvalidAgentEmail
        | NoTemplates
        | UnknownTemplate
        | MissingTemplateName
        | MissingTemplateLanguage => Verdict::StopCampaign { reason },
        InvalidEndDate
        | InvalidStartDate
        | UnknownUser
        | UnknownMessageId
        | StartAfterEnd
        | InvalidName
        | InvalidNote
        | InvalidEmail
        | MissingUid
        | InvalidTag
        | InvalidTagColor
        | InvalidTagDescription
        | UnknownTag
        | Other(_) => reject(false),
    }
}

fn classify_whatsapp(code: i64, desc: &str) -> Verdict {
    use whatsapp::*;
    let reason = format!(
        "3002 WhatsApp error {code} ({}): {desc}",
        whatsapp::describe(code)
    );
    let reject = |suppress| Verdict::Rejected {
        reason: reason.clone(),
        code: Some(code),
        suppress,
    };
    match code {
        SPAM_RATE_LIMIT => Verdict::StopToken { reason },
        TEMPLATE_PAUSED | TEMPLATE_DISABLED => Verdict::StopCampaign { reason },
        RATE_LIMIT | PAIR_RATE_LIMIT => retry(reason, RATE_LIMIT_PAUSE, true),
        ECOSYSTEM_ENGAGEMENT => retry(reason, ENGAGEMENT_PAUSE, false),
        MARKETING_OPT_OUT => reject(true),
        UNDELIVERABLE
        | REENGAGEMENT
        | PARAM_COUNT_MISMATCH
        | PARAM_FORMAT_MISMATCH
        | PARAM_INVALID => reject(false),
        _ => reject(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> Result<Answer, CallError> {
        Err(CallError::Api {
            code: ErrorCode::from_code(code),
            message: "x".into(),
            whatsapp: None,
        })
    }

    fn wa(code: i64) -> Result<Answer, CallError> {
        Err(CallError::Api {
            code: ErrorCode::WhatsAppApiError,
            message: "WhatsApp error".into(),
            whatsapp: Some((code, "d".into())),
        })
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Accepted { .. } | Verdict::AcceptedWithoutId => "accepted",
            Verdict::RetryLater {
                rate_limited: true, ..
            } => "slow-down",
            Verdict::RetryLater { .. } => "retry",
            Verdict::Unreachable { .. } => "unreachable",
            Verdict::Ambiguous { .. } | Verdict::Unanswered { .. } => "ambiguous",
            Verdict::Rejected { suppress: true, .. } => "reject+suppress",
            Verdict::Rejected { .. } => "reject",
            Verdict::StopCampaign { .. } => "stop-campaign",
            Verdict::StopToken { .. } => "stop-token",
        }
    }

    #[test]
    fn an_answer_with_a_mid_is_accepted_and_one_without_is_ambiguous() {
        let ok = Answer {
            ok: 1,
            mid: Some("m1".into()),
            uid: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(
            Verdict::of_send(Ok(ok)),
            Verdict::Accepted {
                mid: "m1".into(),
                uid: Some("u".into())
            }
        );
        assert_eq!(
            kind(&Verdict::of_send(Ok(Answer {
                ok: 1,
                ..Default::default()
            }))),
            "ambiguous"
        );
    }

    #[test]
    fn a_text_answered_ok_without_a_mid_is_sent_and_131047_fails_it_as_window_closed() {
        let ok = Answer {
            ok: 1,
            ..Default::default()
        };
        assert_eq!(Verdict::of_text(Ok(ok)), Verdict::AcceptedWithoutId);
        let Verdict::Rejected {
            reason,
            suppress: false,
            code: Some(131047),
        } = Verdict::of_text(wa(131047))
        else {
            panic!("131047 fails a text without suppressing its number")
        };
        assert!(
            reason.starts_with("window closed") && !reason.contains("  "),
            "one line, no gap: {reason:?}"
        );
        // Anything else as any send.
        assert_eq!(kind(&Verdict::of_text(api(2008))), "slow-down");
        assert_eq!(kind(&Verdict::of_text(wa(131050))), "reject+suppress");
    }

    #[test]
    fn rate_limit_answers_slow_down_and_retry() {
        for code in [2007, 2008, 2009] {
            assert_eq!(kind(&Verdict::of_send(api(code))), "slow-down", "{code}");
        }
        for code in [130429, 131056] {
            assert_eq!(kind(&Verdict::of_send(wa(code))), "slow-down", "{code}");
        }
    }

    #[test]
    fn transient_system_errors_are_retried() {
        for code in [2000, 2001, 2005] {
            assert_eq!(kind(&Verdict::of_send(api(code))), "retry", "{code}");
        }
        assert_eq!(kind(&Verdict::of_send(wa(131049))), "retry");
    }

    #[test]
    fn internal_timeouts_and_errors_are_ambiguous() {
        assert_eq!(kind(&Verdict::of_send(api(2003))), "ambiguous");
        assert_eq!(kind(&Verdict::of_send(api(2004))), "ambiguous");
    }

    #[test]
    fn bad_numbers_and_bad_parameters_reject_only_that_message() {
        use crate::convrs::codes::PERMANENT_FAILURES;
        for code in PERMANENT_FAILURES {
            let answer = if code < 100_000 { api(code) } else { wa(code) };
            assert_eq!(kind(&Verdict::of_send(answer)), "reject", "{code}");
        }
        for code in [131026, 131047, 999_999] {
            assert_eq!(kind(&Verdict::of_send(wa(code))), "reject", "{code}");
        }
    }

    #[test]
    fn unsubscribed_and_opted_out_numbers_are_rejected_and_suppressed() {
        assert_eq!(kind(&Verdict::of_send(api(2006))), "reject+suppress");
        assert_eq!(kind(&Verdict::of_send(wa(131050))), "reject+suppress");
    }

    #[test]
    fn template_and_bot_problems_stop_the_campaign() {
        for code in [1004, 1008, 1015, 1016, 3000, 3001, 3003, 3004] {
            assert_eq!(
                kind(&Verdict::of_send(api(code))),
                "stop-campaign",
                "{code}"
            );
        }
        for code in [132015, 132016] {
            assert_eq!(kind(&Verdict::of_send(wa(code))), "stop-campaign", "{code}");
        }
    }

    #[test]
    fn token_problems_stop_the_token() {
        assert_eq!(kind(&Verdict::of_send(api(1000))), "stop-token");
        assert_eq!(kind(&Verdict::of_send(api(1001))), "stop-token");
        assert_eq!(kind(&Verdict::of_send(wa(131048))), "stop-token");
    }

    #[test]
    fn transport_failures_split_by_whether_the_request_may_have_arrived() {
        let not_sent = Err(CallError::NotSent {
            detail: "connection refused".into(),
        });
        assert_eq!(kind(&Verdict::of_send(not_sent)), "unreachable");
        let maybe = Err(CallError::MaybeSent {
            detail: "timed out".into(),
        });
        assert_eq!(kind(&Verdict::of_send(maybe)), "ambiguous");
        let http = |status| {
            Err(CallError::Http {
                status,
                body: "<html>".into(),
            })
        };
        assert_eq!(kind(&Verdict::of_send(http(502))), "ambiguous");
        assert_eq!(kind(&Verdict::of_send(http(429))), "slow-down");
        assert_eq!(kind(&Verdict::of_send(http(401))), "stop-token");
        assert_eq!(kind(&Verdict::of_send(http(404))), "stop-campaign");
        let garbage = Err(CallError::Unexpected {
            detail: "not JSON: <html>".into(),
        });
        assert_eq!(kind(&Verdict::of_send(garbage)), "ambiguous");
    }
}
