//! How workers on one database spread the tokens: each counts the live workers at its every
//! tick (`Store::worker_seen`) and holds at most its share, `ceil(tokens / workers)`. One that
//! holds more gives a token up (once its sendings have stopped and recorded what was in
//! flight); one that holds fewer takes a free one. A dead worker stops being counted after
//! three ticks (3 s), and its tokens are free once their leases expire (`worker --lease`, 10 s;
//! at once on the same host, where its process is seen gone).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::worker::tick;
use crate::clock::now_ms;
use crate::queue::Store;

#[derive(Debug)]
pub struct Spread {
    tokens: usize,
    share: AtomicUsize,
    held: AtomicUsize,
}

impl Spread {
    /// A worker given `tokens` tokens, alone until it counts others.
    pub fn new(tokens: usize) -> Self {
        Spread {
            tokens,
            share: AtomicUsize::new(tokens),
            held: AtomicUsize::new(0),
        }
    }

    /// `workers` are alive (this one included).
    pub fn workers(&self, workers: i64) {
        let workers = usize::try_from(workers).unwrap_or(1).max(1);
        self.share
            .store(self.tokens.div_ceil(workers), Ordering::SeqCst);
    }

    pub fn share(&self) -> usize {
        self.share.load(Ordering::SeqCst)
    }

    /// Whether this worker may take one more token; if so it counts as held (give it back
    /// with `dropped` if the take fails).
    pub fn may_take(&self) -> bool {
        let share = self.share();
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                (h < share).then_some(h + 1)
            })
            .is_ok()
    }

    /// Whether this worker holds more than its share; if so one token is counted as given up
    /// (its holder stops sending on it and releases it).
    pub fn should_leave(&self) -> bool {
        let share = self.share();
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                (h > share).then(|| h - 1)
            })
            .is_ok()
    }

    /// A token counted as held is not (its take failed, or it was lost).
    pub fn dropped(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| h.checked_sub(1));
    }
}

/// At every tick: says this worker is alive and counts the workers alive (seen within the last
/// three ticks), which sets its share of the tokens.
pub(super) async fn count_workers(
    store: Store,
    owner: String,
    spread: Arc<Spread>,
    every: Duration,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let now = now_ms();
        let since = now - 3 * every.as_millis() as i64;
        match store.worker_seen(&owner, now, since).await {
            Ok(workers) => spread.workers(workers),
            Err(e) => tracing::warn!(error = %e, "cannot count the workers; will try again"),
        }
        tick(every, &stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn three_tokens_over_workers_that_come_and_go() {
        let spread = Spread::new(3);
        assert!(spread.may_take() && spread.may_take() && spread.may_take());
        assert!(!spread.may_take(), "alone, it holds all three and no more");
        spread.workers(3);
        assert_eq!(spread.share(), 1);
        assert!(spread.should_leave() && spread.should_leave());
        assert!(!spread.should_leave(), "it keeps its one");
        spread.workers(2);
        assert_eq!(spread.share(), 2);
        assert!(spread.may_take());
        assert!(!spread.may_take());
        spread.dropped();
        assert!(spread.may_take(), "a lost token frees a place");
    }
}
