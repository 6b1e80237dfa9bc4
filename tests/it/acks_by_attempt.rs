//! Acks belong to the attempt that earned them: an ack heard while sending proves the send, a
//! retried message starts clean, acks of an earlier attempt are events only, delivered never
//! becomes failed, and a timestamp from the future is taken as now.

use campaign::convrs::Ack;
use campaign::queue::{AckApplied, Claim, HeardAck, Outcome, Store};

use crate::helpers::{lease, queue, recipients_csv, spawn_sim, store_in, uk_mobile, whatsapp_def};

/// One queued WhatsApp message, claimed once.
async fn claimed(dir: &std::path::Path) -> (Store, Claim) {
    let sim = spawn_sim(|_| {}).await;
    let store = store_in(dir).await;
    let def = whatsapp_def(
        recipients_csv(dir, "c.csv", &[uk_mobile(1)]),
        "order_confirmation",
    );
    let id = queue(&store, &sim, &def).await.campaign.unwrap();
    (store.clone(), claim(&store, id).await)
}

async fn claim(store: &Store, id: campaign::queue::CampaignId) -> Claim {
    let due = store.due(id, i64::MAX, 1).await.unwrap();
    let ids: Vec<i64> = due.iter().map(|d| d.0).collect();
    store
        .claim(&*lease(store, id).await, &ids)
        .await
        .unwrap()
        .remove(0)
}

fn heard<'a>(claim: &Claim, ack: Ack, mid: &'a str, attempt: i64) -> HeardAck<'a> {
    HeardAck {
        message_id: claim.message_id,
        ack,
        source: "callback",
        at_ms: campaign::dispatch::now_ms(),
        mid: Some(mid),
        attempt: Some(attempt),
    }
}

async fn state(store: &Store, claim: &Claim) -> (String, Option<String>, Option<i64>) {
    sqlx::query_as("SELECT state, mid, ack FROM messages WHERE id = ?")
        .bind(claim.message_id)
        .fetch_one(&crate::helpers::raw(store).await)
        .await
        .unwrap()
}

fn sent(mid: &str) -> Outcome {
    Outcome::Sent {
        mid: mid.into(),
        uid: None,
        poll_at: 0,
    }
}

#[tokio::test]
async fn an_ack_heard_while_sending_proves_the_send_whatever_the_answer_said() {
    let dir = tempfile::tempdir().unwrap();
    let (store, c) = claimed(dir.path()).await;
    let ack = heard(&c, Ack::Delivered, "m-1", c.attempt_id);
    assert!(matches!(
        store.record_ack(&ack).await.unwrap(),
        AckApplied::Moved { .. }
    ));
    let ambiguous = Outcome::Uncertain {
        reason: "HTTP 502 without JSON".into(),
    };
    assert!(store.finish(&c, &ambiguous).await.unwrap());
    let (state, mid, _) = state(&store, &c).await;
    assert_eq!((state.as_str(), mid.as_deref()), ("delivered", Some("m-1")));
}

#[tokio::test]
async fn a_retried_message_starts_clean_and_late_acks_of_the_old_attempt_are_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, first) = claimed(dir.path()).await;
    store.finish(&first, &sent("m-old")).await.unwrap();
    let failed = heard(&first, Ack::Error, "m-old", first.attempt_id);
    store.record_ack(&failed).await.unwrap();
    let id = campaign::queue::CampaignId(first.campaign_id);
    assert_eq!(store.retry_failed(id).await.unwrap(), 1);
    assert_eq!(state(&store, &first).await, ("queued".into(), None, None));
    let second = claim(&store, id).await;
    // A late "read" of the first send, while the second is in flight and after it is answered.
    let late = heard(&first, Ack::Read, "m-old", first.attempt_id);
    assert_eq!(
        store.record_ack(&late).await.unwrap(),
        AckApplied::Superseded
    );
    store.finish(&second, &sent("m-new")).await.unwrap();
    let by_mid_only = HeardAck {
        attempt: None,
        ..heard(&first, Ack::Replied, "m-old", first.attempt_id)
    };
    assert_eq!(
        store.record_ack(&by_mid_only).await.unwrap(),
        AckApplied::Superseded
    );
    assert_eq!(
        state(&store, &second).await,
        ("sent".into(), Some("m-new".into()), None)
    );
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'ack-superseded'")
            .fetch_one(&crate::helpers::raw(&store).await)
            .await
            .unwrap();
    assert_eq!(events, 2, "kept as events");
}

#[tokio::test]
async fn a_delivered_message_never_goes_back_to_failed_and_future_times_are_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, c) = claimed(dir.path()).await;
    store.finish(&c, &sent("m-1")).await.unwrap();
    let tomorrow = campaign::dispatch::now_ms() + 24 * 3600 * 1000;
    let read = HeardAck {
        at_ms: tomorrow,
        ..heard(&c, Ack::Read, "m-1", c.attempt_id)
    };
    store.record_ack(&read).await.unwrap();
    let error = heard(&c, Ack::Error, "m-1", c.attempt_id);
    assert_eq!(store.record_ack(&error).await.unwrap(), AckApplied::Stale);
    assert_eq!(state(&store, &c).await.0, "read");
    let delivered_at: i64 = sqlx::query_scalar("SELECT delivered_at FROM messages WHERE id = ?")
        .bind(c.message_id)
        .fetch_one(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    assert!(
        delivered_at <= campaign::dispatch::now_ms(),
        "clamped to now"
    );
}
