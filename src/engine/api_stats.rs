//! What the worker's clients saw of the API (`ApiStats`): latency by command, rejections by
//! code, when the API was last reached or found unreachable, and the early 2008 warning.
//! `metrics` renders them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::clock::now_ms;
use crate::convrs::wire::Answer;
use crate::convrs::{CallError, Observe};

pub(super) type Labels = Vec<(String, String)>;

pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
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
    pub(super) latency: Family<Labels, Histogram, fn() -> Histogram>,
    pub(super) rejections: Family<Labels, Counter>,
    pub(super) unreached: Counter,
    pub(super) last_reached_ms: AtomicI64,
    pub(super) last_unreached_ms: AtomicI64,
    pub(super) last_error: Mutex<Option<String>>,
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
