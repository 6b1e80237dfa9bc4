//! How long messages took from acceptance to delivered and to read, as their acks are heard
//! (by callback or poll) in this process: the worker's `campaign_ack_delay_seconds`.

use std::sync::LazyLock;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::convrs::Ack;

type Labels = Vec<(String, String)>;

/// 1 s to about 36 hours (read receipts come hours later).
fn delay_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 18))
}

/// Histograms by label set, each made by `delay_histogram`.
pub type Delays = Family<Labels, Histogram, fn() -> Histogram>;

/// Delays by ack (`delivered`, `read`), shared by every receiver and poller of the process.
pub static ACK_DELAY: LazyLock<Delays> =
    LazyLock::new(|| Family::new_with_constructor(delay_histogram));

/// Records that a message accepted at `sent_at` (unix ms) moved to `ack` at `at_ms`: only
/// delivered and read are delays worth watching.
pub fn observe(ack: Ack, sent_at: Option<i64>, at_ms: i64) {
    let label = match ack {
        Ack::Delivered => "delivered",
        Ack::Read => "read",
        _ => return,
    };
    if let Some(sent_at) = sent_at {
        let delay = (at_ms - sent_at).max(0) as f64 / 1000.0;
        ACK_DELAY
            .get_or_create(&vec![("ack".to_string(), label.to_string())])
            .observe(delay);
    }
}
