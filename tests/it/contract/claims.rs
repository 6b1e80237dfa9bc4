//! Claims, outcomes, leases of campaigns and tokens, the operator's controls, and uncertain
//! messages, on both engines.

use super::*;

contract!(claims_record_before_send_and_finish_once, claim_and_finish);
async fn claim_and_finish(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    // `has_work` runs on both engines (PostgreSQL 15 refused its first form).
    assert!(
        store.has_work(id).await.unwrap(),
        "queued messages are work"
    );
    let (lease, claims) = claim_due(store, id).await;
    assert_eq!(claims.len(), 3);
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.sending, counts.queued), (3, 0));
    // Claimed again: nothing, the messages are no longer queued.
    let ids: Vec<i64> = claims.iter().map(|c| c.message_id).collect();
    assert!(store.claim(&lease, &ids).await.unwrap().is_empty());
    assert!(store.finish(&claims[0], &sent("m0")).await.unwrap());
    // A second outcome for the same attempt changes nothing.
    assert!(!store.finish(&claims[0], &sent("again")).await.unwrap());
    let retry = Outcome::Retry {
        at_ms: 0,
        reason: "2001 deferred".into(),
    };
    assert!(store.finish(&claims[1], &retry).await.unwrap());
    let failed = Outcome::Failed {
        code: Some(2006),
        reason: "not a number".into(),
        suppress: true,
    };
    assert!(store.finish(&claims[2], &failed).await.unwrap());
    let counts = store.counts(id).await.unwrap();
    let want = Counts {
        total: 3,
        queued: 1,
        sent: 1,
        failed: 1,
        ..Default::default()
    };
    assert_eq!(counts, want);
    let suppressed = store.suppressions().await.unwrap();
    assert_eq!(suppressed.len(), 1);
    store
        .finish(&claims_of_retry(store, &lease, id).await, &sent("m1"))
        .await
        .unwrap();
    assert!(
        !store.has_work(id).await.unwrap(),
        "nothing queued, sending or uncertain"
    );
}

/// The one message queued again by a retry, claimed.
async fn claims_of_retry(
    store: &Store,
    lease: &campaign::queue::Lease,
    id: CampaignId,
) -> campaign::queue::Claim {
    let mut claims = store.claim(lease, &due_ids(store, id).await).await.unwrap();
    assert_eq!(claims.len(), 1);
    claims.remove(0)
}

contract!(concurrent_claims_never_share_a_message, concurrent_claims);
async fn concurrent_claims(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 40).await;
    let lease = lease(store, id).await;
    let ids = due_ids(store, id).await;
    let (a, b, c) = tokio::join!(
        store.claim(&lease, &ids),
        store.claim(&lease, &ids),
        store.claim(&lease, &ids)
    );
    let mut all: Vec<i64> = [a.unwrap(), b.unwrap(), c.unwrap()]
        .concat()
        .iter()
        .map(|c| c.message_id)
        .collect();
    all.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(all, want, "every message claimed once, none twice");
}

contract!(
    a_lease_taken_over_fences_the_old_holders_claims,
    lease_fencing
);
async fn lease_fencing(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 2).await;
    let first = store
        .take_lease(id, "pid 1@elsewhere", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    // Taken for no time, it has run out: another owner takes it, and the first one's claim is refused.
    let second = store
        .take_lease(id, "pid 2@elsewhere", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let ids = due_ids(store, id).await;
    let err = store.claim(&first, &ids).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(c) if c == id), "{err}");
    assert!(first.is_lost());
    // While held, a third owner is refused.
    let held = store
        .take_lease(id, "pid 3@elsewhere", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(held.unwrap_err().owner, "pid 2@elsewhere");
    assert_eq!(store.claim(&second, &ids).await.unwrap().len(), 2);
}

contract!(token_leases_fence_each_new_holder, token_leases);
async fn token_leases(scene: Scene) {
    let store = &scene.store;
    let long = Duration::from_secs(60);
    let a = store
        .take_token_lease("fp:t", "pid 1@a", Role::Worker, None, long)
        .await
        .unwrap()
        .unwrap();
    let a = std::sync::Arc::new(a);
    // A campaign sent under the token: its claims go while the token is held.
    let id = queued(&scene, 2).await;
    let under_a = store
        .take_lease_under(id, "pid 1@a", long, Some(a.clone()))
        .await
        .unwrap()
        .unwrap();
    let ids = due_ids(store, id).await;
    assert_eq!(store.claim(&under_a, &ids[..1]).await.unwrap().len(), 1);
    let refused = store
        .take_token_lease("fp:t", "pid 2@b", Role::Worker, None, long)
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().owner, "pid 1@a");
    store.release_token_lease(&a).await.unwrap();
    let b = store
        .take_token_lease("fp:t", "pid 2@b", Role::Worker, None, long)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.fence(), a.fence() + 1);
    // The token is another's now: a claim under the old holder is refused, though the
    // campaign's own lease still runs.
    let err = store.claim(&under_a, &ids[1..]).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(c) if c == id), "{err}");
    assert_eq!(store.counts(id).await.unwrap().queued, 1);
    assert!(
        !store.renew_token_lease(&a).await.unwrap(),
        "the old holder's renewal fails"
    );
    assert!(store.renew_token_lease(&b).await.unwrap());
    let holder = store.token_holder("fp:t").await.unwrap().unwrap();
    assert_eq!(holder.owner, "pid 2@b");
}

contract!(pause_resume_and_cancel_act_on_claims, controls);
async fn controls(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    let lease = lease(store, id).await;
    let ids = due_ids(store, id).await;
    let first = store.claim(&lease, &ids[..1]).await.unwrap();
    store.pause(id).await.unwrap();
    let err = store.claim(&lease, &ids[1..]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Controlled {
                control: Control::Paused,
                ..
            }
        ),
        "{err}"
    );
    assert!(store.resume(id).await.unwrap());
    assert_eq!(store.claim(&lease, &ids[1..2]).await.unwrap().len(), 1);
    store.cancel(id).await.unwrap();
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.cancelled, counts.sending), (1, 2));
    // What was in flight when cancelled is still recorded.
    assert!(store.finish(&first[0], &sent("m1")).await.unwrap());
}

contract!(
    a_sending_begins_in_one_transaction_and_not_at_all_while_paused,
    begins
);
async fn begins(scene: Scene) {
    use campaign::queue::{Begun, CampaignState};
    const HOUR: i64 = 3_600_000;
    let store = &scene.store;
    let phones: Vec<String> = (0..3).map(uk_mobile).collect();
    let mut def = sms_def(recipients_csv(scene.dir.path(), "r.csv", &phones));
    def.timing.max_age_ms = Some(HOUR);
    def.timing.daily_limit = Some(7);
    let id = queue(store, &scene.sim, &def).await.campaign.unwrap();
    // A sender claimed two of the three and died.
    let lease = lease(store, id).await;
    let ids = due_ids(store, id).await;
    assert_eq!(store.claim(&lease, &ids[..2]).await.unwrap().len(), 2);
    // Paused meanwhile: beginning changes nothing.
    store.pause(id).await.unwrap();
    assert_eq!(
        store.begin_sending(id, "fp:begun").await.unwrap(),
        Begun::Controlled(Control::Paused)
    );
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.sending, counts.queued), (2, 1));
    assert_eq!(store.campaign_token(id).await.unwrap(), None);
    assert_eq!(
        store.daily_use("fp:begun", store.now_ms()).await.unwrap(),
        None
    );
    // Resumed two hours later: the two are uncertain, the third past its max_age.
    assert!(store.resume(id).await.unwrap());
    let later = store
        .clone()
        .with_clock(campaign::clock::ManualClock::at(store.now_ms() + 2 * HOUR));
    assert_eq!(
        later.begin_sending(id, "fp:begun").await.unwrap(),
        Begun::Running { left_uncertain: 2 }
    );
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.uncertain, counts.expired), (2, 1), "{counts:?}");
    let standing = store.standing(id).await.unwrap();
    assert_eq!(
        (standing.state, standing.reason),
        (CampaignState::Running, None)
    );
    assert_eq!(
        store.campaign_token(id).await.unwrap().as_deref(),
        Some("fp:begun")
    );
    let (cap, _) = store
        .daily_use("fp:begun", store.now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cap, 7, "the file's daily limit is its token's");
}

contract!(
    interrupted_sends_become_uncertain_and_are_settled,
    uncertain
);
async fn uncertain(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 2).await;
    let (_lease, claims) = claim_due(store, id).await;
    assert_eq!(
        store.begin_sending(id, "fp").await.unwrap(),
        campaign::queue::Begun::Running { left_uncertain: 2 }
    );
    // The dead sender's outcome, arriving late, changes nothing.
    assert!(!store.finish(&claims[0], &sent("late")).await.unwrap());
    let left = store.uncertain(id).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        store
            .leave_uncertain(&left[1], "cannot tell yet")
            .await
            .unwrap()
    );
    assert!(
        store
            .settle_uncertain(&left[0], Some(("mid-0", i64::MAX)), "found")
            .await
            .unwrap()
    );
    assert!(
        store
            .settle_uncertain(&left[1], None, "never sent")
            .await
            .unwrap()
    );
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.sent, counts.uncertain), (1, 0));
}

contract!(
    attempts_and_events_are_written_only_for_messages_that_are_there,
    only_messages_that_are_there
);
/// On PostgreSQL no foreign key checks an attempt's or an event's message any longer (a row
/// trigger each; migration 0022): a claim of ids that are not there starts no attempt, and an
/// ack for one is `Unknown` and keeps no event.
async fn only_messages_that_are_there(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 1).await;
    let (lease, claims) = claim_due(store, id).await;
    let nowhere = claims[0].message_id + 1000;
    assert!(store.claim(&lease, &[nowhere]).await.unwrap().is_empty());
    let heard = campaign::queue::HeardAck {
        message_id: nowhere,
        ack: campaign::convrs::Ack::Delivered,
        source: "poll",
        at_ms: store.now_ms(),
        mid: Some("m-nowhere"),
        attempt: None,
    };
    assert_eq!(
        store.record_ack(&heard).await.unwrap(),
        campaign::queue::AckApplied::Unknown
    );
    let orphans: Vec<(i64,)> = rows(
        store,
        &scene.db,
        "SELECT COUNT(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.message_id)
         UNION ALL SELECT COUNT(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)",
    )
    .await;
    assert_eq!(
        orphans,
        [(0,), (0,)],
        "attempts, events without their message"
    );
}
