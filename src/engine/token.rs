//! Holding an API token for sending: its lease, renewed in the background, and its gate (the
//! token's limits, shared by every campaign this process sends on it).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::dispatch::{Gate, GateStats};
use crate::queue::{CampaignId, Role, Store, StoreError, TokenHeld, TokenLease, this_process};

/// A token this process sends on.
pub struct HeldToken {
    pub lease: Arc<TokenLease>,
    pub gate: Arc<Gate>,
    /// Cancelled once the lease is found taken over: nothing more may be sent on the token.
    pub lost: CancellationToken,
    renewing: Renewing,
}

/// How the token is to be sent on.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimits {
    /// Sends per second.
    pub rate: u32,
    /// Sends per second per phone number.
    pub number_rate: u32,
    /// How long the token lease lasts without renewal; it is renewed every third of that.
    pub lease: Duration,
}

impl HeldToken {
    /// Takes the token's lease as `role`, unless another live process holds it.
    pub async fn take(
        store: &Store,
        fingerprint: &str,
        role: Role,
        campaign: Option<CampaignId>,
        limits: TokenLimits,
        stats: Arc<GateStats>,
    ) -> Result<Result<HeldToken, TokenHeld>, StoreError> {
        let owner = this_process();
        let lease = match store
            .take_token_lease(fingerprint, &owner, role, campaign, limits.lease)
            .await?
        {
            Ok(lease) => Arc::new(lease),
            Err(held) => return Ok(Err(held)),
        };
        let wait_ms = (lease.quiet_until_ms - store.now_ms()).clamp(0, 5_000);
        let not_before = tokio::time::Instant::now() + Duration::from_millis(wait_ms as u64);
        let lost = CancellationToken::new();
        let renewing = {
            let (store, lease, lost) = (store.clone(), lease.clone(), lost.clone());
            Renewing::start(lease.length() / 3, move || {
                let (store, lease, lost) = (store.clone(), lease.clone(), lost.clone());
                async move {
                    match store.renew_token_lease(&lease).await {
                        Ok(true) => true,
                        Ok(false) => {
                            tracing::error!(token = %lease.fingerprint, "lost the token lease: stopping sends on it");
                            lost.cancel();
                            false
                        }
                        Err(e) => {
                            tracing::warn!(token = %lease.fingerprint, error = %e, "cannot renew the token lease; will try again");
                            true
                        }
                    }
                }
            })
        };
        Ok(Ok(HeldToken {
            lease,
            gate: Gate::with_stats(limits.rate, limits.number_rate, stats, not_before),
            lost,
            renewing,
        }))
    }

    /// Stops renewing and gives the token up, so another process may send on it at once.
    pub async fn release(mut self, store: &Store) -> Result<(), StoreError> {
        self.renewing.stop().await;
        store.release_token_lease(&self.lease).await
    }
}

/// A task calling `renew` every `every` until stopped or `renew` says the lease is gone.
pub struct Renewing {
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Renewing {
    pub fn start<F, Fut>(every: Duration, mut renew: F) -> Renewing
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let done = CancellationToken::new();
        let stop = done.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.cancelled() => return,
                }
                if !renew().await {
                    return;
                }
            }
        });
        Renewing { done, task }
    }

    /// Stops renewing after the renewal under way, without waiting for it (a drop).
    pub fn cancel(&self) {
        self.done.cancel();
    }

    /// Stops renewing, once a renewal under way (if any) is done. Call it once.
    pub async fn stop(&mut self) {
        self.done.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for HeldToken {
    fn drop(&mut self) {
        // Dropped without `release` (an error path): stop renewing; the lease then expires.
        self.renewing.done.cancel();
    }
}
