//! When a message is asked about again: the poller's widening schedule (10 s, 1 m, 5 m, 30 m,
//! 2 h, 6 h by default from `--poll-first`), put off by a recent callback, retired after
//! `max_age` or once a read message's reply comes by callback, and asked at once when a
//! rehearsal's acks have settled.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::convrs::Ack;
use crate::queue::{DuePoll, QualityPolicy, SendOptions};

#[derive(Debug, Clone)]
pub struct PollSchedule {
    /// The first interval; later ones are 6, 30, 180, 720 and 2160 times it.
    pub first: Duration,
    /// Messages older than this are no longer polled.
    pub max_age: Duration,
    /// GetMessageDetails (and GetConversation) calls per second.
    pub rate: u32,
    /// How long after an SMS is sent its conversation is read for replies (`None`: never).
    pub reply_sweep: Option<Duration>,
    /// When a campaign tracked pauses itself for its quality.
    pub quality: QualityPolicy,
    /// Whether a read message whose callbacks were heard waits for its reply by callback
    /// instead of being polled for it: false where those callbacks went to a receiver that is
    /// gone (a rehearsal's earlier runs, whose simulator and receiver ended with them).
    pub replies_by_callback: bool,
    /// How long after a send its acks can still change (`None`: until a final ack, or
    /// `max_age`). A rehearsal's simulator gives every ack within seconds of a send, so an
    /// answer after that is the message's last: it is not asked about again.
    pub settled_after: Option<Duration>,
}

impl Default for PollSchedule {
    fn default() -> Self {
        PollSchedule {
            first: Duration::from_secs(10),
            max_age: Duration::from_secs(24 * 3600),
            rate: 5,
            reply_sweep: Some(Duration::from_secs(72 * 3600)),
            quality: QualityPolicy::default(),
            replies_by_callback: true,
            settled_after: None,
        }
    }
}

const STEPS: [u32; 6] = [1, 6, 30, 180, 720, 2160];

impl PollSchedule {
    /// This schedule with the campaign's own options (first poll, age, rate, reply sweep,
    /// quality) where it chose them.
    pub fn with_own(&self, own: &SendOptions) -> PollSchedule {
        let ms = Duration::from_millis;
        PollSchedule {
            first: own.poll_first_ms.map_or(self.first, ms),
            max_age: own.poll_max_age_ms.map_or(self.max_age, ms),
            rate: own.poll_rate.unwrap_or(self.rate),
            reply_sweep: own
                .reply_sweep_ms
                .map_or(self.reply_sweep, |sweep| (sweep > 0).then(|| ms(sweep))),
            quality: own.quality.unwrap_or(self.quality),
            replies_by_callback: self.replies_by_callback,
            settled_after: self.settled_after,
        }
    }

    /// The budget of GetMessageDetails calls, `rate` a second.
    pub fn limiter(&self) -> DefaultDirectRateLimiter {
        RateLimiter::direct(Quota::per_second(
            NonZeroU32::new(self.rate.max(1)).expect("non-zero"),
        ))
    }

    /// Whether the acks of a message sent at `sent_at` can no longer change at `now`.
    pub(super) fn settled(&self, sent_at: i64, now: i64) -> bool {
        self.settled_after
            .is_some_and(|d| now - sent_at > d.as_millis() as i64)
    }

    /// The wait before poll number `polls + 1`.
    pub fn after(&self, polls: i64) -> Duration {
        self.first * STEPS[(polls.max(0) as usize).min(STEPS.len() - 1)]
    }
}

/// What to do with one due message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Plan {
    Retire,
    Later(i64),
    Ask,
}

pub(super) fn plan(due: &DuePoll, schedule: &PollSchedule, now: i64) -> Plan {
    if now - due.sent_at > schedule.max_age.as_millis() as i64 {
        return Plan::Retire;
    }
    // Read, and callbacks work for it: a reply would come by callback, so no poll asks for one.
    if schedule.replies_by_callback && due.callbacks && due.ack == Some(Ack::Read.code()) {
        return Plan::Retire;
    }
    let interval = schedule.after(due.polls).as_millis() as i64;
    // Its acks have settled (a rehearsal): one more answer is its last, asked for now.
    let settled = schedule.settled(due.sent_at, now);
    match due.last_ack_at {
        // A callback was heard within the interval: no need to ask.
        Some(heard) if !settled && now - heard < interval => Plan::Later(heard + interval),
        _ => Plan::Ask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(polls: i64, sent_at: i64, last_ack_at: Option<i64>) -> DuePoll {
        DuePoll {
            message_id: 1,
            mid: Some("m".into()),
            uid: None,
            polls,
            sent_at,
            last_ack_at,
            sms: false,
            ack: None,
            callbacks: false,
        }
    }

    #[test]
    fn the_schedule_widens_from_ten_seconds_to_six_hours() {
        let s = PollSchedule::default();
        let mins: Vec<u64> = (0..8).map(|n| s.after(n).as_secs()).collect();
        assert_eq!(mins, [10, 60, 300, 1800, 7200, 21600, 21600, 21600]);
    }

    #[test]
    fn a_recent_callback_puts_the_poll_off_and_old_messages_retire() {
        let s = PollSchedule::default();
        let now = 1_000_000_000;
        assert_eq!(
            plan(&due(0, now - 20_000, Some(now - 1_000)), &s, now),
            Plan::Later(now + 9_000)
        );
        assert_eq!(
            plan(&due(0, now - 20_000, Some(now - 11_000)), &s, now),
            Plan::Ask
        );
        assert_eq!(plan(&due(0, now - 20_000, None), &s, now), Plan::Ask);
        assert_eq!(
            plan(&due(3, now - 25 * 3600 * 1000, None), &s, now),
            Plan::Retire
        );
    }

    #[test]
    fn a_read_message_is_not_polled_for_a_reply_while_callbacks_work_for_it() {
        let s = PollSchedule::default();
        let now = 1_000_000_000;
        let read = DuePoll {
            ack: Some(Ack::Read.code()),
            ..due(2, now - 60_000, None)
        };
        let by_callback = DuePoll {
            callbacks: true,
            ..read.clone()
        };
        assert_eq!(plan(&by_callback, &s, now), Plan::Retire);
        assert_eq!(
            plan(&read, &s, now),
            Plan::Ask,
            "no callbacks: polled for a reply"
        );
        let receiver_gone = PollSchedule {
            replies_by_callback: false,
            ..s
        };
        assert_eq!(
            plan(&by_callback, &receiver_gone, now),
            Plan::Ask,
            "the callbacks' receiver is gone: polled for a reply"
        );
    }

    #[test]
    fn a_message_whose_acks_have_settled_is_asked_now_however_recently_it_was_heard_of() {
        let now = 1_000_000_000;
        let heard = DuePoll {
            ack: Some(Ack::Delivered.code()),
            ..due(1, now - 4_000, Some(now - 1_000))
        };
        let real = PollSchedule::default();
        assert!(matches!(plan(&heard, &real, now), Plan::Later(_)));
        let rehearsal = PollSchedule {
            settled_after: Some(Duration::from_secs(3)),
            ..real
        };
        assert_eq!(plan(&heard, &rehearsal, now), Plan::Ask);
    }
}
