//! The acks over time: a chart of the messages that reached each state (a point per message
//! when they are few, with a table of their acks).

use std::fmt::Write;

/// Messages that reached sent, delivered, read and replied over time: one step line per state,
/// each message counted once at the time it first reached the state, with a time axis (from
/// the first send) and a count axis.
pub(super) fn timeline_chart(reach: &[[Option<i64>; 4]]) -> String {
    let (w, h, left, bottom, top) = (760.0, 260.0, 50.0, 50.0, 10.0);
    let mut svg = format!(
        "<svg id=\"acks-over-time\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\">"
    );
    let times = || reach.iter().flat_map(|r| r.iter().flatten().copied());
    let (Some(first), Some(last)) = (times().min(), times().max()) else {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{}\">Nothing sent yet.</text></svg>",
            h / 2.0
        );
        return svg;
    };
    let span = (last - first).max(1) as f64;
    let peak = reach.iter().filter(|r| r[0].is_some()).count().max(1) as f64;
    let right = 30.0;
    let x = |at: i64| left + (w - left - right) * ((at - first) as f64 / span);
    let y = |n: f64| (h - bottom) - (h - bottom - top) * (n / peak);
    // Axes, with five ticks each.
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
         <line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#999\"/>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for i in 0..=4 {
        let at = first + (span * f64::from(i) / 4.0) as i64;
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(at),
            h - bottom + 16.0,
            since(at - first),
        );
    }
    // Whole counts only: at most five ticks, a whole step apart.
    let step = (peak / 4.0).ceil().max(1.0);
    let mut n = 0.0;
    while n <= peak {
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{n}</text>",
            left - 6.0,
            y(n) + 4.0,
        );
        n += step;
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since the first send</text>",
        left + (w - left) / 2.0,
        h - bottom + 32.0
    );
    let series = [
        ("sent", "#3b82f6"),
        ("delivered", "#10b981"),
        ("read", "#8b5cf6"),
        ("replied", "#f59e0b"),
    ];
    for (k, (label, colour)) in series.iter().enumerate() {
        let mut at: Vec<i64> = reach.iter().filter_map(|r| r[k]).collect();
        at.sort_unstable();
        let mut points = String::new();
        if let Some(start) = at.first() {
            let _ = write!(points, "{:.1},{:.1}", x(*start), y(0.0));
        }
        let mut dots = String::new();
        for (n, t) in at.iter().enumerate() {
            // A step: up at the moment it was reached.
            let _ = write!(
                points,
                " {:.1},{:.1} {:.1},{:.1}",
                x(*t),
                y(n as f64),
                x(*t),
                y(n as f64 + 1.0)
            );
            // A few messages: each one a point, so that steps close together still read.
            if reach.len() <= SMALL {
                let _ = write!(
                    dots,
                    "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"><title>{label} +{}</title></circle>",
                    x(*t),
                    y(n as f64 + 1.0),
                    since(*t - first).trim_start_matches('+')
                );
            }
        }
        let _ = write!(
            svg,
            "<polyline class=\"series\" data-state=\"{label}\" data-count=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{label} ({})</text>",
            at.len(),
            left + 130.0 * k as f64,
            h - 4.0,
            at.len()
        );
        svg.push_str(&dots);
    }
    svg.push_str("</svg>");
    svg
}

/// Up to this many messages, the acks chart marks each one and a table lists them.
pub(super) const SMALL: usize = 50;

/// Each message's acks, as times after the first send: what a chart of a few messages cannot
/// show apart.
pub(super) fn acks_table(reach: &[[Option<i64>; 4]]) -> String {
    let Some(first) = reach.iter().filter_map(|r| r[0]).min() else {
        return String::new();
    };
    let mut rows: Vec<&[Option<i64>; 4]> = reach.iter().collect();
    rows.sort_by_key(|r| r[0].unwrap_or(i64::MAX));
    let mut html = String::from(
        "<table id=\"acks-by-message\"><tr><th>message</th><th>sent</th><th>delivered</th><th>read</th><th>replied</th></tr>",
    );
    for (n, r) in rows.iter().enumerate() {
        let _ = write!(html, "<tr><td>{}</td>", n + 1);
        for at in r.iter() {
            let cell = at.map_or_else(|| "-".to_string(), |t| since(t - first));
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table><p>Times after the first send.</p>");
    html
}

/// `+0s`, `+45s`, `+12m`, `+3.5h`.
fn since(ms: i64) -> String {
    let s = ms as f64 / 1000.0;
    match s {
        s if s < 10.0 => format!("+{s:.1}s"),
        s if s < 120.0 => format!("+{s:.0}s"),
        s if s < 7200.0 => format!("+{:.0}m", s / 60.0),
        s => format!("+{:.1}h", s / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_messages_get_a_point_each_and_a_table_of_their_acks() {
        let reach = [
            [Some(1_000), Some(1_400), None, None],
            [Some(1_100), Some(1_300), Some(9_000), None],
        ];
        let chart = timeline_chart(&reach);
        assert_eq!(chart.matches("class=\"point\"").count(), 5);
        let table = acks_table(&reach);
        assert!(
            table.contains("<tr><td>1</td><td>+0.0s</td><td>+0.4s</td><td>-</td><td>-</td></tr>"),
            "{table}"
        );
        assert!(table.contains("<td>+8.0s</td>"), "{table}");
        let many: Vec<[Option<i64>; 4]> = (0..51).map(|i| [Some(i), None, None, None]).collect();
        assert!(!timeline_chart(&many).contains("class=\"point\""));
    }

    #[test]
    fn each_message_is_counted_once_per_state_in_the_chart() {
        // Two messages; the second was told delivered twice (callback and poll) but counts once.
        let chart = timeline_chart(&[
            [Some(0), Some(1_000), Some(5_000), None],
            [Some(100), Some(900), None, None],
        ]);
        for (state, n) in [("sent", 2), ("delivered", 2), ("read", 1), ("replied", 0)] {
            assert!(
                chart.contains(&format!("data-state=\"{state}\" data-count=\"{n}\"")),
                "{state}: {chart}"
            );
        }
        assert!(
            chart.contains("class=\"axis\"") && chart.contains("+5.0s"),
            "{chart}"
        );
    }
}
