//! Cron schedules in a time zone (croner and chrono-tz), and what is due at a given moment:
//! the run to fire, the runs missed while nothing ran, and the next run. Pure: the moment is
//! given, so tests choose it.
//!
//! Daylight saving: a run at a time that does not exist that day (01:30 when clocks go from
//! 01:00 to 02:00) fires at the first moment after the gap; a run at a time that happens twice
//! (01:30 when clocks go back) fires once, at the first.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

/// Runs that were due while nothing ran, and are not fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed {
    pub first: i64,
    pub last: i64,
    /// How many (counted up to `MISSED_COUNTED`).
    pub count: u32,
}

/// Counting missed runs stops here (an every-minute schedule down for a month).
const MISSED_COUNTED: u32 = 1000;

/// What is due at a moment, for a schedule whose next run was `next_run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing yet.
    NotYet { next: i64 },
    /// Fire the run of `slot` (the latest due, within the grace); earlier missed ones are
    /// skipped.
    Fire {
        slot: i64,
        skipped: Option<Missed>,
        next: i64,
    },
    /// Every due run is beyond the grace: all are skipped.
    Skip { skipped: Missed, next: i64 },
}

impl Schedule {
    /// `0 9 * * MON-FRI` in `Europe/London`. Only five fields (minute hour day month
    /// weekday, or a nickname such as `@daily`): croner would take a sixth, leading field as
    /// seconds, so `*/5 * * * * *` would fire every five seconds. A schedule that never fires
    /// (`0 0 31 2 *`) is refused too.
    pub fn parse(pattern: &str, timezone: &str) -> Result<Schedule, String> {
        let tz = timezone.parse::<Tz>().map_err(|_| {
            format!("'{timezone}' is not a time zone (an IANA name such as Europe/London)")
        })?;
        let five = "five fields, minute hour day month weekday, such as \"0 9 * * MON-FRI\"";
        let fields = pattern.split_whitespace().count();
        if !pattern.trim_start().starts_with('@') && fields != 5 {
            let what = match fields {
                6 => " (a sixth field would be seconds: this tool schedules to the minute)",
                7 => " (seconds and years are not taken: this tool schedules to the minute)",
                _ => "",
            };
            return Err(format!(
                "'{pattern}' has {fields} fields{what}: a schedule has {five}"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| format!("'{pattern}' is not a cron schedule ({e}): {five}"))?;
        let schedule = Schedule { cron, tz };
        if schedule.next_after(utc("2001-01-01T00:00:00Z")).is_none() {
            return Err(format!(
                "'{pattern}' never fires (no day matches it, such as 31 February): check the day and month fields"
            ));
        }
        Ok(schedule)
    }

    fn at(&self, ms: i64) -> DateTime<Tz> {
        self.tz.from_utc_datetime(
            &DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .naive_utc(),
        )
    }

    /// The first run strictly after `ms`.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        self.cron
            .find_next_occurrence(&self.at(ms), false)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// The last run at or before `ms`.
    pub fn latest_at(&self, ms: i64) -> Option<i64> {
        self.cron
            .find_previous_occurrence(&self.at(ms), true)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// The next `n` runs after `ms`.
    pub fn upcoming(&self, ms: i64, n: usize) -> Vec<i64> {
        let mut runs = Vec::with_capacity(n);
        let mut at = ms;
        while runs.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            runs.push(next);
            at = next;
        }
        runs
    }

    /// What is due at `now` when the next run was `next_run`: the latest run due fires if it
    /// is at most `grace_ms` old; the others are skipped.
    pub fn plan(&self, next_run: i64, now: i64, grace_ms: i64) -> Plan {
        let next = self.next_after(now).unwrap_or(i64::MAX);
        if next_run > now {
            return Plan::NotYet { next: next_run };
        }
        let latest = self.latest_at(now).unwrap_or(next_run).max(next_run);
        let missed_before = |end: i64| -> Option<Missed> {
            let mut count = 0;
            let mut at = next_run;
            let mut last = None;
            while at < end && count < MISSED_COUNTED {
                count += 1;
                last = Some(at);
                at = self.next_after(at).unwrap_or(i64::MAX);
            }
            last.map(|last| Missed {
                first: next_run,
                last,
                count,
            })
        };
        if now - latest <= grace_ms {
            Plan::Fire {
                slot: latest,
                skipped: missed_before(latest),
                next,
            }
        } else {
            Plan::Skip {
                skipped: missed_before(latest + 1).unwrap_or(Missed {
                    first: latest,
                    last: latest,
                    count: 1,
                }),
                next,
            }
        }
    }

    /// A run's time in the schedule's zone, for people: `2026-03-29 09:00 BST`; `never` for
    /// no time at all (a schedule that cannot fire), never a date in 1970.
    pub fn local(&self, ms: i64) -> String {
        match DateTime::from_timestamp_millis(ms) {
            Some(t) if ms > 0 && t.year() < 9999 => self
                .tz
                .from_utc_datetime(&t.naive_utc())
                .format("%Y-%m-%d %H:%M %Z")
                .to_string(),
            _ => "never".to_string(),
        }
    }
}

/// Unix ms of a UTC time, for tests and examples: `utc("2026-03-29T00:30:00Z")`.
pub fn utc(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_five_fields_are_taken_and_six_or_seven_say_why() {
        let six = Schedule::parse("*/5 * * * * *", "UTC").unwrap_err();
        assert!(six.contains("6 fields") && six.contains("seconds"), "{six}");
        let seven = Schedule::parse("0 0 9 * * * 2027", "UTC").unwrap_err();
        assert!(seven.contains("7 fields"), "{seven}");
        let four = Schedule::parse("0 9 * *", "UTC").unwrap_err();
        assert!(four.contains("4 fields") && four.contains("minute hour day month weekday"));
        assert!(Schedule::parse("0 9 * * MON-FRI", "UTC").is_ok());
        assert!(Schedule::parse("@daily", "UTC").is_ok());
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused_naming_it() {
        let never = Schedule::parse("0 0 31 2 *", "UTC").unwrap_err();
        assert!(never.contains("'0 0 31 2 *' never fires"), "{never}");
        // Once in four years is not never.
        let leap = Schedule::parse("0 0 29 2 *", "UTC").unwrap();
        assert!(leap.next_after(utc("2026-03-01T00:00:00Z")).is_some());
    }

    #[test]
    fn a_time_that_is_no_time_is_shown_as_never_not_1970() {
        let s = Schedule::parse("0 9 * * *", "Europe/London").unwrap();
        for ms in [i64::MAX, 0, -1] {
            assert_eq!(s.local(ms), "never");
        }
        assert_eq!(s.local(utc("2026-03-30T08:00:00Z")), "2026-03-30 09:00 BST");
    }

    fn runs(pattern: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(pattern, tz).unwrap();
        s.upcoming(utc(from), n)
            .into_iter()
            .map(crate::clock::rfc3339_secs)
            .collect()
    }

    #[test]
    fn london_at_nine_keeps_local_time_across_both_changes() {
        // Clocks go forward on 29 March 2026 and back on 25 October 2026.
        assert_eq!(
            runs("0 9 * * *", "Europe/London", "2026-03-28T12:00:00Z", 2),
            ["2026-03-29T08:00:00Z", "2026-03-30T08:00:00Z"]
        );
        assert_eq!(
            runs("0 9 * * *", "Europe/London", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T09:00:00Z", "2026-10-26T09:00:00Z"]
        );
    }

    #[test]
    fn a_run_at_half_past_one_neither_skips_nor_doubles_on_the_nights_the_clocks_change() {
        // 29 March: 01:30 does not exist in London; the run fires when the gap ends (02:00 BST).
        assert_eq!(
            runs("30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z"
            ]
        );
        // 25 October: 01:30 happens twice (BST, then GMT); the run fires once.
        assert_eq!(
            runs("30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", 3),
            [
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
                "2026-10-27T01:30:00Z"
            ]
        );
    }

    #[test]
    fn new_york_at_half_past_two_fires_once_on_both_change_days() {
        // 8 March 2026: 02:00 to 03:00, so 02:30 is in the gap; 1 November: back from 02:00.
        assert_eq!(
            runs("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
        );
        assert_eq!(
            runs("30 2 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"]
        );
    }

    #[test]
    fn a_zone_without_daylight_saving_is_the_same_every_day() {
        assert_eq!(
            runs("0 9 * * MON-FRI", "Asia/Tokyo", "2026-03-27T12:00:00Z", 2),
            ["2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z"]
        );
    }

    #[test]
    fn a_missed_run_fires_once_within_the_grace_and_is_skipped_beyond_it() {
        let s = Schedule::parse("0 9 * * *", "Europe/London").unwrap();
        let nine = utc("2026-12-01T09:00:00Z");
        let hour = 3_600_000;
        // Down from 08:00 to 09:30: the 09:00 run fires, late, once.
        assert_eq!(
            s.plan(nine, nine + hour / 2, hour),
            Plan::Fire {
                slot: nine,
                skipped: None,
                next: nine + 24 * hour
            }
        );
        // Up again at 11:00: beyond the hour of grace, skipped, and said so.
        assert_eq!(
            s.plan(nine, nine + 2 * hour, hour),
            Plan::Skip {
                skipped: Missed {
                    first: nine,
                    last: nine,
                    count: 1
                },
                next: nine + 24 * hour
            }
        );
        // Down for three days: the two older runs are skipped, today's fires.
        let three_days_on = nine + 48 * hour;
        assert_eq!(
            s.plan(nine, three_days_on + 60_000, hour),
            Plan::Fire {
                slot: three_days_on,
                skipped: Some(Missed {
                    first: nine,
                    last: nine + 24 * hour,
                    count: 2
                }),
                next: three_days_on + 24 * hour
            }
        );
        assert_eq!(s.plan(nine, nine - 1, hour), Plan::NotYet { next: nine });
    }

    mod plans {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            /// Whatever was due, at most one run fires, it is due and within the grace, every
            /// run before it is skipped, and the next run is after now.
            #[test]
            fn a_plan_fires_at_most_the_latest_due_run_and_moves_on(
                pattern in prop::sample::select(vec!["0 9 * * *", "30 1 * * *", "*/15 * * * *", "0 9 * * MON-FRI", "30 2 * * SUN"]),
                zone in prop::sample::select(vec!["Europe/London", "America/New_York", "Asia/Tokyo", "UTC"]),
                start in 1_767_225_600_000i64..1_798_761_600_000, // 2026
                down in 0i64..(5 * 86_400_000),
                grace in 60_000i64..(3 * 3_600_000),
            ) {
                let s = Schedule::parse(pattern, zone).unwrap();
                let next_run = s.next_after(start).unwrap();
                let now = next_run + down;
                match s.plan(next_run, now, grace) {
                    Plan::NotYet { .. } => prop_assert!(false, "due at now"),
                    Plan::Fire { slot, skipped, next } => {
                        prop_assert!(slot >= next_run && slot <= now && now - slot <= grace);
                        prop_assert_eq!(s.next_after(slot).map(|n| n > now), Some(true), "no later run is due");
                        prop_assert!(next > now);
                        if let Some(m) = skipped {
                            prop_assert!(m.first == next_run && m.last < slot);
                        } else {
                            prop_assert_eq!(slot, next_run);
                        }
                    }
                    Plan::Skip { skipped, next } => {
                        prop_assert!(now - skipped.last > grace && skipped.first == next_run);
                        prop_assert!(next > now);
                    }
                }
            }
        }
    }
}
