//! A one-off send time (`run --at "2026-12-24 09:00" --timezone Europe/London`): a wall-clock
//! time in a zone, or an RFC 3339 time with its own offset.

use chrono::{LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// The forms a local time may take.
const FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
];

/// `text` as unix ms: RFC 3339 with an offset as it says, else a local time in `zone`. A time
/// the clocks skip (a spring-forward gap) is refused; one they pass twice (autumn) is the
/// first. Errors say what to write.
pub fn parse_at(text: &str, zone: Tz) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let local = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or_else(|| {
            format!(
                "'{text}' is not a time: write it as \"2026-12-24 09:00\" (in --timezone) or \
                 \"2026-12-24T09:00:00Z\""
            )
        })?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.timestamp_millis()),
        LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
        LocalResult::None => Err(format!(
            "{text} does not exist in {zone}: the clocks skip it (summer time starts); give a \
             time an hour later"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(ms: i64) -> String {
        crate::clock::rfc3339_secs(ms)
    }

    #[test]
    fn a_local_time_is_read_in_its_zone_and_an_offset_as_written() {
        let london: Tz = "Europe/London".parse().unwrap();
        assert_eq!(
            utc(parse_at("2026-12-24 09:00", london).unwrap()),
            "2026-12-24T09:00:00Z"
        );
        assert_eq!(
            utc(parse_at("2026-07-01 09:00", london).unwrap()),
            "2026-07-01T08:00:00Z"
        );
        assert_eq!(
            utc(parse_at("2026-07-01T09:00:00+02:00", london).unwrap()),
            "2026-07-01T07:00:00Z"
        );
        // 01:30 on the last Sunday of March does not exist in London; in October it comes twice.
        assert!(
            parse_at("2026-03-29 01:30", london)
                .unwrap_err()
                .contains("skip")
        );
        assert_eq!(
            utc(parse_at("2026-10-25 01:30", london).unwrap()),
            "2026-10-25T00:30:00Z"
        );
        assert!(
            parse_at("next tuesday", london)
                .unwrap_err()
                .contains("2026-12-24 09:00")
        );
    }
}
