//! Writes ended attempts in batches: whatever has piled up goes in one transaction, so the
//! cost of a commit (an fsync) is shared by many sends instead of paid by each.
//!
//! If the process dies before a batch is written, those messages are still `sending` in the
//! store, so the next run marks them `uncertain` and reconciles them: nothing is lost. If a
//! write fails (the database busy past its timeout, the disk full), `failed` is cancelled at
//! once, so the dispatcher stops claiming and sending: no send goes out that cannot be recorded.

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::queue::{Claim, Outcome, Store, StoreError};

const MOST_PER_COMMIT: usize = 1024;

enum Item {
    Ended(Claim, Outcome),
    Flush(oneshot::Sender<()>),
}

/// A cheap handle that send tasks use to hand in their outcome.
#[derive(Clone)]
pub struct Recorder(mpsc::Sender<Item>);

pub struct RecorderTask {
    handle: Recorder,
    task: tokio::task::JoinHandle<Result<(), StoreError>>,
}

impl RecorderTask {
    /// Starts the writer; `failed` is cancelled if a write fails.
    pub fn start(store: Store, failed: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(4 * MOST_PER_COMMIT);
        RecorderTask {
            handle: Recorder(tx),
            task: tokio::spawn(async move {
                let written = write(store, rx).await;
                if let Err(e) = &written {
                    tracing::error!(error = %e, "cannot record send outcomes: stopping all sends");
                    failed.cancel();
                }
                written
            }),
        }
    }

    pub fn recorder(&self) -> Recorder {
        self.handle.clone()
    }

    /// Writes what is pending and stops; returns the writer's error if it had one.
    pub async fn close(self) -> Result<(), StoreError> {
        drop(self.handle);
        self.task.await.expect("the recorder does not panic")
    }
}

impl Recorder {
    pub async fn record(&self, claim: Claim, outcome: Outcome) {
        // If the writer has failed, its error is returned by `close`; the message stays
        // `sending` and is reconciled by the next run.
        let _ = self.0.send(Item::Ended(claim, outcome)).await;
    }

    /// Waits until everything handed in so far is committed.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.0.send(Item::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write(store: Store, mut rx: mpsc::Receiver<Item>) -> Result<(), StoreError> {
    let mut batch = Vec::with_capacity(MOST_PER_COMMIT);
    let mut waiting = vec![];
    while let Some(item) = rx.recv().await {
        let mut next = Some(item);
        while let Some(item) = next.take() {
            match item {
                Item::Ended(claim, outcome) => batch.push((claim, outcome)),
                Item::Flush(done) => waiting.push(done),
            }
            if batch.len() < MOST_PER_COMMIT {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            store.finish_many(&batch).await?;
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    Ok(())
}
