//! Sending the confirmation texts of opt-outs: by the worker holding the token of the campaign
//! the opt-out answers, through the token's gate (a confirmation is a send, within the token's
//! limit like any), as a WhatsApp text (SendTextMessage) inside the 24-hour window the opt-out
//! opened. Each at most once: an answer that leaves it unknown whether it went is not retried.

use std::sync::Arc;

use crate::convrs::wire::SendTextMessage;
use crate::convrs::{CallError, Client};
use crate::dispatch::Gate;
use crate::queue::{CampaignId, Confirmed, Store, StoreError};

/// The gate's lane for confirmations (no campaign has id 0).
const CONFIRMATIONS: CampaignId = CampaignId(0);

/// Sends the token's confirmations due; returns how many were sent.
pub async fn send_confirmations(
    store: &Store,
    client: &Client,
    gate: &Arc<Gate>,
) -> Result<usize, StoreError> {
    let mut sent = 0;
    for due in store
        .due_confirmations(&client.token_fingerprint(), 10)
        .await?
    {
        if store.now_ms() > due.until_ms {
            let why = "the 24-hour window the opt-out opened closed before it could be sent";
            store
                .confirmation_done(&due.mid, Confirmed::Expired, Some(why))
                .await?;
            continue;
        }
        gate.admit(CONFIRMATIONS, 1).await;
        let text = SendTextMessage {
            uid: due.uid.clone(),
            message: due.text.clone(),
        };
        let (end, detail) = match client.call(&text).await {
            Ok(_) => (Confirmed::Sent, None),
            Err(e @ CallError::NotSent { .. }) => (Confirmed::Again, Some(e.to_string())),
            Err(e @ CallError::MaybeSent { .. }) => (
                Confirmed::Failed,
                Some(format!("unknown whether it went ({e}): not sent again")),
            ),
            Err(e) => (Confirmed::Failed, Some(e.to_string())),
        };
        if end == Confirmed::Sent {
            sent += 1;
        } else {
            tracing::warn!(
                detail = detail.as_deref().unwrap_or_default(),
                "an opt-out's confirmation was not sent"
            );
        }
        store
            .confirmation_done(&due.mid, end, detail.as_deref())
            .await?;
    }
    Ok(sent)
}
