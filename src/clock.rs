//! The one wall clock every room reads: unix milliseconds, as stored.

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
