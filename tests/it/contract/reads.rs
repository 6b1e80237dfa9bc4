//! What the store reads back: acks, reports and gauges, unknown states and unreadable settings,
//! and a server it cannot reach.

use super::*;

contract!(acks_reports_and_gauges_read_the_same, acks_and_reports);
async fn acks_and_reports(scene: Scene) {
    use campaign::convrs::Ack;
    let store = &scene.store;
    let id = queued(&scene, 2).await;
    let (_lease, claims) = claim_due(store, id).await;
    for (i, claim) in claims.iter().enumerate() {
        store
            .finish(claim, &sent(&format!("mid-{i}")))
            .await
            .unwrap();
    }
    let heard = campaign::queue::HeardAck {
        message_id: claims[0].message_id,
        ack: Ack::Delivered,
        source: "callback",
        at_ms: campaign::dispatch::now_ms(),
        mid: Some("mid-0"),
        attempt: Some(claims[0].attempt_id),
    };
    store.record_ack(&heard).await.unwrap();
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.sent, counts.delivered), (1, 1));
    let funnel = store.funnel(id).await.unwrap();
    assert_eq!((funnel.sent, funnel.delivered), (2, 1));
    assert_eq!(
        store
            .delivery_times(id)
            .await
            .unwrap()
            .by_callback
            .unwrap()
            .messages,
        1
    );
    assert_eq!(store.recipients(id).await.unwrap().len(), 2);
    store.report_header(id).await.unwrap();
    store.reach_times(id).await.unwrap();
    store.failure_reasons(id).await.unwrap();
    store.queue_gauges(0).await.unwrap();
    assert_eq!(
        store
            .list_campaigns(campaign::dispatch::now_ms())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.due_polls(id, i64::MAX, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_unreachable_postgres_says_why_and_never_shows_its_password() {
    let err = Store::open("postgres://u:s3cret@127.0.0.1:1/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("postgres://…@127.0.0.1:1/x"), "{err}");
    assert!(
        err.contains("refused"),
        "the cause, not a pool timeout: {err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

contract!(
    an_unknown_state_read_back_is_an_error_never_another_state,
    unknown_state
);
async fn unknown_state(scene: Scene) {
    // It was counted as cancelled: a newer version's state would have shown as cancelled.
    // The schema refuses it now (migration 0014's CHECK)...
    let id = queued(&scene, 2).await;
    let refused = try_execute(
        &scene,
        "UPDATE messages SET state = 'archived' WHERE id = (SELECT MIN(id) FROM messages)",
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_lowercase().contains("check constraint"),
        "{refused}"
    );
    for refused in [
        "UPDATE campaigns SET state = 'archived'",
        "UPDATE campaigns SET control = 'halted'",
        "INSERT INTO batches (campaign_id, slot, state, fired_at) SELECT id, 1, 'late', 0 FROM campaigns",
    ] {
        let err = try_execute(&scene, refused).await.unwrap_err();
        assert!(
            err.to_lowercase().contains("check constraint"),
            "{refused}: {err}"
        );
    }
    // ...and one that reaches the store anyway (here through the kept counts, which have no
    // CHECK) is an error naming it.
    execute(
        &scene,
        "INSERT INTO message_counts (campaign_id, state, ack_key, n) SELECT id, 'archived', -100, 1 FROM campaigns",
    )
    .await;
    let err = scene.store.counts(id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unknown { value, .. } if value == "archived"),
        "{err}"
    );
    assert!(err.to_string().contains("message state"), "{err}");
    execute(
        &scene,
        "DELETE FROM message_counts WHERE state = 'archived'",
    )
    .await;
}

contract!(
    a_stored_setting_that_does_not_parse_is_an_error_never_no_setting,
    unreadable_settings
);
async fn unreadable_settings(scene: Scene) {
    // A timing that did not parse was read as "no window, no expiry, no cap" and the claim
    // went ahead; send options that did not parse as "none" (the sender's own).
    let id = queued(&scene, 2).await;
    execute(
        &scene,
        "UPDATE campaigns SET timing = '{\"send_window\": 7'",
    )
    .await;
    let lease = lease(&scene.store, id).await;
    let ids = due_ids(&scene.store, id).await;
    let err = scene.store.claim(&lease, &ids).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unreadable { what: "timing", .. }),
        "{err}"
    );
    assert_eq!(
        scene.store.counts(id).await.unwrap().queued,
        2,
        "nothing claimed"
    );
    execute(&scene, "UPDATE campaigns SET send_options = 'rate=3'").await;
    let err = scene.store.send_options(id).await.unwrap_err();
    assert!(err.to_string().contains("send options"), "{err}");
}
