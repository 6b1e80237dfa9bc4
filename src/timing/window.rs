//! Send windows in the recipient's local time: `send_window = { start = "09:00", end = "20:00",
//! days = "MON-SAT" }`. A window whose end is not after its start crosses midnight (20:00 to
//! 02:00), and belongs to the day it starts on. A recipient's zone comes from the number where
//! its country has one time zone, else from the row's `timezone_column`, else the campaign's
//! `timezone` (else UTC).

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// As the campaign file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    pub start: String,
    pub end: String,
    pub days: Option<String>,
}

/// A checked window, stored with the campaign's timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Monday first.
    pub days: [bool; 7],
}

const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

impl WindowFile {
    pub fn check(&self) -> Result<SendWindow, String> {
        let time = |what: &str, t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("send_window {what} '{t}' is not a time like 09:00 (24-hour)"))
        };
        let (start, end) = (time("start", &self.start)?, time("end", &self.end)?);
        if start == end {
            return Err(format!(
                "send_window start and end are both {}: give a window, such as 09:00 to 20:00",
                self.start
            ));
        }
        let days = match &self.days {
            None => [true; 7],
            Some(days) => parse_days(days)?,
        };
        Ok(SendWindow { start, end, days })
    }
}

/// `MON-SAT`, `MON,WED,FRI`, `MON-FRI,SUN`.
fn parse_days(given: &str) -> Result<[bool; 7], String> {
    let day = |d: &str| {
        DAYS.iter()
            .position(|x| x.eq_ignore_ascii_case(d.trim()))
            .ok_or_else(|| format!("send_window days '{given}': '{d}' is not a day; use MON TUE WED THU FRI SAT SUN, ranges like MON-FRI, and commas"))
    };
    let mut days = [false; 7];
    for part in given.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

impl SendWindow {
    /// When the window is next open for a recipient in `tz`: `None` if it is open at `now_ms`.
    pub fn opens_at(&self, tz: Tz, now_ms: i64) -> Option<i64> {
        let now = chrono::DateTime::from_timestamp_millis(now_ms)?.with_timezone(&tz);
        let today = now.date_naive();
        let crosses = self.end <= self.start;
        // Open in a window that started today, or (crossing midnight) yesterday.
        for back in [0, 1] {
            let day = today - Duration::days(back);
            if !self.on(day) {
                continue;
            }
            let start = instant(tz, day, self.start);
            let end_day = if crosses {
                day + Duration::days(1)
            } else {
                day
            };
            let end = instant(tz, end_day, self.end);
            if start <= now_ms && now_ms < end {
                return None;
            }
        }
        (0..=8)
            .map(|ahead| today + Duration::days(ahead))
            .filter(|d| self.on(*d))
            .map(|d| instant(tz, d, self.start))
            .find(|start| *start > now_ms)
    }

    fn on(&self, day: NaiveDate) -> bool {
        self.days[day.weekday().num_days_from_monday() as usize]
    }

    /// `09:00-20:00 MON-SAT`.
    pub fn describe(&self) -> String {
        // Runs of days as ranges: MON-SAT, MON-WED,FRI.
        let mut runs: Vec<String> = vec![];
        let mut d = 0;
        while d < 7 {
            if !self.days[d] {
                d += 1;
                continue;
            }
            let start = d;
            while d + 1 < 7 && self.days[d + 1] {
                d += 1;
            }
            runs.push(match d - start {
                0 => DAYS[start].to_string(),
                1 => format!("{},{}", DAYS[start], DAYS[d]),
                _ => format!("{}-{}", DAYS[start], DAYS[d]),
            });
            d += 1;
        }
        let days = if self.days == [true; 7] {
            "every day".to_string()
        } else {
            runs.join(",")
        };
        format!(
            "{}-{} {days}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// The first instant at or after `time` on `day` in `tz` (a time in a daylight-saving gap is
/// the moment the gap ends), in unix ms.
fn instant(tz: Tz, day: NaiveDate, time: NaiveTime) -> i64 {
    let mut at = day.and_time(time);
    for _ in 0..180 {
        if let Some(t) = tz.from_local_datetime(&at).earliest() {
            return t.timestamp_millis();
        }
        at += Duration::minutes(1);
    }
    tz.from_utc_datetime(&day.and_time(time)).timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::utc;

    fn window(start: &str, end: &str, days: Option<&str>) -> SendWindow {
        WindowFile {
            start: start.into(),
            end: end.into(),
            days: days.map(Into::into),
        }
        .check()
        .unwrap()
    }

    #[test]
    fn a_window_holds_messages_until_it_opens_in_the_recipients_time() {
        let w = window("09:00", "20:00", Some("MON-SAT"));
        let london: Tz = "Europe/London".parse().unwrap();
        // Tuesday 1 December 2026, 08:00 in London: opens at 09:00.
        assert_eq!(
            w.opens_at(london, utc("2026-12-01T08:00:00Z")),
            Some(utc("2026-12-01T09:00:00Z"))
        );
        assert_eq!(w.opens_at(london, utc("2026-12-01T12:00:00Z")), None);
        // At the opening it is open: a message held until then goes.
        assert_eq!(w.opens_at(london, utc("2026-12-01T09:00:00Z")), None);
        assert_eq!(
            w.opens_at(london, utc("2026-12-01T20:00:00Z")),
            Some(utc("2026-12-02T09:00:00Z"))
        );
        // Saturday 20:30: closed until Monday 09:00 (no Sundays).
        assert_eq!(
            w.opens_at(london, utc("2026-12-05T20:30:00Z")),
            Some(utc("2026-12-07T09:00:00Z"))
        );
        // In Tokyo the same instant (08:00 UTC) is 17:00: open.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(w.opens_at(tokyo, utc("2026-12-01T08:00:00Z")), None);
    }

    #[test]
    fn a_window_that_crosses_midnight_is_open_after_midnight_and_belongs_to_the_day_it_starts() {
        let w = window("20:00", "02:00", Some("FRI"));
        let utc_tz: Tz = "UTC".parse().unwrap();
        // Friday 4 December 23:00 and Saturday 01:30 are in Friday's window; Saturday 03:00
        // waits a week.
        assert_eq!(w.opens_at(utc_tz, utc("2026-12-04T23:00:00Z")), None);
        assert_eq!(w.opens_at(utc_tz, utc("2026-12-05T01:30:00Z")), None);
        assert_eq!(
            w.opens_at(utc_tz, utc("2026-12-05T03:00:00Z")),
            Some(utc("2026-12-11T20:00:00Z"))
        );
    }

    #[test]
    fn days_and_times_are_checked_with_what_to_write() {
        let bad = |start: &str, days: Option<&str>| {
            WindowFile {
                start: start.into(),
                end: "20:00".into(),
                days: days.map(Into::into),
            }
            .check()
            .unwrap_err()
        };
        assert!(bad("9am", None).contains("like 09:00"));
        assert!(bad("09:00", Some("MON-SAM")).contains("'SAM' is not a day"));
        assert_eq!(
            window("09:00", "17:00", Some("SAT-MON")).describe(),
            "09:00-17:00 MON,SAT,SUN"
        );
    }
}
