//! The worker's live page (`GET /` on its admin listener): campaigns and their progress, each
//! token's rate against its limit, recent failures and the API's state, schedules' next runs.
//! Read-only, self-contained like the report (its style, no external assets), and it reloads
//! itself.

use std::fmt::Write;

use super::html::{STYLE, esc};
use crate::queue::{CampaignState, Listed, ScheduleRow};

/// How often the page reloads itself.
pub const REFRESH_SECS: u32 = 5;

/// What the page shows.
#[derive(Debug, Default)]
pub struct Live {
    pub now_ms: i64,
    /// Who serves it (`worker pid N@host`).
    pub worker: String,
    /// Why the API cannot be reached now, if it cannot.
    pub api_problem: Option<String>,
    pub tokens: Vec<TokenLine>,
    /// Every campaign, with its rate (per second) over the last half minute.
    pub campaigns: Vec<(Listed, f64)>,
    /// The commonest failure reasons of the campaigns still going: campaign, reason, count.
    pub failures: Vec<(Listed, String, i64)>,
    pub schedules: Vec<ScheduleRow>,
}

/// One token as this worker sees it.
#[derive(Debug)]
pub struct TokenLine {
    pub token: String,
    /// `held`, `waiting`... as /healthz says it.
    pub state: String,
    pub campaigns: usize,
    /// Sends a second over the last half minute, and the token's limit.
    pub rate: f64,
    pub limit: u32,
}

pub fn render(live: &Live) -> String {
    let at = crate::clock::rfc3339_secs;
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>campaign worker</title><style>{STYLE}progress{{width:12em}}.bad{{color:#b00}}</style></head>\
         <body><h1>campaign worker</h1><p>{} at {} UTC; this page reloads every {REFRESH_SECS} s.</p>",
        esc(&live.worker),
        at(live.now_ms).replace('T', " ").trim_end_matches('Z'),
    );
    if let Some(problem) = &live.api_problem {
        let _ = write!(
            page,
            "<p id=\"api\" class=\"bad\">The Convrs API cannot be reached: {}</p>",
            esc(problem)
        );
    }
    page.push_str("<h2>Tokens</h2><table id=\"tokens\"><tr><th>token</th><th>state</th><th>campaigns sending</th><th>rate</th></tr>");
    for t in &live.tokens {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><progress value=\"{:.1}\" max=\"{}\"></progress> {:.1}/s of {}/s</td></tr>",
            esc(&t.token),
            esc(&t.state),
            t.campaigns,
            t.rate.min(f64::from(t.limit)),
            t.limit,
            t.rate,
            t.limit
        );
    }
    page.push_str("</table><h2>Campaigns</h2><table id=\"campaigns\"><tr><th>id</th><th>name</th><th>state</th><th>progress</th><th>rate</th><th>sending now</th></tr>");
    for (c, rate) in &live.campaigns {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><progress value=\"{}\" max=\"{}\"></progress> {}/{}</td><td>{}</td><td>{}</td></tr>",
            c.id,
            esc(&c.name),
            c.state,
            c.sent,
            c.total.max(1),
            c.sent,
            c.total,
            if CampaignState::TO_SEND.contains(&c.state) {
                format!("{rate:.1}/s")
            } else {
                "-".into()
            },
            esc(c
                .sending_now
                .as_deref()
                .or(c.token_holder.as_deref())
                .unwrap_or("-")),
        );
    }
    page.push_str("</table>");
    if !live.failures.is_empty() {
        page.push_str("<h2>Recent failures</h2><table id=\"failures\"><tr><th>campaign</th><th>messages</th><th>reason</th></tr>");
        for (c, reason, n) in &live.failures {
            let _ = write!(
                page,
                "<tr><td>{} {}</td><td>{n}</td><td>{}</td></tr>",
                c.id,
                esc(&c.name),
                esc(reason)
            );
        }
        page.push_str("</table>");
    }
    if !live.schedules.is_empty() {
        page.push_str("<h2>Schedules</h2><table id=\"schedules\"><tr><th>campaign</th><th>cron</th><th>next run</th></tr>");
        for s in &live.schedules {
            let _ = write!(
                page,
                "<tr><td>{} {}</td><td>{} ({})</td><td>{}</td></tr>",
                s.campaign,
                esc(&s.name),
                esc(&s.cron),
                esc(&s.timezone),
                super::local_time(s.next_run_at, s.timezone.parse().unwrap_or(chrono_tz::UTC))
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::CampaignId;

    #[test]
    fn the_page_reloads_itself_and_escapes_what_it_shows() {
        let campaign = Listed {
            id: CampaignId(3),
            name: "<b>spring</b>".into(),
            state: CampaignState::Running,
            token: Some("fp:1".into()),
            created_at: String::new(),
            updated_at: String::new(),
            sent: 40,
            total: 100,
            sending_now: Some("pid 1@h".into()),
            token_holder: None,
            waiting_for_token: false,
        };
        let live = Live {
            now_ms: 0,
            worker: "worker pid 1@h".into(),
            campaigns: vec![(campaign.clone(), 9.5)],
            failures: vec![(campaign, "2006 <unsubscribed>".into(), 2)],
            ..Default::default()
        };
        let page = render(&live);
        assert!(page.contains("http-equiv=\"refresh\""));
        assert!(page.contains("&lt;b&gt;spring") && !page.contains("<b>spring"));
        assert!(page.contains("<progress value=\"40\" max=\"100\"></progress> 40/100"));
        assert!(page.contains("9.5/s") && page.contains("2006 &lt;unsubscribed&gt;"));
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    }
}
