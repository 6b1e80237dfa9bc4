//! The HTML report: one self-contained page (no external assets), charts as inline SVG.

use std::fmt::Write;

use super::Overview;
use super::timeline::{SMALL, acks_table, timeline_chart};

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
    // On a phone the charts keep a readable size and scroll sideways.
    let wide = |chart: String| format!("<div class=\"wide\">{chart}</div>");
    page.push_str(&wide(bars("funnel", &funnel(&o.funnel), "#3b82f6")));
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
    batches(&mut page, &o.batches);
    usage(&mut page, &o.usage);
    counts(&mut page, &o.counts);
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

/// The funnel's stages, each with its share of the stage before.
fn funnel(f: &crate::queue::Funnel) -> [(String, i64); 5] {
    let rate = |n: i64, of: i64, what: &str| match of {
        0 => String::new(),
        of => format!(" ({:.0}% of {what})", 100.0 * n as f64 / of as f64),
    };
    [
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
    ]
}

/// A scheduled campaign's batches: each run's state and messages.
fn batches(page: &mut String, batches: &[crate::queue::BatchRow]) {
    if batches.is_empty() {
        return;
    }
    page.push_str("<h2>Batches</h2><table id=\"batches\"><tr><th>batch</th><th>run of</th><th>state</th><th>messages</th></tr>");
    for b in batches {
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

/// What the API accepted, SMS segments, and the estimated cost.
fn usage(page: &mut String, u: &super::usage::Usage) {
    page.push_str("<h2>Usage</h2><table id=\"usage\">");
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
}

/// Every state's count.
fn counts(page: &mut String, c: &crate::queue::Counts) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{CampaignId, Counts, Funnel};
    use crate::report::Failure;

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
}
