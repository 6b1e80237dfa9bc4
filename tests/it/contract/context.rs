//! Context after the send on both engines: jobs stored with the outcome or the ack that
//! triggers them, claimed by one process at a time, ended, counted, and stopped.

use campaign::campaign::after_send::{AfterSend, When};
use campaign::clock::ManualClock;
use campaign::convrs::Ack;
use campaign::queue::{ContextEnd, HeardAck};

use super::*;

/// `n` recipients queued in a campaign named `name` that tags them on `when`.
async fn with_context(scene: &Scene, name: &str, when: When, n: u32) -> CampaignId {
    let phones: Vec<String> = (0..n).map(|i| uk_mobile(i + n * 10)).collect();
    let csv = recipients_csv(scene.dir.path(), &format!("{name}.csv"), &phones);
    let mut def = sms_def(csv);
    def.name = name.into();
    def.after_send = Some(AfterSend {
        when,
        tag: Some("spring".into()),
        create_tag: true,
        data: vec![("order".into(), "{order}".into())],
    });
    queue(&scene.store, &scene.sim, &def)
        .await
        .campaign
        .unwrap()
}

contract!(
    context_jobs_come_with_their_trigger_and_are_claimed_once,
    context_jobs
);
async fn context_jobs(scene: Scene) {
    let store = &scene.store;
    let id = with_context(&scene, "accepted", When::Accepted, 2).await;
    let (_lease, claims) = claim_due(store, id).await;
    store.finish(&claims[0], &sent("m-0")).await.unwrap();
    let failed = Outcome::Failed {
        code: Some(1006),
        reason: "invalid number".into(),
        suppress: false,
    };
    store.finish(&claims[1], &failed).await.unwrap();
    let jobs = store.due_context("fp:none", Some(id), 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "only the accepted message's: {jobs:?}");
    assert_eq!(jobs[0].data, r#"{"order":"O-0"}"#);
    assert!(jobs[0].after_send.contains("spring"));
    assert!(
        store
            .due_context("fp:none", Some(id), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed by the first caller"
    );
    store
        .context_done(jobs[0].message_id, &ContextEnd::Done)
        .await
        .unwrap();

    // A campaign that waits for delivery: the outcome stores nothing, the delivered ack does.
    let later = with_context(&scene, "delivered", When::Delivered, 2).await;
    let (_lease, claims) = claim_due(store, later).await;
    for (i, claim) in claims.iter().enumerate() {
        store.finish(claim, &sent(&format!("d-{i}"))).await.unwrap();
    }
    assert!(
        store
            .due_context("fp:none", Some(later), 10)
            .await
            .unwrap()
            .is_empty()
    );
    for (i, ack) in [(0, Ack::Sent), (1, Ack::Delivered)] {
        let heard = HeardAck {
            message_id: claims[i].message_id,
            ack,
            source: "poll",
            at_ms: store.now_ms(),
            mid: Some(if i == 0 { "d-0" } else { "d-1" }),
            attempt: None,
        };
        store.record_ack(&heard).await.unwrap();
    }
    execute(&scene, "UPDATE campaigns SET token_fingerprint = 'fp:t'").await;
    let jobs = store.due_context("fp:t", None, 10).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.message_id).collect::<Vec<_>>(),
        [claims[1].message_id],
        "the delivered one, found by the token"
    );
    let again = ContextEnd::Again {
        at_ms: 0,
        reason: "the user is not created yet".into(),
    };
    store
        .context_done(jobs[0].message_id, &again)
        .await
        .unwrap();
    assert_eq!(
        store.due_context("fp:t", None, 10).await.unwrap()[0].attempts,
        1
    );
    let counts = store.context_counts(later).await.unwrap().unwrap();
    assert_eq!((counts.done, counts.pending, counts.failed), (0, 1, 0));
    store
        .stop_context(later, "the tag cannot be set")
        .await
        .unwrap();
    store.stop_context(later, "a later reason").await.unwrap();
    // A claim holds a job for a minute; two minutes on, the stopped campaign's are still not
    // handed out.
    let two_minutes_on = store
        .clone()
        .with_clock(ManualClock::at(store.now_ms() + 120_000));
    assert!(
        two_minutes_on
            .due_context("fp:t", None, 10)
            .await
            .unwrap()
            .is_empty(),
        "stopped"
    );
    let counts = store.context_counts(later).await.unwrap().unwrap();
    assert_eq!(counts.stopped.as_deref(), Some("the tag cannot be set"));
    let failed = ContextEnd::Failed {
        reason: "gone".into(),
    };
    store
        .context_done(jobs[0].message_id, &failed)
        .await
        .unwrap();
    let counts = store.context_counts(id).await.unwrap().unwrap();
    assert_eq!((counts.done, counts.pending, counts.failed), (1, 0, 0));
    let plain = queued(&scene, 1).await;
    assert_eq!(store.context_counts(plain).await.unwrap(), None);
    store.set_after_send(id, None).await.unwrap();
    assert_eq!(store.context_counts(id).await.unwrap(), None);
}
