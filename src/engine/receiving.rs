//! The callback receiver a run starts for itself (`run --listen`, or a rehearsal's own on
//! loopback), and the target its sends name in their requests.

use std::net::SocketAddr;

use crate::queue::{Store, StoreError};
use crate::tracking::{CallbackTarget, webhook, webhook_secret};

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "cannot listen for callbacks on {addr}: {error} (another process may listen there: choose another --listen address)"
    )]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A receiver running for one run.
pub struct Receiving {
    running: webhook::RunningReceiver,
    /// Where the sends ask callbacks to go, with the secret they carry.
    pub target: CallbackTarget,
}

impl Receiving {
    /// Listens on `addr`; callbacks are asked to go to `callback_url` (a public address in
    /// front of it), or to the address it listens on.
    pub async fn start(
        store: &Store,
        addr: SocketAddr,
        callback_url: Option<String>,
    ) -> Result<Self, ReceiveError> {
        let secret = webhook_secret(store).await?;
        let running = webhook::start(addr, store.clone(), secret.clone())
            .await
            .map_err(|error| ReceiveError::Listen { addr, error })?;
        let url = callback_url.unwrap_or_else(|| format!("http://{}/callback", running.addr));
        Ok(Receiving {
            running,
            target: CallbackTarget { url, secret },
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Stops listening, once the callbacks in progress are recorded.
    pub async fn stop(self) -> std::io::Result<()> {
        self.running.stop().await
    }
}
