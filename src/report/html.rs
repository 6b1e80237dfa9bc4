//! The HTML report: one self-contained page (no external assets), charts as inline SVG.

use std::fmt::Write;

use super::Overview;

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Readable on a phone (it reflows, charts scale) and printed (no colours lost, no chart cut
/// over two pages).
pub(super) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:60em;color:#222}\
h2{margin-top:1.5em}table{border-collapse:collapse;max-width:100%}td,th{padding:2px 10px;text-align:left;\
vertical-align:top;overflow-wrap:break-word}th{white-space:nowrap}svg text{font-size:12px}.chart{height:auto}\
.wide{overflow-x:auto}.wide .chart{min-width:600px}@media print{body{margin:0;max-width:none}svg,table{break-inside:avoid}\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

pub fn render(o: &Overview, header: &[(&str, String)], timeline: &[[Option<i64>; 4]]) -> String {
    let mut page = String::new();
    let median = super::delivery_times(&o.delivery);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Campaign {id}: {name}</title>\
         <style>{STYLE}</style></head><body><h1>Campaign {id}: {name}</h1>\
         <p>State: <b>{state}</b>{reason}.</p><p id=\"delivery-times\">Median time to delivered: <b>{median}</b>.</p>",
        id = o.id,
        name = esc(&o.name),
        state = esc(&o.state),
        reason = o
            .reason
            .as_deref()
            .map(|r| format!(" ({})", esc(r)))
            .unwrap_or_default(),
    );
    page.push_str("<table id=\"header\">");
    for (label, value) in header {
        let _ = write!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(label),
            esc(value)
        );
    }
    page.push_str("</table><h2>Delivery funnel</h2>");
    let f = &o.funnel;
    let rate = |n: i64, of: i64, what: &str| match of {
        0 => String::new(),
        of => format!(" ({:.0}% of {what})", 100.0 * n as f64 / of as f64),
    };
    let stages = [
        ("queued".to_string(), f.queued),
        (format!("sent{}", rate(f.sent, f.queued, "queued")), f.sent),
        (
            format!("delivered{}", rate(f.delivered, f.sent, "sent")),
            f.delivered,
        ),
        (
            format!("read{}", rate(f.read, f.delivered, "delivered")),
            f.read,
        ),
        (
            format!("replied{}", rate(f.replied, f.read, "read")),
            f.replied,
        ),
    ];
    // On a phone the charts keep a readable size and scroll sideways.
    let wide = |chart: String| format!("<div class=\"wide\">{chart}</div>");
    page.push_str(&wide(bars("funnel", &stages, "#3b82f6")));
    page.push_str("<h2>Acks over time</h2>");
    page.push_str(&wide(timeline_chart(timeline)));
    if timeline.len() <= SMALL {
        page.push_str(&acks_table(timeline));
    }
    page.push_str("<h2>Failure reasons</h2>");
    let failures: Vec<(String, i64)> = o
        .failures
        .iter()
        .map(|f| (tidy(&f.reason), f.count))
        .collect();
    if failures.is_empty() {
        page.push_str("<p>No failures.</p>");
    }
    page.push_str(&wide(bars("failure-reasons", &failures, "#ef4444")));
    if !o.batches.is_empty() {
        page.push_str("<h2>Batches</h2><table id=\"batches\"><tr><th>batch</th><th>run of</th><th>state</th><th>messages</th></tr>");
        for b in &o.batches {
            let what = match b.state.as_str() {
                "skipped" => b.reason.clone().unwrap_or_else(|| "skipped".into()),
                state => state.to_string(),
            };
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                b.id,
                crate::clock::rfc3339_secs(b.slot),
                esc(&what),
                b.messages
            );
        }
        page.push_str("</table>");
    }
    page.push_str("<h2>Usage</h2><table id=\"usage\">");
    let u = &o.usage;
    let mut usage = vec![("accepted by the API", u.accepted.to_string())];
    if let (Some(segments), Some(ucs2)) = (u.segments, u.ucs2_messages) {
        usage.push(("SMS segments", segments.to_string()));
        usage.push(("sent as UCS-2 (70 characters a segment)", ucs2.to_string()));
    }
    match &u.cost {
        Some(c) => usage.push((
            "estimated cost",
            format!(
                "{} {} ({})",
                super::usage::money(c.amount),
                c.currency,
                c.price
            ),
        )),
        None => usage.push(("estimated cost", "no price was given".into())),
    }
    for (label, value) in usage {
        let _ = write!(page, "<tr><th>{label}</th><td>{}</td></tr>", esc(&value));
    }
    page.push_str("</table>");
    let c = &o.counts;
    let _ = write!(
        page,
        "<h2>Counts</h2><div class=\"wide\"><table><tr><th>total</th><th>queued</th><th>sending</th><th>sent</th><th>delivered</th><th>read</th>\
         <th>replied</th><th>failed</th><th>uncertain</th><th>cancelled</th><th>expired</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table></div>",
        c.total,
        c.queued,
        c.sending,
        c.sent,
        c.delivered,
        c.read,
        c.replied,
        c.failed,
        c.uncertain,
        c.cancelled,
        c.expired
    );
    if let Some(n) = o.untracked.filter(|n| *n > 0) {
        let _ = write!(
            page,
            "<p id=\"untracked\">{} accepted without a message id, and their conversations \
             never showed them: sent, but their delivery cannot be followed.</p>",
            crate::terminal::counted(n as u64, "text was", "texts were")
        );
    }
    page
}

/// The failed and uncertain recipients (the first of them), and the end of the page that
/// `render` began.
pub fn troubled(
    rows: &[(i64, String, String, String)],
    all: i64,
    id: crate::queue::CampaignId,
) -> String {
    let mut html = String::from("<h2>Failed and uncertain recipients</h2>");
    if rows.is_empty() {
        html.push_str("<p>None.</p></body></html>");
        return html;
    }
    html.push_str(
        "<table id=\"troubled\"><tr><th>line</th><th>phone</th><th>state</th><th>why</th></tr>",
    );
    for (line, phone, state, why) in rows {
        let _ = write!(
            html,
            "<tr><td>{line}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(phone),
            esc(state),
            esc(&tidy(why))
        );
    }
    html.push_str("</table>");
    if all > rows.len() as i64 {
        let _ = write!(
            html,
            "<p>The first {} of {all} (campaign {id}'s CSV report lists every recipient).</p>",
            rows.len()
        );
    }
    html.push_str("</body></html>");
    html
}

/// A horizontal bar chart: each bar under its whole label, with its count.
fn bars(id: &str, items: &[(String, i64)], colour: &str) -> String {
    let max = items.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let (w, bar_w, row_h) = (760.0, 640.0, 36.0);
    let height = row_h * items.len() as f64 + 6.0;
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" width=\"100%\" role=\"img\">"
    );
    for (i, (label, n)) in items.iter().enumerate() {
        let y = 4.0 + row_h * i as f64;
        let bw = (bar_w * (*n as f64) / max).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect class=\"bar\" x=\"0\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"14\" fill=\"{colour}\"><title>{}: {n}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
            y + 12.0,
            esc(label),
            y + 16.0,
            esc(label),
            bw + 6.0,
            y + 28.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A reason once: `2006 (User has been unsubscribed): User has been unsubscribed` reads
/// `2006 (User has been unsubscribed)`.
fn tidy(reason: &str) -> String {
    match reason.split_once("): ") {
        Some((head, tail)) if head.ends_with(tail.trim()) => format!("{head})"),
        _ => reason.to_string(),
    }
}

/// Messages that reached sent, delivered, read and replied over time: one step line per state,
/// each message counted once at the time it first reached the state, with a time axis (from
/// the first send) and a count axis.
fn timeline_chart(reach: &[[Option<i64>; 4]]) -> String {
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
const SMALL: usize = 50;

/// Each message's acks, as times after the first send: what a chart of a few messages cannot
/// show apart.
fn acks_table(reach: &[[Option<i64>; 4]]) -> String {
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
    use crate::queue::{CampaignId, Counts, Funnel};
    use crate::report::Failure;

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
    fn the_page_is_self_contained_and_escapes_what_it_shows() {
        let o = Overview {
            id: CampaignId(1),
            name: "<script>alert(1)</script>".into(),
            state: "finished".into(),
            reason: None,
            counts: Counts::default(),
            funnel: Funnel {
                queued: 3,
                sent: 3,
                delivered: 2,
                read: 1,
                replied: 0,
            },
            failures: vec![Failure {
                reason: "ack -1 <error>".into(),
                count: 1,
            }],
            delivery: crate::queue::DeliveryTimes {
                by_callback: None,
                by_polling: Some(crate::queue::Median {
                    median_ms: 1500,
                    messages: 2,
                }),
            },
            usage: Default::default(),
            batches: vec![],
            deferred: vec![],
            replies: Default::default(),
            context: None,
            untracked: None,
        };
        let header = [("SMS text", "Hi <b>".to_string())];
        let page = render(&o, &header, &[[Some(0), Some(10), Some(20), None]]);
        assert!(page.contains("id=\"header\"") && page.contains("Hi &lt;b&gt;"));
        assert!(!page.contains("<script>"));
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
        for id in ["funnel", "acks-over-time", "failure-reasons"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(page.contains("1.5 s"));
        assert!(page.contains("delivered (67% of sent)"), "rates");
        assert!(
            !page.contains("id=\"untracked\""),
            "only for texts that have some"
        );
        // The manager's page gives no configuration hints: the command line does.
        assert!(page.contains("no price was given") && !page.contains("price = {"));
    }

    #[test]
    fn a_reason_that_repeats_its_meaning_is_said_once() {
        assert_eq!(
            tidy("2006 (User has been unsubscribed): User has been unsubscribed"),
            "2006 (User has been unsubscribed)"
        );
        assert_eq!(
            tidy("ack -1 (an error occurred)"),
            "ack -1 (an error occurred)"
        );
        assert_eq!(
            tidy("1013 (Bad): something else"),
            "1013 (Bad): something else"
        );
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
