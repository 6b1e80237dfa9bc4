//! One grammar for every span of time the tool reads, on the command line and in campaign
//! files: a whole number and its unit, `250ms`, `90s`, `30m`, `6h`, `7d`, `2w`. A bare number
//! is refused (is `7` seven seconds or seven days?). Each setting keeps its own range.

use std::time::Duration;

/// The units a duration may take, and each one in milliseconds.
const UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 7 * 86_400_000),
];

/// `s` as a duration, or what to write instead.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90s, 30m, 6h or 7d"))?;
    if unit.is_empty() {
        return Err(format!(
            "'{s}' has no unit: write it with one, as {n}s, {n}m, {n}h or {n}d"
        ));
    }
    let Some(&(_, unit_ms)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!("'{s}': the unit is one of ms, s, m, h, d or w"));
    };
    n.checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("'{s}' is too long"))
}

/// `d` in the same grammar, in its largest whole unit: `10m`, `90s`, `0s` (the inverse of
/// `parse` for what it reads).
pub fn shown(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    let (unit, size) = UNITS
        .iter()
        .rev()
        .find(|(_, size)| ms.is_multiple_of(*size) && ms >= *size)
        .copied()
        .unwrap_or(("s", 1_000));
    format!("{}{unit}", ms / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_shown_in_its_largest_whole_unit() {
        for (ms, text) in [(0, "0s"), (250, "250ms"), (90_000, "90s"), (600_000, "10m")] {
            assert_eq!(shown(Duration::from_millis(ms)), text);
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)));
        }
        assert_eq!(shown(Duration::from_secs(14 * 86_400)), "2w");
    }

    #[test]
    fn every_unit_and_what_is_refused() {
        for (text, ms) in [
            ("250ms", 250),
            ("90s", 90_000),
            (" 30m ", 1_800_000),
            ("6h", 21_600_000),
            ("7d", 604_800_000),
            ("2w", 1_209_600_000),
            ("0s", 0),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        assert!(parse("7").unwrap_err().contains("7s, 7m, 7h or 7d"));
        assert!(parse("7y").unwrap_err().contains("ms, s, m, h, d or w"));
        assert!(parse("h").unwrap_err().contains("not a duration"));
        assert!(parse("99999999999999999999w").is_err());
        assert!(parse("9999999999999999w").unwrap_err().contains("too long"));
    }
}
