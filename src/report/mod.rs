//! Reports on a campaign: the overview `status` prints, one CSV row per recipient, and a
//! self-contained HTML page with the funnel, acks over time and failure reasons as inline SVG.

mod html;
pub mod live;
mod pace;
mod recipients;
mod replies;
mod timeline;
mod usage;

use std::path::Path;

use serde::Serialize;

use crate::queue::{CampaignId, Counts, DeferredGroup, DeliveryTimes, Funnel, Store, StoreError};

pub use html::render as html;
pub use pace::Pace;
pub use recipients::{CsvOutput, Written, write_csv};
pub use replies::Replies;
pub use usage::{Cost, Usage};

/// Everything `status` shows about one campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub id: CampaignId,
    pub name: String,
    pub state: String,
    pub reason: Option<String>,
    pub counts: Counts,
    pub funnel: Funnel,
    pub failures: Vec<Failure>,
    /// Median times from acceptance to delivery: by callback timestamps, and as observed by
    /// polling.
    pub delivery: DeliveryTimes,
    /// Messages accepted, SMS segments and the estimated cost.
    pub usage: Usage,
    /// A scheduled campaign's batches (and skipped runs), newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<crate::queue::BatchRow>,
    /// Queued messages waiting for a later attempt (the API deferred them), by reason.
    pub deferred: Vec<DeferredGroup>,
    /// What recipients wrote in answer to the campaign.
    pub replies: Replies,
    /// The tags and data set on recipients after the send (`[after_send]`), if the campaign
    /// sets any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<crate::queue::ContextCounts>,
    /// A text campaign's sent messages whose mid was never found: no ack can come for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untracked: Option<i64>,
}

/// `12 done, 3 pending, 1 failed; stopped: the tag "x" cannot be set (...)`.
pub fn context_line(c: &crate::queue::ContextCounts) -> String {
    let mut line = format!(
        "{} done, {} pending, {} failed",
        c.done, c.pending, c.failed
    );
    if let Some(why) = &c.stopped {
        line.push_str(&format!("; stopped: {why}"));
    }
    line
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub reason: String,
    pub count: i64,
}

impl Overview {
    pub async fn of(store: &Store, id: CampaignId) -> Result<Option<Overview>, StoreError> {
        let Some((_, name, state, reason)) =
            store.campaigns().await?.into_iter().find(|c| c.0 == id)
        else {
            return Ok(None);
        };
        let h = store.report_header(id).await?;
        let channel = crate::campaign::definition::Channel::from_stored(&h.channel);
        let sms = channel == crate::campaign::definition::Channel::Sms;
        let untracked = match channel {
            crate::campaign::definition::Channel::Text => Some(store.untracked(id).await?),
            _ => None,
        };
        let funnel = store.funnel(id).await?;
        Ok(Some(Overview {
            id,
            name,
            state: state.to_string(),
            reason,
            counts: store.counts(id).await?,
            usage: Usage::of(store, id, funnel.sent, sms, h.price.as_deref()).await?,
            funnel,
            failures: store
                .failure_reasons(id)
                .await?
                .into_iter()
                .map(|(reason, count)| Failure { reason, count })
                .collect(),
            delivery: store.delivery_times(id).await?,
            batches: store.batches(id).await?,
            deferred: store
                .deferred(id, chrono::Utc::now().timestamp_millis())
                .await?,
            replies: Replies {
                confirmations: store.confirmations(id).await?,
                ..Replies::of(store.replies(id).await?)
            },
            context: store.context_counts(id).await?,
            untracked,
        }))
    }
}

/// Median times to delivered, said with how they were learnt: `about 2 s by the callbacks'
/// timestamps (40 messages); 12.5 s as observed by polling (10 messages)`, or `n/a`.
pub fn delivery_times(d: &DeliveryTimes) -> String {
    let mut parts = vec![];
    if let Some(m) = d.by_callback {
        // Callback timestamps have whole seconds.
        let time = match m.median_ms {
            ms if ms < 1000 => "under 1 s".to_string(),
            ms => format!("about {} s", (ms + 500) / 1000),
        };
        parts.push(format!(
            "{time} by the callbacks' timestamps ({})",
            messages(m.messages)
        ));
    }
    if let Some(m) = d.by_polling {
        parts.push(format!(
            "{:.1} s as observed by polling, later than it happened ({})",
            m.median_ms as f64 / 1000.0,
            messages(m.messages)
        ));
    }
    if parts.is_empty() {
        return "n/a".into();
    }
    parts.join("; ")
}

/// `1 message`, `9 messages`.
fn messages(n: usize) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
}

/// The report's header, as (label, value) lines: what was sent, with which token, when, and
/// what the load found.
async fn header(store: &Store, id: CampaignId) -> Result<Vec<(&'static str, String)>, StoreError> {
    let h = store.report_header(id).await?;
    let settings: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&h.settings).unwrap_or_default();
    // Settings are stored as shown to the operator: quoted text.
    let setting = |key: &str| {
        settings
            .get(key)
            .map(|v| serde_json::from_str::<String>(v).unwrap_or_else(|_| v.clone()))
    };
    let zone = h
        .timing
        .as_deref()
        .and_then(|t| serde_json::from_str::<crate::timing::Timing>(t).ok())
        .unwrap_or_default()
        .fallback_zone();
    let at = |ms: i64| local_time(ms, zone);
    let mut lines = vec![("channel", format!("{} (bot {})", h.channel, h.bot_id))];
    let mut body = None;
    if let (Some(name), Some(language)) = (setting("template"), setting("language")) {
        lines.push(("template", format!("{name} ({language})")));
        if let Some(json) = store.cached_template(h.bot_id, &name, &language).await?
            && let Ok(template) = serde_json::from_str::<crate::convrs::wire::Template>(&json)
        {
            // Its placeholders named by the columns that fill them.
            let columns: Vec<String> = setting("params")
                .unwrap_or_default()
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| format!("[{c}]"))
                .collect();
            let text = template.body_text().to_string();
            lines.push((
                "template text",
                crate::convrs::wire::render_body(&text, &columns),
            ));
            body = Some(text);
        }
    }
    if let Some(text) = setting("message") {
        let label = if h.channel == "sms" {
            "SMS text"
        } else {
            "text"
        };
        lines.push((label, text));
    }
    if let Some((line, payload)) = &h.first
        && let Some(example) = example(payload, body.as_deref())
    {
        lines.push(("as sent (first row)", format!("line {line}: {example}")));
    }
    lines.push(("token", h.token.unwrap_or_else(|| "(not sent yet)".into())));
    lines.push(("created", at(h.created_at)));
    if let (Some(first), Some(last)) = (h.first_sent, h.last_sent) {
        lines.push(("first send", at(first)));
        lines.push(("last send", at(last)));
        let s = (last - first) / 1000;
        lines.push((
            "sending took",
            format!("{}h {:02}m {:02}s", s / 3600, s / 60 % 60, s % 60),
        ));
    }
    if let Some(summary) = h
        .load_summary
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
    {
        let n = |k: &str| summary[k].as_u64().unwrap_or(0);
        lines.push((
            "rows loaded",
            format!(
                "{}: {} valid, {} rejected, {}, {} suppressed",
                n("rows"),
                n("valid"),
                n("rejected"),
                crate::terminal::counted(n("duplicates"), "duplicate", "duplicates"),
                n("suppressed")
            ),
        ));
    }
    Ok(lines)
}

/// What the recipient of a frozen request reads: a template's body with its parameters, or
/// the text of an SMS, a WhatsApp text or a route.
pub fn example(payload: &str, body: Option<&str>) -> Option<String> {
    let request: serde_json::Value = serde_json::from_str(payload).ok()?;
    if let Some(body) = body {
        let params: Vec<String> = request["parameters"]
            .as_array()?
            .iter()
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect();
        return Some(crate::convrs::wire::render_body(body, &params));
    }
    request["message"].as_str().map(str::to_string)
}

/// A time for the manager: in the campaign's zone, the zone named (`2026-12-07 09:15:02
/// Europe/London (GMT)`).
pub fn local_time(ms: i64, zone: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            let t = t.with_timezone(&zone);
            let abbreviation = t.format("%Z").to_string();
            if abbreviation == zone.name() {
                format!("{} {}", t.format("%Y-%m-%d %H:%M:%S"), zone.name())
            } else {
                format!(
                    "{} {} ({abbreviation})",
                    t.format("%Y-%m-%d %H:%M:%S"),
                    zone.name()
                )
            }
        })
        .unwrap_or_default()
}

/// How many failed and uncertain recipients the page lists (the CSV has them all).
const TROUBLED_SHOWN: i64 = 50;

/// The HTML report, written to `path`.
pub async fn write_html(store: &Store, id: CampaignId, path: &Path) -> Result<(), ReportError> {
    let fail = |error: std::io::Error| ReportError::Write {
        path: path.display().to_string(),
        error,
    };
    let Some(overview) = Overview::of(store, id).await? else {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no campaign {id}"),
        )));
    };
    let timeline = store.reach_times(id).await?;
    let header = header(store, id).await?;
    let (troubled, all) = store.troubled(id, TROUBLED_SHOWN).await?;
    let context = overview.context.as_ref().map_or_else(String::new, |c| {
        format!(
            "<h2>Context after the send</h2><p id=\"context\">Tags and data set on the recipients: {}.</p>",
            html::esc(&context_line(c))
        )
    });
    let page = html::render(&overview, &header, &timeline)
        + &replies::html(&overview.replies)
        + &context
        + &html::troubled(&troubled, all, id);
    std::io::Write::write_all(
        &mut crate::files::write_private(path).map_err(fail)?,
        page.as_bytes(),
    )
    .map_err(fail)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_in_the_campaigns_zone_with_the_zone_named() {
        let at = 1_796_608_800_000; // 2026-12-07T02:00:00Z
        assert_eq!(
            super::local_time(at, chrono_tz::Europe::Paris),
            "2026-12-07 03:00:00 Europe/Paris (CET)"
        );
        assert_eq!(
            super::local_time(at, chrono_tz::UTC),
            "2026-12-07 02:00:00 UTC"
        );
    }

    #[test]
    fn the_example_is_the_template_with_its_parameters_or_the_text() {
        let template = r#"{"parameters":[{"type":"text","text":"Ann"}],"templateName":"t"}"#;
        assert_eq!(
            super::example(template, Some("Hi {{1}}!")).as_deref(),
            Some("Hi Ann!")
        );
        assert_eq!(
            super::example(r#"{"message":"Hi Bo"}"#, None).as_deref(),
            Some("Hi Bo")
        );
    }
}
