//! Flag values shared by subcommands: durations with a unit, requests in flight, and the check
//! that `--reconcile-after` outlasts `--request-timeout`.

use std::time::Duration;

/// The longest duration any flag takes.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// `30s`, `10m`, `1h`, `250ms` (a bare number is seconds), at most 30 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s, 10m or 1h"))?;
    let millis = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("'{s}': use ms, s, m or h")),
    };
    match millis.map(Duration::from_millis) {
        Some(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("'{s}' is too long: at most 30 days (720h)")),
    }
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
