//! Arbitrary cron patterns, time zones, moments and durations: parsed or refused, never a
//! panic; a schedule that parses fires, and moves forward.
#![no_main]

use campaign::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '|');
    let (pattern, zone, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("UTC"),
        parts.next().unwrap_or(""),
    );
    let _ = campaign::cli::parse_duration(rest);
    let _ = campaign::campaign::timing::parse_span(rest);
    let at = rest.bytes().fold(1_700_000_000_000i64, |a, b| {
        a.wrapping_mul(31).wrapping_add(i64::from(b)) % 4_000_000_000_000
    });
    if let Ok(schedule) = Schedule::parse(pattern, zone) {
        if let Some(next) = schedule.next_after(at) {
            assert!(next > at);
        }
        let _ = schedule.plan(at, at + 3_600_000, 3_600_000);
        let _ = schedule.local(at);
    }
});
