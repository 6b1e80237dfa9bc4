//! Attempts: the claim puts an attempt's id and start on its message, and the attempt's row is
//! written once, when it ends (migration 0025), on both engines.

use std::time::Duration;

use campaign::clock::ManualClock;

use super::*;

/// An attempt's row: message, start, end, outcome, detail.
type AttemptRow = (i64, i64, Option<i64>, Option<String>, Option<String>);

/// The same, its id first.
type IdAndRow = (i64, i64, i64, Option<i64>, Option<String>, Option<String>);

/// The row of attempt `id`, if written.
async fn attempt(store: &Store, db: &str, id: i64) -> Vec<AttemptRow> {
    let all: Vec<IdAndRow> = rows(
        store,
        db,
        "SELECT id, message_id, started_at, finished_at, outcome, detail FROM attempts ORDER BY id",
    )
    .await;
    all.into_iter()
        .filter(|r| r.0 == id)
        .map(|r| (r.1, r.2, r.3, r.4, r.5))
        .collect()
}

contract!(
    an_attempts_row_is_written_when_it_ends_with_the_start_its_claim_recorded,
    written_when_ended
);
async fn written_when_ended(scene: Scene) {
    const T0: i64 = 1_800_000_000_000;
    let clock = ManualClock::at(T0);
    let store = &scene.store.clone().with_clock(clock.clone());
    let id = queued(&scene, 3).await;
    let (_, claims) = claim_due(store, id).await;
    assert_eq!(claims.len(), 3);
    let mut ids: Vec<i64> = claims.iter().map(|c| c.attempt_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "an attempt id each: {claims:?}");
    assert!(claims.iter().all(|c| c.started_at == T0), "{claims:?}");
    assert_eq!(count(&scene, "SELECT COUNT(*) FROM attempts").await, 0);

    // The first is answered five seconds later.
    clock.advance(Duration::from_secs(5));
    assert!(store.finish(&claims[0], &sent("m0")).await.unwrap());
    let first = attempt(store, &scene.db, claims[0].attempt_id).await;
    let ended = Some(T0 + 5_000);
    assert_eq!(
        first,
        [(claims[0].message_id, T0, ended, Some("sent".into()), None)]
    );

    // The second hears an ack while still `sending` (the callback beat the answer); then the
    // sender dies, and a new one begins an hour later.
    clock.advance(Duration::from_secs(5));
    let heard = campaign::queue::HeardAck {
        message_id: claims[1].message_id,
        ack: campaign::convrs::Ack::Delivered,
        source: "callback",
        at_ms: T0 + 10_000,
        mid: None,
        attempt: Some(claims[1].attempt_id),
    };
    store.record_ack(&heard).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    // Both are found interrupted; the ack heard proves the second's send.
    let begun = store.begin_sending(id, "fp:attempts").await.unwrap();
    assert_eq!(begun, campaign::queue::Begun::Running { left_uncertain: 2 });
    let died = (
        Some(T0 + 3_610_000),
        Some("uncertain".to_string()),
        Some("interrupted while sending".to_string()),
    );
    for claim in &claims[1..] {
        assert_eq!(
            attempt(store, &scene.db, claim.attempt_id).await,
            [(claim.message_id, T0, died.0, died.1.clone(), died.2.clone())],
            "started when claimed, ended when found interrupted"
        );
    }
    let uncertain = store.uncertain(id).await.unwrap();
    assert_eq!(uncertain[0].started_at, Some(T0));
    assert_eq!(uncertain[0].ended_at, Some(T0 + 3_610_000));

    // The dead sender's answer for the third, heard after all, is kept on its attempt; the
    // message stays as the new holder left it.
    clock.advance(Duration::from_secs(1));
    assert!(!store.finish(&claims[2], &sent("late")).await.unwrap());
    assert_eq!(
        attempt(store, &scene.db, claims[2].attempt_id).await,
        [(
            claims[2].message_id,
            T0,
            Some(T0 + 3_611_000),
            Some("sent".into()),
            None
        )]
    );
    assert_eq!(store.counts(id).await.unwrap().uncertain, 1);
    assert_eq!(count(&scene, "SELECT COUNT(*) FROM attempts").await, 3);
}

contract!(attempt_ids_are_never_drawn_twice, ids_never_twice);
async fn ids_never_twice(scene: Scene) {
    let store = &scene.store;
    let first = queued(&scene, 5).await;
    let (_, a) = claim_due(store, first).await;
    let phones: Vec<String> = (10..14).map(uk_mobile).collect();
    let csv = recipients_csv(scene.dir.path(), "second.csv", &phones);
    let mut def = sms_def(csv);
    def.name = "second".into();
    let second = queue(store, &scene.sim, &def).await.campaign.unwrap();
    let (_, b) = claim_due(store, second).await;
    // Sent again: a retry is a new attempt.
    let retry = Outcome::Retry {
        at_ms: 0,
        reason: "2001 deferred".into(),
    };
    assert!(store.finish(&a[0], &retry).await.unwrap());
    let (_, again) = claim_due(store, first).await;
    assert_eq!(again.len(), 1);
    let mut ids: Vec<i64> = [a, b, again]
        .concat()
        .iter()
        .map(|c| c.attempt_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ten attempts, ten ids: {ids:?}");
}

contract!(a_claim_takes_only_its_own_campaigns_messages, only_its_own);
async fn only_its_own(scene: Scene) {
    let store = &scene.store;
    let first = queued(&scene, 1).await;
    let phones: Vec<String> = (20..22).map(uk_mobile).collect();
    let mut def = sms_def(recipients_csv(scene.dir.path(), "other.csv", &phones));
    def.name = "other".into();
    let other = queue(store, &scene.sim, &def).await.campaign.unwrap();
    // The first campaign's lease, given the other's messages: none is claimed.
    let lease = lease(store, first).await;
    let theirs = due_ids(store, other).await;
    assert!(store.claim(&lease, &theirs).await.unwrap().is_empty());
    assert_eq!(store.counts(other).await.unwrap().queued, 2);
}
