//! The worker's metrics, in the Prometheus (OpenMetrics) text format: API calls as the clients
//! saw them (latency, rate-limit rejections, whether the API was reached), sends and waits as
//! the token gates counted them, and the queue as the store holds it at the scrape.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::api_stats::{ApiStats, Labels, labels};
use super::worker::{TokenState, WorkerStatus};
use crate::queue::{MessageState, QueueGauges, TokenHeld};
use crate::tracking::events::EventStats;

/// The text of one scrape.
pub fn render(
    api: &ApiStats,
    status: &WorkerStatus,
    queue: &QueueGauges,
    holders: &[TokenHeld],
    queue_age: Duration,
) -> String {
    let r = registered(api, status, queue, holders, queue_age);
    let mut text = String::new();
    // Writing to a String does not fail.
    let _ = encode(&mut text, &r.registry);
    text
}

/// Every metric the worker serves (`campaign_sends_total`...), whether it has a sample now or
/// not: a scrape shows a family only once it has one.
#[cfg(test)]
fn families() -> Vec<String> {
    let status = WorkerStatus::default();
    registered(
        &ApiStats::default(),
        &status,
        &QueueGauges::default(),
        &[],
        Duration::ZERO,
    )
    .families
}

/// The registry being filled, and the names a scrape shows of the families put in it: a
/// counter's with `_total`, a histogram's with `_bucket`, `_sum` and `_count`.
struct Metrics {
    registry: Registry,
    families: Vec<String>,
}

impl Metrics {
    fn add(&mut self, name: &str, help: &str, metric: impl prometheus_client::registry::Metric) {
        use prometheus_client::metrics::MetricType;
        let suffixes: &[&str] = match metric.metric_type() {
            MetricType::Counter => &["_total"],
            MetricType::Histogram => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        for suffix in suffixes {
            self.families.push(format!("{PREFIX}_{name}{suffix}"));
        }
        self.registry.register(name, help, metric);
    }
}

const PREFIX: &str = "campaign";

fn registered(
    api: &ApiStats,
    status: &WorkerStatus,
    queue: &QueueGauges,
    holders: &[TokenHeld],
    queue_age: Duration,
) -> Metrics {
    let mut r = Metrics {
        registry: Registry::with_prefix(PREFIX),
        families: vec![],
    };
    register_api(&mut r, api, status);
    register_queue(&mut r, queue, queue_age);
    register_tokens(&mut r, status, queue, holders);
    register_events(&mut r, &status.events);
    r
}

/// Requests and sends: what the API and the token gates counted.
fn register_api(r: &mut Metrics, api: &ApiStats, status: &WorkerStatus) {
    r.add(
        "api_request_duration_seconds",
        "Convrs API request latency by command",
        api.latency.clone(),
    );
    r.add(
        "api_rate_limit_rejections",
        "Sends the API refused for a rate limit (2007 per number, 2008 per token)",
        api.rejections.clone(),
    );
    r.add(
        "api_unreachable",
        "API calls that did not reach the API or got no answer",
        api.unreached.clone(),
    );
    let sends = Family::<Labels, Counter>::default();
    let waits = Family::<Labels, Counter>::default();
    let failures = Family::<Labels, Counter>::default();
    for (token, stats) in status.gate_stats() {
        for ((command, outcome), n) in stats.outcomes() {
            sends
                .get_or_create(&labels(&[
                    ("token", &token),
                    ("channel", channel_of(command)),
                    ("outcome", outcome),
                ]))
                .inc_by(n);
        }
        for ((command, code), n) in stats.failures() {
            let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
            failures
                .get_or_create(&labels(&[
                    ("token", &token),
                    ("channel", channel_of(command)),
                    ("code", &code),
                ]))
                .inc_by(n);
        }
        waits
            .get_or_create(&labels(&[("token", &token)]))
            .inc_by(stats.waits());
    }
    r.add(
        "sends",
        "Send attempts by token, channel and outcome",
        sends,
    );
    r.add(
        "failures",
        "Messages failed for good by token, channel and the API's or WhatsApp's error code",
        failures,
    );
    r.add(
        "ack_delay_seconds",
        "Time from acceptance to delivered and to read, as acks were heard",
        crate::tracking::latency::ACK_DELAY.clone(),
    );
    r.add(
        "rate_limit_waits",
        "Sends that waited for their token's rate limit",
        waits,
    );
}

/// The channel a send command is, as the metrics label it.
fn channel_of(command: &str) -> &'static str {
    crate::campaign::definition::Channel::ALL
        .into_iter()
        .find(|c| c.send_command() == command)
        .map_or("whatsapp", |c| c.as_str())
}

fn gauge(pairs: &[(&str, &str)], n: i64, family: &Family<Labels, Gauge>) {
    family.get_or_create(&labels(pairs)).set(n);
}

fn single(n: i64) -> Gauge {
    let g = Gauge::<i64>::default();
    g.set(n);
    g
}

/// The queue as the store held it at the last snapshot.
fn register_queue(r: &mut Metrics, queue: &QueueGauges, queue_age: Duration) {
    let messages = Family::<Labels, Gauge>::default();
    for (state, n) in &queue.by_state {
        gauge(&[("state", state)], *n, &messages);
    }
    r.add("messages", "Messages by state (queue depth)", messages);
    let acks = Family::<Labels, Gauge>::default();
    for (ack, n) in &queue.by_ack {
        gauge(&[("ack", &ack.to_string())], *n, &acks);
    }
    r.add("messages_by_ack", "Messages by their ack code now", acks);
    let uncertain = queue
        .by_state
        .iter()
        .find(|(s, _)| s == MessageState::Uncertain.as_str())
        .map_or(0, |(_, n)| *n);
    r.add(
        "uncertain_messages",
        "Messages whose send may or may not have happened",
        single(uncertain),
    );
    let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    age.set(queue_age.as_secs_f64());
    r.add(
        "queue_snapshot_age_seconds",
        "How old the queue figures of this scrape are (they are read at most every 10 s)",
        age,
    );
    r.add(
        "deferred_messages",
        "Queued messages due later (deferred)",
        single(queue.deferred),
    );
}

/// Events heard, by source and command, and the WebSocket's reconnects, by reason.
fn register_events(r: &mut Metrics, events: &EventStats) {
    let heard = Family::<Labels, Counter>::default();
    for ((source, command), n) in events.events() {
        heard
            .get_or_create(&labels(&[("source", &source), ("command", &command)]))
            .inc_by(n);
    }
    r.add(
        "events",
        "Convrs events heard, by source (event: the webhook; websocket) and command",
        heard,
    );
    let reconnects = Family::<Labels, Counter>::default();
    for (reason, n) in events.reconnects() {
        reconnects
            .get_or_create(&labels(&[("reason", &reason)]))
            .inc_by(n);
    }
    r.add(
        "websocket_reconnects",
        "Reconnects of the event WebSocket, by reason (dropped, 1018, 1019)",
        reconnects,
    );
}

/// The tokens: stopped ones, who holds each, and what this worker sends on each.
fn register_tokens(
    r: &mut Metrics,
    status: &WorkerStatus,
    queue: &QueueGauges,
    holders: &[TokenHeld],
) {
    let stopped = Family::<Labels, Gauge>::default();
    for token in &queue.stopped_tokens {
        gauge(&[("token", token)], 1, &stopped);
    }
    r.add("token_stopped", "Tokens the API stopped", stopped);
    let held = Family::<Labels, Gauge>::default();
    for h in holders {
        gauge(
            &[
                ("token", &h.fingerprint),
                ("role", h.role.as_str()),
                ("owner", &h.owner),
            ],
            1,
            &held,
        );
    }
    r.add("token_lease", "Who holds each token's lease", held);
    let sending = Family::<Labels, Gauge>::default();
    for (token, state) in status.tokens() {
        let n = match state {
            TokenState::Held { campaigns } => campaigns.len() as i64,
            _ => 0,
        };
        gauge(&[("token", &token)], n, &sending);
    }
    r.add(
        "campaigns_sending",
        "Campaigns this worker sends now, by token",
        sending,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metrics an expression names (`campaign_...`).
    fn named(text: &str) -> Vec<String> {
        let mut names = vec![];
        let mut rest = text;
        while let Some(at) = rest.find("campaign_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.push(name);
        }
        names
    }

    #[test]
    fn every_metric_the_dashboard_and_the_alerts_name_is_one_the_worker_serves() {
        let served = families();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let dashboard = std::fs::read_to_string(root.join("grafana/campaign-worker.json")).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
        let exprs: Vec<String> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().iter())
            .map(|t| t["expr"].as_str().unwrap().to_string())
            .collect();
        let alerts = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
        let mut checked = 0;
        for name in exprs.iter().flat_map(|e| named(e)).chain(named(&alerts)) {
            assert!(
                served.contains(&name),
                "{name} is not served; the worker serves {served:?}"
            );
            checked += 1;
        }
        assert!(checked >= 20, "{checked}");
        // Each rule has an expression, and the rules the operator needs are there.
        assert_eq!(
            alerts.matches("- alert:").count(),
            alerts.matches("expr:").count()
        );
        for alert in [
            "WorkerDown",
            "TokenStopped",
            "FailureRate",
            "QueueNotDraining",
            "2008",
        ] {
            assert!(alerts.contains(alert), "{alert}");
        }
        // And the panels the dashboard is for.
        let all = exprs.join(" ");
        for metric in [
            "campaign_sends_total",
            "campaign_messages",
            "campaign_failures_total",
            "campaign_ack_delay_seconds_bucket",
            "campaign_token_lease",
        ] {
            assert!(all.contains(metric), "{metric}");
        }
    }
}
