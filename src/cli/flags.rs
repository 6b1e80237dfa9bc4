//! Flag values shared by subcommands: durations with a unit, requests in flight, and the check
//! that `--reconcile-after` outlasts `--request-timeout`.

use std::time::Duration;

/// The longest duration any flag takes.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// `250ms`, `30s`, `10m`, `1h`, `7d` (`crate::duration`'s grammar), at most 30 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match crate::duration::parse(s)? {
        d if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("'{}' is too long: at most 30 days (30d)", s.trim())),
    }
}

/// The reply sweep's span: a duration (at most 30 days), or `off`.
pub fn parse_sweep(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "off" | "0" => Ok(Duration::ZERO),
        _ => parse_duration(s),
    }
}

/// A quality policy: `MIN_DELIVERED,MIN_READ%,MAX_OPT_OUT%` or `off`.
pub fn parse_quality(s: &str) -> Result<crate::queue::QualityPolicy, String> {
    crate::queue::QualityPolicy::parse(s)
}

/// A frequency cap: `N/SPAN`, at most N messages to a number per SPAN (`2/7d`).
pub fn parse_frequency_cap(s: &str) -> Result<crate::timing::FrequencyCap, String> {
    let (messages, per) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not N/SPAN, such as 2/7d (2 messages a week)"))?;
    let messages: u32 = messages
        .trim()
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("'{messages}' is not a count of messages (1 or more)"))?;
    Ok(crate::timing::FrequencyCap {
        messages,
        per_ms: crate::timing::parse_span(per)?,
    })
}

pub fn in_flight(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not in 1..=1024")),
    }
}

/// Refuses (exit 2, as clap does) a `--reconcile-after` not longer than `--request-timeout`.
pub fn check_reconcile_after(reconcile_after: Duration, request_timeout: Duration) {
    if reconcile_after <= request_timeout {
        use clap::CommandFactory;
        super::Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--reconcile-after ({reconcile_after:?}) must be longer than --request-timeout \
                     ({request_timeout:?}): an answer the client gave up on may still be processed \
                     until the timeout"
                ),
            )
            .exit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frequency_cap_flag_is_a_count_and_a_span() {
        let cap = parse_frequency_cap("2/7d").unwrap();
        assert_eq!((cap.messages, cap.per_ms), (2, 7 * 86_400_000));
        assert!(parse_frequency_cap("2").unwrap_err().contains("N/SPAN"));
        assert!(parse_frequency_cap("0/7d").is_err());
        assert!(parse_frequency_cap("2/7").unwrap_err().contains("no unit"));
    }

    #[test]
    fn flags_take_the_same_durations_as_campaign_files() {
        // `--poll-max-age 7d` was refused while `dedupe_window = "7d"` was accepted.
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(crate::timing::parse_span("7d"), Ok(7 * 86_400_000));
        assert!(
            parse_duration("31d")
                .unwrap_err()
                .contains("at most 30 days")
        );
        assert!(parse_duration("30").unwrap_err().contains("30s"));
    }
}
