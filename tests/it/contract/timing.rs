//! Scheduled runs, daily caps and ack polls, on both engines.

use super::*;

contract!(a_scheduled_run_fires_once_whoever_asks, schedule_runs);
async fn schedule_runs(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 1).await;
    let spec = ScheduleSpec {
        cron: "0 9 * * *".into(),
        timezone: "Europe/London".into(),
        grace_ms: 3_600_000,
    };
    let at = 1_800_000_000_000;
    let next = store
        .register_schedule(id, "c.toml", &spec, "fp:t", at)
        .await
        .unwrap();
    assert_eq!(next, at);
    let (a, b) = tokio::join!(
        store.claim_run(id, at, Some(at), None, at + 86_400_000),
        store.claim_run(id, at, Some(at), None, at + 86_400_000)
    );
    let mut fired = [a.unwrap(), b.unwrap()];
    fired.sort_by_key(|c| matches!(c, Claimed::Batch(_)));
    assert!(
        matches!(
            fired,
            [Claimed::AlreadyFired(_) | Claimed::Raced, Claimed::Batch(_)]
        ),
        "{fired:?}"
    );
    assert_eq!(store.next_run(id).await.unwrap(), Some(at + 86_400_000));
    assert_eq!(store.batches(id).await.unwrap().len(), 1);
}

contract!(a_daily_cap_holds_the_recipients_over_it, daily_cap);
async fn daily_cap(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    let token = "fp:capped";
    store.begin_sending(id, token).await.unwrap();
    store.set_daily_limit(token, 2).await.unwrap();
    let (_lease, claims) = claim_due(store, id).await;
    assert_eq!(claims.len(), 2);
    assert_eq!(
        store
            .daily_use(token, campaign::dispatch::now_ms())
            .await
            .unwrap(),
        Some((2, 2))
    );
    assert_eq!(store.counts(id).await.unwrap().queued, 1);
}

contract!(
    concurrent_capped_claims_never_start_more_recipients_than_the_cap,
    concurrent_capped_claims
);
/// Four campaigns on one capped token claim at once: together they start exactly the cap's
/// recipients (PostgreSQL runs the claims side by side; the cap row serialises them).
async fn concurrent_capped_claims(scene: Scene) {
    const CAP: u32 = 50;
    let store = &scene.store;
    let token = "fp:shared";
    store.set_daily_limit(token, CAP).await.unwrap();
    let mut leased = vec![];
    for k in 0..4 {
        let phones: Vec<String> = (0..40).map(|i| uk_mobile(k * 1000 + i)).collect();
        let csv = recipients_csv(scene.dir.path(), &format!("c{k}.csv"), &phones);
        let id = queue(store, &scene.sim, &sms_def(csv))
            .await
            .campaign
            .unwrap();
        store.begin_sending(id, token).await.unwrap();
        leased.push((lease(store, id).await, due_ids(store, id).await));
    }
    let claim = |k: usize| store.claim(&leased[k].0, &leased[k].1);
    let claims = tokio::join!(claim(0), claim(1), claim(2), claim(3));
    let claims = [claims.0, claims.1, claims.2, claims.3];
    let started: usize = claims.into_iter().map(|c| c.unwrap().len()).sum();
    assert_eq!(started, CAP as usize, "the cap's recipients, no more");
    let now = campaign::dispatch::now_ms();
    assert_eq!(
        store.daily_use(token, now).await.unwrap(),
        Some((i64::from(CAP), i64::from(CAP)))
    );
}

contract!(a_due_poll_goes_to_one_poller_per_interval, poll_claims);
/// Two pollers asking at once get different messages; nobody gets them again until the hold
/// ends (the poller that took them died without asking).
async fn poll_claims(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 4).await;
    let (_lease, claims) = claim_due(store, id).await;
    for claim in &claims {
        let outcome = Outcome::Sent {
            mid: format!("m{}", claim.message_id),
            uid: None,
            poll_at: 0,
        };
        store.finish(claim, &outcome).await.unwrap();
    }
    let now = campaign::dispatch::now_ms();
    let (a, b) = tokio::join!(store.due_polls(id, now, 3), store.due_polls(id, now, 3));
    let mut polled: Vec<i64> = [a.unwrap(), b.unwrap()]
        .concat()
        .iter()
        .map(|d| d.message_id)
        .collect();
    polled.sort();
    let mut sent: Vec<i64> = claims.iter().map(|c| c.message_id).collect();
    sent.sort();
    assert_eq!(polled, sent, "each due message to one poller, once");
    assert!(
        store
            .due_polls(id, now + 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after_hold = now + campaign::queue::POLL_HOLD_MS + 1;
    assert_eq!(store.due_polls(id, after_hold, 10).await.unwrap().len(), 4);
}

contract!(
    a_claim_cancels_a_number_suppressed_since_queued_and_expires_what_is_too_old,
    held_back_at_claim
);
/// PostgreSQL's claim reads whether any message it locked is suppressed or past its expiry,
/// and runs the updates that hold them back only then: both must still happen.
async fn held_back_at_claim(scene: Scene) {
    const HOUR: i64 = 3_600_000;
    let store = &scene.store;
    let phones: Vec<String> = (0..3).map(uk_mobile).collect();
    let mut def = sms_def(recipients_csv(scene.dir.path(), "r.csv", &phones));
    def.timing.max_age_ms = Some(HOUR);
    let fresh = queue(store, &scene.sim, &def).await.campaign.unwrap();
    // An opt-out heard after the load: its message is cancelled, the other two go.
    store.suppress(&phones[1], "STOP", "keyword").await.unwrap();
    let (_lease, claims) = claim_due(store, fresh).await;
    let claimed: Vec<&str> = claims.iter().map(|c| c.phone.as_str()).collect();
    assert_eq!(claimed, [phones[0].as_str(), phones[2].as_str()]);
    let rows = store.recipients(fresh).await.unwrap();
    let error = rows
        .iter()
        .find(|r| r.phone == phones[1])
        .unwrap()
        .error
        .clone();
    assert_eq!(error.as_deref(), Some("suppressed: STOP"));
    assert_eq!(store.counts(fresh).await.unwrap().cancelled, 1);
    // Claimed two hours after its load, past its max_age: all of it expires, none is sent
    // (the suppressed number was not queued).
    def.name = "stale".into();
    let stale = queue(store, &scene.sim, &def).await.campaign.unwrap();
    let later = store
        .clone()
        .with_clock(campaign::clock::ManualClock::at(store.now_ms() + 2 * HOUR));
    let lease = lease(&later, stale).await;
    let due = due_ids(store, stale).await;
    assert!(later.claim(&lease, &due).await.unwrap().is_empty());
    let counts = store.counts(stale).await.unwrap();
    assert_eq!((counts.total, counts.expired), (2, 2), "{counts:?}");
}
