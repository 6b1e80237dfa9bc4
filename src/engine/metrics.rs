//! The worker's metrics, in the Prometheus (OpenMetrics) text format: API calls as the clients
//! saw them (latency, rate-limit rejections, whether the API was reached), sends and waits as
//! the token gates counted them, and the queue as the store holds it at the scrape.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::worker::{TokenState, WorkerStatus};
use crate::clock::now_ms;
use crate::convrs::wire::Answer;
use crate::convrs::{CallError, Observe};
use crate::queue::{MessageState, QueueGauges, TokenHeld};
use crate::tracking::events::EventStats;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn latency_histogram() -> Histogram {
    // 5 ms to about 20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Every API call of the worker's clients: latency by command, rejections by code, and when
/// the API was last reached or found unreachable.
#[derive(Debug)]
pub struct ApiStats {
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    rejections: Family<Labels, Counter>,
    unreached: Counter,
    last_reached_ms: AtomicI64,
    last_unreached_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    /// When these figures started (the worker started), for the early 2008 warning.
    started_ms: i64,
    warned_2008: std::sync::atomic::AtomicBool,
}

/// A 2008 (the token's rate limit) in a worker's first minute: its own pace keeps the limit,
/// so the likeliest cause is another process sending with the same token.
const EARLY_2008_MS: i64 = 60_000;

impl Default for ApiStats {
    fn default() -> Self {
        ApiStats {
            latency: Family::new_with_constructor(latency_histogram),
            rejections: Family::default(),
            unreached: Counter::default(),
            last_reached_ms: AtomicI64::new(0),
            last_unreached_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
            started_ms: now_ms(),
            warned_2008: Default::default(),
        }
    }
}

impl Observe for ApiStats {
    fn call(&self, cmd: &str, took: Duration, result: &Result<Answer, CallError>) {
        self.latency
            .get_or_create(&labels(&[("command", cmd)]))
            .observe(took.as_secs_f64());
        match result {
            Err(e @ (CallError::NotSent { .. } | CallError::MaybeSent { .. })) => {
                self.unreached.inc();
                self.last_unreached_ms.store(now_ms(), Ordering::SeqCst);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
            other => {
                if let Err(CallError::Api { code, .. }) = other
                    && matches!(code.code(), 2007 | 2008)
                {
                    self.early_2008(code.code());
                    let code = code.code().to_string();
                    self.rejections
                        .get_or_create(&labels(&[("code", &code)]))
                        .inc();
                }
                self.last_reached_ms.store(now_ms(), Ordering::SeqCst);
            }
        }
    }
}

impl ApiStats {
    /// Records that the API could not be reached (a probe that got no answer in time).
    pub fn mark_unreachable(&self, why: &str) {
        self.unreached.inc();
        self.last_unreached_ms
            .store(now_ms().max(1), Ordering::SeqCst);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
    }

    /// Warns, once, of a 2008 in the first minute: a sign that another process sends with the
    /// token (two databases, or a worker on another queue), so the token carries twice its rate.
    fn early_2008(&self, code: i64) {
        if code == 2008
            && now_ms() - self.started_ms < EARLY_2008_MS
            && !self.warned_2008.swap(true, Ordering::SeqCst)
        {
            tracing::warn!(
                "the API answered 2008 (rate limit of the token) in this worker's first minute: \
                 another process is probably sending with the same token (a run or worker on \
                 another database). Its limit is shared between them and sends will be refused: \
                 give each token to one database's workers only"
            );
        }
    }

    /// When the API was last heard from, reached or not (unix ms), if ever.
    pub fn last_heard(&self) -> Option<i64> {
        let heard = self
            .last_reached_ms
            .load(Ordering::SeqCst)
            .max(self.last_unreached_ms.load(Ordering::SeqCst));
        Some(heard).filter(|t| *t > 0)
    }

    /// When the API last answered (unix ms), if ever.
    pub fn last_reached(&self) -> Option<i64> {
        Some(self.last_reached_ms.load(Ordering::SeqCst)).filter(|t| *t > 0)
    }

    /// Whether the last call found the API unreachable, and why.
    pub fn unreachable(&self) -> Option<String> {
        let (reached, unreached) = (
            self.last_reached_ms.load(Ordering::SeqCst),
            self.last_unreached_ms.load(Ordering::SeqCst),
        );
        (unreached > reached).then(|| {
            self.last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default()
        })
    }
}

/// The text of one scrape.
pub fn render(
    api: &ApiStats,
    status: &WorkerStatus,
    queue: &QueueGauges,
    holders: &[TokenHeld],
    queue_age: Duration,
) -> String {
    let mut r = Registry::with_prefix("campaign");
    register_api(&mut r, api, status);
    register_queue(&mut r, queue, queue_age);
    register_tokens(&mut r, status, queue, holders);
    register_events(&mut r, &status.events);
    let mut text = String::new();
    // Writing to a String does not fail.
    let _ = encode(&mut text, &r);
    text
}

/// Requests and sends: what the API and the token gates counted.
fn register_api(r: &mut Registry, api: &ApiStats, status: &WorkerStatus) {
    r.register(
        "api_request_duration_seconds",
        "Convrs API request latency by command",
        api.latency.clone(),
    );
    r.register(
        "api_rate_limit_rejections",
        "Sends the API refused for a rate limit (2007 per number, 2008 per token)",
        api.rejections.clone(),
    );
    r.register(
        "api_unreachable",
        "API calls that did not reach the API or got no answer",
        api.unreached.clone(),
    );
    let sends = Family::<Labels, Counter>::default();
    let waits = Family::<Labels, Counter>::default();
    for (token, stats) in status.gate_stats() {
        for ((command, outcome), n) in stats.outcomes() {
            let channel = if command == "SendSMSMessage" {
                "sms"
            } else {
                "whatsapp"
            };
            sends
                .get_or_create(&labels(&[("channel", channel), ("outcome", outcome)]))
                .inc_by(n);
        }
        waits
            .get_or_create(&labels(&[("token", &token)]))
            .inc_by(stats.waits());
    }
    r.register("sends", "Send attempts by channel and outcome", sends);
    r.register(
        "rate_limit_waits",
        "Sends that waited for their token's rate limit",
        waits,
    );
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
fn register_queue(r: &mut Registry, queue: &QueueGauges, queue_age: Duration) {
    let messages = Family::<Labels, Gauge>::default();
    for (state, n) in &queue.by_state {
        gauge(&[("state", state)], *n, &messages);
    }
    r.register("messages", "Messages by state (queue depth)", messages);
    let acks = Family::<Labels, Gauge>::default();
    for (ack, n) in &queue.by_ack {
        gauge(&[("ack", &ack.to_string())], *n, &acks);
    }
    r.register("messages_by_ack", "Messages by their ack code now", acks);
    let uncertain = queue
        .by_state
        .iter()
        .find(|(s, _)| s == MessageState::Uncertain.as_str())
        .map_or(0, |(_, n)| *n);
    r.register(
        "uncertain_messages",
        "Messages whose send may or may not have happened",
        single(uncertain),
    );
    let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    age.set(queue_age.as_secs_f64());
    r.register(
        "queue_snapshot_age_seconds",
        "How old the queue figures of this scrape are (they are read at most every 10 s)",
        age,
    );
    r.register(
        "deferred_messages",
        "Queued messages due later (deferred)",
        single(queue.deferred),
    );
}

/// Events heard, by source and command, and the WebSocket's reconnects, by reason.
fn register_events(r: &mut Registry, events: &EventStats) {
    let heard = Family::<Labels, Counter>::default();
    for ((source, command), n) in events.events() {
        heard
            .get_or_create(&labels(&[("source", &source), ("command", &command)]))
            .inc_by(n);
    }
    r.register(
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
    r.register(
        "websocket_reconnects",
        "Reconnects of the event WebSocket, by reason (dropped, 1018, 1019)",
        reconnects,
    );
}

/// The tokens: stopped ones, who holds each, and what this worker sends on each.
fn register_tokens(
    r: &mut Registry,
    status: &WorkerStatus,
    queue: &QueueGauges,
    holders: &[TokenHeld],
) {
    let stopped = Family::<Labels, Gauge>::default();
    for token in &queue.stopped_tokens {
        gauge(&[("token", token)], 1, &stopped);
    }
    r.register("token_stopped", "Tokens the API stopped", stopped);
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
    r.register("token_lease", "Who holds each token's lease", held);
    let sending = Family::<Labels, Gauge>::default();
    for (token, state) in status.tokens() {
        let n = match state {
            TokenState::Held { campaigns } => campaigns.len() as i64,
            _ => 0,
        };
        gauge(&[("token", &token)], n, &sending);
    }
    r.register(
        "campaigns_sending",
        "Campaigns this worker sends now, by token",
        sending,
    );
}
