//! What a conversation proves about an uncertain message: sent (our text, in a message no
//! other send of ours accounts for), not sent (nothing of ours after the attempt, once its
//! safe delay has passed), or nothing (a message we cannot attribute: left to the operator).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::expected::Expected;
use crate::convrs::wire::ConversationMessage;
use crate::convrs::{CallError, ErrorCode};

/// Allowance for the API's clock being behind ours.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// What the conversation says about one uncertain message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Finding {
    Sent(String),
    NotSent(&'static str),
    Wait(DateTime<Utc>),
    /// GetConversation failed: ask again later.
    Unanswered,
    /// The conversation shows something that may be this message: left to the operator.
    Ambiguous(String),
    Unknown,
}

/// The mid of the message of ours that shows `text` in the conversation after `started`, that
/// no other send of ours accounts for (`known`): the oldest such, if any.
pub fn find_sent(
    messages: &[ConversationMessage],
    started: DateTime<Utc>,
    text: &str,
    known: &HashSet<String>,
) -> Option<String> {
    outbound_since(messages, started)
        .find(|m| m.msg.trim() == text.trim() && !known.contains(&m.mid))
        .map(|m| m.mid.clone())
}

/// The messages of the conversation that reached the user (not theirs) after `started` (less
/// the clock skew the API's clock may have).
pub fn outbound_since(
    messages: &[ConversationMessage],
    started: DateTime<Utc>,
) -> impl Iterator<Item = &ConversationMessage> {
    messages.iter().filter(move |m| {
        m.sender != "client"
            && DateTime::parse_from_rfc3339(&m.dt)
                .is_ok_and(|dt| dt.with_timezone(&Utc) >= started - CLOCK_SKEW)
    })
}

/// `attempt` is when the attempt started and when it ended; `known` the mids of the
/// conversation's messages that other sends of ours got.
pub(super) fn judge(
    expected: &Expected,
    (started, ended): (DateTime<Utc>, DateTime<Utc>),
    answer: Result<Vec<ConversationMessage>, CallError>,
    known: &HashSet<String>,
    now: DateTime<Utc>,
    safe_delay: Duration,
) -> Finding {
    let decided_at = chrono::TimeDelta::from_std(safe_delay)
        .ok()
        .and_then(|d| ended.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let nothing_seen = |why| {
        if !expected.absence_decides {
            Finding::Ambiguous(
                "not decided: the conversation does not show this route's text, and a route's \
                 flow need not show it; not sent again automatically: `campaign retry CAMPAIGN \
                 --uncertain` sends it again if you decide so"
                    .into(),
            )
        } else if now >= decided_at {
            Finding::NotSent(why)
        } else {
            Finding::Wait(decided_at)
        }
    };
    match answer {
        Ok(messages) => {
            // Our text, in a message no other send of ours accounts for, proves it.
            if let Some(mid) = find_sent(&messages, started, &expected.text, known) {
                return Finding::Sent(mid);
            }
            let since: Vec<&ConversationMessage> = outbound_since(&messages, started).collect();
            match since.iter().find(|m| !known.contains(&m.mid)) {
                Some(m) => Finding::Ambiguous(format!(
                    "not decided: after this attempt began the conversation shows a message \
                     (mid {}) that no other send of ours accounts for, in a form other than our \
                     rendering; it may be this one as the API shows it, so it is not sent again \
                     automatically: `campaign retry CAMPAIGN --uncertain` sends it again if you \
                     decide so",
                    crate::terminal::safe(&m.mid)
                )),
                None => nothing_seen(
                    "reconciled: nothing reached the user after the attempt began (or only other \
                     sends of ours), so it was not sent",
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
            absence_decides: true,
        }
    }

    fn msg(mid: &str, dt: &str, text: &str, sender: &str) -> ConversationMessage {
        ConversationMessage {
            mid: mid.into(),
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

    fn none_known() -> HashSet<String> {
        HashSet::new()
    }

    fn known(mids: &[&str]) -> HashSet<String> {
        mids.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn an_outbound_message_with_the_whole_text_after_the_attempt_proves_it_was_sent() {
        let started = at("2026-01-01T10:00:00Z");
        let answer = Ok(vec![msg(
            "m1",
            "2026-01-01T10:00:01.000Z",
            "Hi Ann, your order O-1 is confirmed",
            "system",
        )]);
        assert_eq!(
            judge(
                &expected(),
                instant(started),
                answer,
                &none_known(),
                started,
                DELAY
            ),
            Finding::Sent("m1".into())
        );
    }

    #[test]
    fn older_messages_replies_and_other_sends_of_ours_prove_nothing_was_sent() {
        let started = at("2026-01-01T10:00:00Z");
        let answer = || {
            Ok(vec![
                msg(
                    "old",
                    "2026-01-01T09:00:00.000Z",
                    "Hi Ann, your order O-1 is confirmed",
                    "system",
                ),
                // Other campaigns' messages: their mids are in the store.
                msg(
                    "ours-1",
                    "2026-01-01T10:00:01.000Z",
                    "Hi Bob, your order O-9 is confirmed",
                    "system",
                ),
                msg(
                    "ours-2",
                    "2026-01-01T10:00:01.000Z",
                    "Ann: O-1 has shipped",
                    "system",
                ),
                msg(
                    "reply",
                    "2026-01-01T10:00:02.000Z",
                    "Hi Ann, your order O-1 is confirmed",
                    "client",
                ),
            ])
        };
        let ours = known(&["ours-1", "ours-2"]);
        assert_eq!(
            judge(
                &expected(),
                instant(started),
                answer(),
                &ours,
                started,
                DELAY
            ),
            Finding::Wait(started + chrono::TimeDelta::seconds(60))
        );
        let later = started + chrono::TimeDelta::seconds(61);
        match judge(&expected(), instant(started), answer(), &ours, later, DELAY) {
            Finding::NotSent(why) => assert_reads_as_one_line(why),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn our_text_in_a_message_another_send_of_ours_accounts_for_proves_nothing() {
        let started = at("2026-01-01T10:00:00Z");
        let same = || {
            Ok(vec![msg(
                "ours-3",
                "2026-01-01T10:00:01.000Z",
                "Hi Ann, your order O-1 is confirmed",
                "system",
            )])
        };
        let later = started + chrono::TimeDelta::seconds(61);
        let ours = known(&["ours-3"]);
        assert!(matches!(
            judge(&expected(), instant(started), same(), &ours, later, DELAY),
            Finding::NotSent(_)
        ));
        assert_eq!(
            judge(
                &expected(),
                instant(started),
                same(),
                &none_known(),
                later,
                DELAY
            ),
            Finding::Sent("ours-3".into())
        );
    }

    /// A reason is shown to the operator in `status` and the report: one line, no gap left by a
    /// string broken across source lines.
    fn assert_reads_as_one_line(why: &str) {
        assert!(!why.contains("  ") && !why.contains('\n'), "{why:?}");
    }

    #[test]
    fn a_route_whose_text_the_conversation_lacks_is_never_taken_for_not_sent() {
        let started = at("2026-01-01T10:00:00Z");
        let route = Expected {
            absence_decides: false,
            ..expected()
        };
        let later = started + chrono::TimeDelta::seconds(600);
        match judge(
            &route,
            instant(started),
            Ok(vec![]),
            &none_known(),
            later,
            DELAY,
        ) {
            Finding::Ambiguous(why) => {
                assert_reads_as_one_line(&why);
                assert!(why.contains("route"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let shown = Ok(vec![msg(
            "m9",
            "2026-01-01T10:00:01.000Z",
            "Hi Ann, your order O-1 is confirmed",
            "system",
        )]);
        assert_eq!(
            judge(&route, instant(started), shown, &none_known(), later, DELAY),
            Finding::Sent("m9".into())
        );
    }

    #[test]
    fn a_template_shown_in_another_form_is_never_taken_for_not_sent() {
        // The API document does not say how a template shows in a conversation. Each of these
        // may be our message: none of them may lead to a second send.
        let started = at("2026-01-01T10:00:00Z");
        let later = started + chrono::TimeDelta::hours(1);
        for shown in [
            "[order_confirmation] Hi Ann, your order O-1 is confirmed",
            "Order update\nHi Ann, your order O-1 is confirmed",
            "Ann, O-1",
            "order_confirmation",
            "",
        ] {
            let answer = Ok(vec![msg(
                "theirs",
                "2026-01-01T10:00:01.000Z",
                shown,
                "system",
            )]);
            let finding = judge(
                &expected(),
                instant(started),
                answer,
                &none_known(),
                later,
                DELAY,
            );
            match finding {
                Finding::Ambiguous(why) => {
                    assert!(why.contains("mid theirs") && why.contains("retry"), "{why}");
                    assert_reads_as_one_line(&why);
                }
                other => panic!("{shown:?} decided {other:?}: it must stay uncertain"),
            }
        }
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
            judge(
                &expected(),
                (started, ended),
                empty(),
                &none_known(),
                now,
                DELAY
            ),
            Finding::Wait(ended + chrono::TimeDelta::seconds(60))
        );
        let now = at("2026-01-01T10:01:31Z");
        assert!(matches!(
            judge(
                &expected(),
                (started, ended),
                empty(),
                &none_known(),
                now,
                DELAY
            ),
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
        let judged = |answer, delay| {
            judge(
                &expected(),
                instant(started),
                answer,
                &none_known(),
                started,
                delay,
            )
        };
        assert!(matches!(judged(unknown(), DELAY), Finding::Wait(_)));
        assert!(matches!(
            judged(unknown(), Duration::ZERO),
            Finding::NotSent(_)
        ));
        let down = Err(CallError::NotSent {
            detail: "refused".into(),
        });
        assert_eq!(judged(down, Duration::ZERO), Finding::Unanswered);
    }
}
