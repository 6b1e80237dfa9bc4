//! A text accepted without a mid (SendTextMessage): its mid searched for, found or left
//! untracked; the window's inbound lookup.

use campaign::queue::{Effect, HearRules, Heard, InboundMessage, InboundSource, Outcome};

use super::{Scene, claim_due, queued, run};

contract!(
    a_text_without_a_mid_is_searched_for_then_identified_or_untracked,
    texts
);
async fn texts(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 2).await;
    let (_lease, claims) = claim_due(store, id).await;
    let now = store.now_ms();
    for (claim, uid) in claims.iter().zip(["u-1", "u-2"]) {
        let outcome = Outcome::SentUnidentified {
            uid: uid.into(),
            poll_at: now,
        };
        assert!(store.finish(claim, &outcome).await.unwrap());
    }
    // Due for a search: no mid, the uid the send went to.
    let due = store.due_polls(id, now, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.mid.is_none() && d.uid.is_some()));
    let (payload, started) = store.search_basis(claims[0].message_id).await.unwrap();
    assert_eq!(payload, claims[0].payload);
    assert!(started > 0 && started <= store.now_ms());
    assert!(
        store
            .identify(claims[0].message_id, "m-found", now)
            .await
            .unwrap()
    );
    // Once only: a mid found is not replaced.
    assert!(
        !store
            .identify(claims[0].message_id, "m-other", now)
            .await
            .unwrap()
    );
    store
        .untrack(claims[1].message_id, "untracked: not in the conversation")
        .await
        .unwrap();
    assert_eq!(store.untracked(id).await.unwrap(), 1);
    // The untracked one awaits no delivery; the identified one does.
    assert_eq!(store.undelivered(id).await.unwrap(), 1);
    let heard = InboundMessage {
        mid: "in-1",
        uid: "u-3",
        phone: None,
        text: "hi",
        dt_ms: now - 1000,
        source: InboundSource::Event,
        verdict: Heard::Other,
    };
    store
        .hear_inbound(&heard, Effect::None, &HearRules::default())
        .await
        .unwrap();
    let windows = store.heard_since(now - 60_000).await.unwrap();
    assert_eq!(windows.get("u-3"), Some(&(now - 1000)));
    assert!(store.heard_since(now).await.unwrap().is_empty());
}
