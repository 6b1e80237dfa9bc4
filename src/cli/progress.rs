//! Progress while a campaign runs: a bar on a terminal, a plain line every few seconds
//! otherwise (logs, cron).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::queue::{CampaignId, Counts, Store};

pub struct Shown {
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Shown {
    pub async fn finish(self) {
        self.done.cancel();
        let _ = self.task.await;
    }
}

pub fn show(store: Store, campaign: CampaignId) -> Shown {
    let done = CancellationToken::new();
    let stop = done.clone();
    let task = tokio::spawn(async move {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {per_sec} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let every = if terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        loop {
            let finished = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = stop.cancelled() => true,
            };
            if let Ok(c) = store.counts(campaign).await {
                match &bar {
                    Some(bar) => {
                        bar.set_length(c.total as u64);
                        bar.set_position(done_count(&c) as u64);
                        bar.set_message(line(&c));
                    }
                    None => crate::tell!("progress: {}/{} {}", done_count(&c), c.total, line(&c)),
                }
            }
            if finished {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                return;
            }
        }
    });
    Shown { done, task }
}

fn done_count(c: &Counts) -> i64 {
    c.total - c.queued - c.sending
}

fn line(c: &Counts) -> String {
    format!(
        "sent {} delivered {} failed {} uncertain {}",
        c.sent + c.delivered + c.read + c.replied,
        c.delivered + c.read + c.replied,
        c.failed,
        c.uncertain
    )
}
