//! `GET /` on the worker's admin listener: the live page (`report::live`), from the store, what
//! this worker holds, and the paces it keeps between requests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::health::Health;
use super::status::TokenState;
use crate::queue::{CampaignState, StoreError};
use crate::report::Pace;
use crate::report::live::{Live, TokenLine};

/// Each token's and campaign's sends as counted at earlier requests, for their rates.
#[derive(Debug, Default)]
pub struct Paces {
    tokens: BTreeMap<String, Pace>,
    campaigns: BTreeMap<i64, Pace>,
}

/// Failure reasons shown per campaign still going.
const FAILURES_EACH: usize = 3;

pub async fn page(State(h): State<Health>) -> Response {
    match live(&h).await {
        Ok(live) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::report::live::render(&live),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the database: {e}\n"),
        )
            .into_response(),
    }
}

async fn live(h: &Health) -> Result<Live, StoreError> {
    let store = &h.store;
    let now = store.now_ms();
    let campaigns = store.list_campaigns(now).await?;
    let mut failures = vec![];
    for c in campaigns.iter().filter(|c| going(c.state)) {
        for (reason, n) in store
            .failure_reasons(c.id)
            .await?
            .into_iter()
            .take(FAILURES_EACH)
        {
            failures.push((c.clone(), reason, n));
        }
    }
    let schedules = store.schedules(None).await?;
    let stats = h.status.gate_stats();
    let mut paces = h.paces.lock().unwrap_or_else(|p| p.into_inner());
    let tokens = h
        .status
        .tokens()
        .into_iter()
        .map(|(token, state)| {
            let sent: u64 = stats.get(&token).map_or(0, |s| {
                s.outcomes()
                    .iter()
                    .filter(|((_, kind), _)| *kind == "sent")
                    .map(|(_, n)| n)
                    .sum()
            });
            let pace = paces.tokens.entry(token.clone()).or_default();
            pace.add(now, sent as i64);
            let (state, sending) = describe(&state);
            TokenLine {
                token,
                state,
                campaigns: sending,
                rate: pace.rate().unwrap_or(0.0),
                limit: crate::campaign::estimate::TOKEN_RATE,
            }
        })
        .collect();
    let campaigns = campaigns
        .into_iter()
        .map(|c| {
            let pace = paces.campaigns.entry(c.id.0).or_default();
            pace.add(now, c.sent);
            let rate = pace.rate().unwrap_or(0.0);
            (c, rate)
        })
        .collect();
    drop(paces);
    Ok(Live {
        now_ms: now,
        worker: format!("worker {}", crate::queue::this_process()),
        api_problem: h.api.unreachable(),
        tokens,
        campaigns,
        failures,
        schedules,
    })
}

/// Still to send, or sent and awaiting its acks.
fn going(state: CampaignState) -> bool {
    CampaignState::TO_SEND.contains(&state) || state == CampaignState::Sent
}

/// A token's state said, and how many campaigns this worker sends on it.
fn describe(state: &TokenState) -> (String, usize) {
    match state {
        TokenState::Starting => ("starting".into(), 0),
        TokenState::Held { campaigns } => ("held by this worker".into(), campaigns.len()),
        TokenState::Waiting { holder } => (format!("waiting: {holder}"), 0),
        TokenState::LeftToOthers { share } => (
            format!("left to the other workers (this one holds its share, {share})"),
            0,
        ),
        TokenState::Stopped { reason } => (format!("stopped by the API: {reason}"), 0),
    }
}

/// The paces a worker keeps for its page.
pub type SharedPaces = std::sync::Arc<Mutex<Paces>>;
