//! Where each token stands in a worker, shared with its `/healthz` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::dispatch::GateStats;
use crate::queue::{CampaignId, TokenHeld};
use crate::tracking::events::EventStats;

/// Where each token stands in this worker: what `/healthz` and `/metrics` show.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TokenState {
    /// Not yet tried.
    Starting,
    /// This worker sends on it.
    Held { campaigns: Vec<CampaignId> },
    /// Another process holds it; campaigns on it wait.
    Waiting { holder: TokenHeld },
    /// Left to the other workers: this one holds its share of the tokens.
    LeftToOthers { share: usize },
    /// The API stopped the token (`campaign clear-token-stop` lifts it).
    Stopped { reason: String },
}

/// What the worker holds, shared with its health and metrics endpoints.
#[derive(Debug, Default)]
pub struct WorkerStatus {
    tokens: std::sync::Mutex<BTreeMap<String, TokenState>>,
    stats: std::sync::Mutex<BTreeMap<String, Arc<GateStats>>>,
    /// Events heard (webhook and WebSocket) and where each token's socket stands.
    pub events: Arc<EventStats>,
}

impl WorkerStatus {
    pub fn tokens(&self) -> BTreeMap<String, TokenState> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What went through each token's gate.
    pub fn gate_stats(&self) -> BTreeMap<String, Arc<GateStats>> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set(&self, token: &str, state: TokenState) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(token.to_string(), state);
    }

    pub(super) fn stats_for(&self, token: &str) -> Arc<GateStats> {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.entry(token.to_string()).or_default().clone()
    }
}
