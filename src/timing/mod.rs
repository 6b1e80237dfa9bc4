//! When a campaign sends, from its campaign file: a cron `schedule` in a `timezone` (with the
//! `grace` a missed run keeps), how long a recipient of one batch is not sent again
//! (`dedupe_window`), and when a message is too old to go (`max_age`, `expires_at`). None of
//! these decide who gets what, so none is a setting: a changed schedule is the same campaign.
//!
//! A leaf of the house: the campaign file's checks (`campaign`) and the claim's (`queue`) both
//! read these rules, and this module reads neither.

pub mod at;
pub mod window;

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;
use window::{SendWindow, WindowFile};

/// The campaign file's keys about time, as written.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TimingFile {
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub grace: Option<String>,
    pub dedupe_window: Option<String>,
    pub max_age: Option<String>,
    pub expires_at: Option<String>,
    pub send_window: Option<WindowFile>,
    pub timezone_column: Option<String>,
    pub daily_limit: Option<u32>,
    pub frequency_cap: Option<FrequencyCapFile>,
}

/// `frequency_cap = { messages = 2, per = "7d" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCapFile {
    pub messages: u32,
    pub per: String,
}

/// At most `messages` messages to one recipient per rolling `per_ms`, counting what every
/// campaign of the store sent (or has in flight) to the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    pub messages: u32,
    pub per_ms: i64,
}

/// A campaign's timing, checked. Stored with the campaign (JSON) at each load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// The cron pattern and its zone, when the campaign runs on a schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// The campaign's zone (IANA name), also for send windows of numbers without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A recipient of one batch is not sent again by a later one for this long (ms); `None`
    /// with a dedupe key: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_window_ms: Option<i64>,
    /// A message not sent this long (ms) after it was queued expires instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<i64>,
    /// A message not sent by then (unix ms) expires instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// When recipients may be sent to, in their own time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_window: Option<SendWindow>,
    /// The column that gives a recipient's zone when the number does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone_column: Option<String>,
    /// The most distinct recipients the campaign's token may start per rolling 24 hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_limit: Option<u32>,
    /// The most messages one recipient gets from the store per rolling span.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub frequency_cap: Option<FrequencyCap>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub cron: String,
    pub timezone: String,
    /// How late a missed run may still fire (ms).
    pub grace_ms: i64,
}

impl Timing {
    /// The zone of recipients the number and row say nothing about.
    pub fn fallback_zone(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// When a message queued at `queued_ms` expires, if it does: `max_age` after, or at
    /// `expires_at`, whichever is first.
    pub fn expires_for(&self, queued_ms: i64) -> Option<i64> {
        let by_age = self.max_age_ms.map(|age| queued_ms.saturating_add(age));
        match (by_age, self.expires_at_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A missed run fires within an hour of its time, unless `grace` says otherwise.
pub const DEFAULT_GRACE_MS: i64 = 3_600_000;

impl TimingFile {
    /// The timing the keys say; an error names the key and says what to write.
    pub fn check(self) -> Result<Timing, String> {
        let invalid = |key: &str, m: String| format!("{key}: {m}");
        let span = |key: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_span(s).map_err(|m| invalid(key, m)))
                .transpose()
        };
        if let Some(tz) = &self.timezone {
            tz.parse::<chrono_tz::Tz>().map_err(|_| {
                invalid(
                    "timezone",
                    format!("'{tz}' is not a time zone: give an IANA name such as Europe/London"),
                )
            })?;
        }
        let grace = span("grace", &self.grace)?;
        let schedule = match &self.schedule {
            None if grace.is_some() => {
                return Err(invalid(
                    "grace",
                    "is for a schedule: add schedule = \"0 9 * * MON-FRI\"".into(),
                ));
            }
            None => None,
            Some(cron) => {
                let timezone = self.timezone.clone().unwrap_or_else(|| "UTC".into());
                Schedule::parse(cron, &timezone).map_err(|m| invalid("schedule", m))?;
                Some(ScheduleSpec {
                    cron: cron.clone(),
                    timezone,
                    grace_ms: grace.unwrap_or(DEFAULT_GRACE_MS),
                })
            }
        };
        let expires_at_ms = self
            .expires_at
            .as_deref()
            .map(|at| {
                chrono::DateTime::parse_from_rfc3339(at)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| {
                        invalid(
                            "expires_at",
                            format!("'{at}' is not a time like 2026-12-24T18:00:00Z (RFC 3339, with its offset)"),
                        )
                    })
            })
            .transpose()?;
        let send_window = self
            .send_window
            .as_ref()
            .map(WindowFile::check)
            .transpose()?;
        if self.timezone_column.is_some() && send_window.is_none() {
            return Err(invalid(
                "timezone_column",
                "is for a send window: add send_window = { start = \"09:00\", end = \"20:00\" }"
                    .into(),
            ));
        }
        Ok(Timing {
            schedule,
            timezone: self.timezone,
            send_window,
            timezone_column: self.timezone_column,
            daily_limit: match self.daily_limit {
                Some(0) => {
                    return Err(invalid(
                        "daily_limit",
                        "0 would send nothing: give the token's tier, such as 1000".into(),
                    ));
                }
                n => n,
            },
            dedupe_window_ms: span("dedupe_window", &self.dedupe_window)?,
            max_age_ms: span("max_age", &self.max_age)?,
            expires_at_ms,
            frequency_cap: self
                .frequency_cap
                .map(|cap| match cap.messages {
                    0 => Err(invalid(
                        "frequency_cap",
                        "messages = 0 would send nothing: give the most messages a recipient may get, such as 2".into(),
                    )),
                    messages => Ok(FrequencyCap {
                        messages,
                        per_ms: parse_span(&cap.per)
                            .map_err(|m| invalid("frequency_cap.per", m))?,
                    }),
                })
                .transpose()?,
        })
    }
}

/// `90s`, `30m`, `6h`, `7d`, `2w` (`crate::duration`'s grammar): a positive span of time of
/// at most ten years, in milliseconds.
pub fn parse_span(s: &str) -> Result<i64, String> {
    const TEN_YEARS_MS: u128 = 3650 * 86_400_000;
    match crate::duration::parse(s)?.as_millis() {
        0 => Err(format!("'{}' is no time at all", s.trim())),
        ms if ms <= TEN_YEARS_MS => Ok(ms as i64),
        _ => Err(format!("'{}' is longer than ten years", s.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_take_a_unit() {
        assert_eq!(parse_span("6h"), Ok(6 * 3_600_000));
        assert_eq!(parse_span("7d"), Ok(7 * 86_400_000));
        assert!(parse_span("6").unwrap_err().contains("no unit"));
        assert!(parse_span("0h").unwrap_err().contains("no time"));
    }

    #[test]
    fn a_frequency_cap_needs_messages_and_a_span_with_a_unit() {
        let cap = |messages, per: &str| TimingFile {
            frequency_cap: Some(FrequencyCapFile {
                messages,
                per: per.into(),
            }),
            ..Default::default()
        };
        assert_eq!(
            cap(2, "7d").check().unwrap().frequency_cap,
            Some(FrequencyCap {
                messages: 2,
                per_ms: 7 * 86_400_000
            })
        );
        assert!(
            cap(0, "7d")
                .check()
                .unwrap_err()
                .starts_with("frequency_cap: messages = 0")
        );
        assert!(
            cap(2, "7")
                .check()
                .unwrap_err()
                .starts_with("frequency_cap.per:")
        );
    }

    #[test]
    fn timing_keys_are_checked_and_say_what_to_write() {
        let file = TimingFile {
            schedule: Some("0 9 * * MON-FRI".into()),
            timezone: Some("Europe/London".into()),
            ..Default::default()
        };
        let timing = file.check().unwrap();
        assert_eq!(timing.schedule.unwrap().grace_ms, DEFAULT_GRACE_MS);
        for (file, says) in [
            (
                TimingFile {
                    timezone: Some("Europe/Londres".into()),
                    ..Default::default()
                },
                "IANA name",
            ),
            (
                TimingFile {
                    schedule: Some("0 25 * * *".into()),
                    ..Default::default()
                },
                "schedule",
            ),
            (
                TimingFile {
                    grace: Some("1h".into()),
                    ..Default::default()
                },
                "is for a schedule",
            ),
            (
                TimingFile {
                    expires_at: Some("tomorrow".into()),
                    ..Default::default()
                },
                "RFC 3339",
            ),
        ] {
            let err = file.check().unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
