//! The HTML report: one self-contained page (no external assets), charts as inline SVG.

use std::fmt::Write;

use super::Overview;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn render(o: &Overview, timeline: &[(i64, i64)]) -> String {
    let mut page = String::new();
    let median = o
        .median_delivery_ms
        .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
        .unwrap_or_else(|| "n/a".into());
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Campaign {id}: {name}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}h2{{margin-top:1.5em}}\
         table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:left}}svg text{{font-size:12px}}</style>\
         </head><body><h1>Campaign {id}: {name}</h1><p>State: <b>{state}</b>{reason}. Median time to delivered: <b>{median}</b>.</p>",
        id = o.id,
        name = esc(&o.name),
        state = esc(&o.state),
        reason = o
            .reason
            .as_deref()
            .map(|r| format!(" ({})", esc(r)))
            .unwrap_or_default(),
    );
    page.push_str("<h2>Delivery funnel</h2>");
    let f = &o.funnel;
    let stages = [
        ("queued", f.queued),
        ("sent", f.sent),
        ("delivered", f.delivered),
        ("read", f.read),
        ("replied", f.replied),
    ];
    page.push_str(&bars(
        "funnel",
        &stages.map(|(l, n)| (l.to_string(), n)),
        "#3b82f6",
    ));
    page.push_str("<h2>Acks over time</h2>");
    page.push_str(&timeline_chart(timeline));
    page.push_str("<h2>Failure reasons</h2>");
    let failures: Vec<(String, i64)> = o
        .failures
        .iter()
        .map(|f| (f.reason.clone(), f.count))
        .collect();
    if failures.is_empty() {
        page.push_str("<p>No failures.</p>");
    }
    page.push_str(&bars("failure-reasons", &failures, "#ef4444"));
    let c = &o.counts;
    let _ = write!(
        page,
        "<h2>Counts</h2><table><tr><th>total</th><th>queued</th><th>sending</th><th>sent</th><th>delivered</th><th>read</th>\
         <th>replied</th><th>failed</th><th>uncertain</th><th>cancelled</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table></body></html>",
        c.total,
        c.queued,
        c.sending,
        c.sent,
        c.delivered,
        c.read,
        c.replied,
        c.failed,
        c.uncertain,
        c.cancelled
    );
    page
}

/// A horizontal bar chart with a label and a count per bar.
fn bars(id: &str, items: &[(String, i64)], colour: &str) -> String {
    let max = items.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let (label_w, bar_w, row_h) = (320.0, 420.0, 26.0);
    let height = row_h * items.len() as f64 + 10.0;
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\">",
        label_w + bar_w + 60.0
    );
    for (i, (label, n)) in items.iter().enumerate() {
        let y = 5.0 + row_h * i as f64;
        let w = bar_w * (*n as f64) / max;
        let short: String = label.chars().take(48).collect();
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect class=\"bar\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"><title>{}: {n}</title></rect><text x=\"{}\" y=\"{}\">{n}</text>",
            label_w - 8.0,
            y + 16.0,
            esc(&short),
            row_h - 6.0,
            esc(label),
            label_w + w + 6.0,
            y + 16.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Cumulative messages that reached sent (1), delivered (2) and read (3) over time, one line each.
fn timeline_chart(timeline: &[(i64, i64)]) -> String {
    let (w, h, pad) = (760.0, 240.0, 40.0);
    let mut svg = format!(
        "<svg id=\"acks-over-time\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>",
        h - pad,
        w - 10.0,
        h - pad
    );
    if let (Some(first), Some(last)) = (timeline.first(), timeline.last()) {
        let span = (last.0 - first.0).max(1) as f64;
        let series = [
            (1, "sent", "#3b82f6"),
            (2, "delivered", "#10b981"),
            (3, "read", "#8b5cf6"),
        ];
        let peak = timeline.iter().filter(|(_, a)| *a >= 1).count().max(1) as f64;
        for (k, (level, label, colour)) in series.iter().enumerate() {
            let mut n = 0;
            let mut points = format!("{pad},{}", h - pad);
            for (at, ack) in timeline {
                if *ack == *level {
                    n += 1;
                    let x = pad + (w - pad - 10.0) * ((*at - first.0) as f64 / span);
                    let y = (h - pad) - (h - pad - 10.0) * (n as f64 / peak);
                    let _ = write!(points, " {x:.1},{y:.1}");
                }
            }
            let _ = write!(
                svg,
                "<polyline class=\"series\" data-ack=\"{level}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\
                 <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{label} ({n})</text>",
                pad + 110.0 * k as f64,
                h - 10.0
            );
        }
    } else {
        let _ = write!(
            svg,
            "<text x=\"{pad}\" y=\"{}\">No acks yet.</text>",
            h / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
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
            median_delivery_ms: Some(1500),
            deferred: vec![],
        };
        let page = render(&o, &[(0, 1), (10, 2), (20, 3)]);
        assert!(!page.contains("<script>"));
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
        for id in ["funnel", "acks-over-time", "failure-reasons"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(page.contains("1.5 s"));
    }
}
