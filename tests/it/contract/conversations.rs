//! The conversations due to be read with GetConversation, on both engines: one reader at a
//! time, and the catch-up of a socket back from a drop.

use campaign::clock::ManualClock;
use campaign::queue::{DueRead, InboundSource};

use super::*;

const UID: &str = "3941-cms-447911000000";

contract!(
    conversations_due_are_read_by_one_reader_at_a_time,
    conversation_reads
);
async fn conversation_reads(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 1).await;
    let now = store.now_ms();
    let read = DueRead {
        uid: UID.into(),
        source: InboundSource::Sweep,
        since_ms: now - 1_000,
        reads: 0,
        until_ms: now + 60_000,
    };
    store
        .want_conversation(id, &read, now + 10_000)
        .await
        .unwrap();
    assert!(store.due_conversations(id, 10).await.unwrap().is_empty());
    // Asked again, earlier: the earliest due time and the widest span are kept.
    let reply = DueRead {
        source: InboundSource::Reply,
        since_ms: now - 5_000,
        until_ms: now,
        ..read.clone()
    };
    store.want_conversation(id, &reply, now).await.unwrap();
    let due = store.due_conversations(id, 10).await.unwrap();
    assert_eq!(
        due,
        [DueRead {
            uid: UID.into(),
            since_ms: now - 5_000,
            ..read.clone()
        }]
    );
    assert!(
        store.due_conversations(id, 10).await.unwrap().is_empty(),
        "held from another reader"
    );
    store
        .conversation_read(id, UID, 1, Some(now))
        .await
        .unwrap();
    assert_eq!(store.due_conversations(id, 10).await.unwrap()[0].reads, 1);
    store.conversation_read(id, UID, 2, None).await.unwrap();
    store
        .conversation_read(id, UID, 3, Some(now))
        .await
        .unwrap();
    assert!(
        store.due_conversations(id, 10).await.unwrap().is_empty(),
        "read for the last time"
    );
}

contract!(
    a_socket_back_from_a_drop_reads_the_conversations_of_users_sent_to_since,
    catching_up
);
async fn catching_up(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    execute(
        &scene,
        "UPDATE campaigns SET token_fingerprint = 'fp:socket'",
    )
    .await;
    let (_lease, claims) = claim_due(store, id).await;
    let sent_to = |n: u32| Outcome::Sent {
        mid: format!("m-{n}"),
        uid: Some(format!("3941-cms-44791100000{n}")),
        poll_at: i64::MAX,
    };
    store.finish(&claims[0], &sent_to(0)).await.unwrap();
    // The socket dropped a second later; sent after the drop: the 2nd, and the 3rd, which has
    // no uid (the answer gave none).
    let since = store.now_ms() + 1000;
    let after_drop = store.clone().with_clock(ManualClock::at(since));
    after_drop.finish(&claims[1], &sent_to(1)).await.unwrap();
    after_drop.finish(&claims[2], &sent("m-2")).await.unwrap();
    assert_eq!(store.catch_up("fp:other", 0).await.unwrap(), 0);
    assert_eq!(store.catch_up("fp:socket", since).await.unwrap(), 1);
    let due = store.due_conversations(id, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.uid.as_str()).collect::<Vec<_>>(),
        ["3941-cms-447911000001"]
    );
    assert_eq!(
        (due[0].source, due[0].since_ms),
        (InboundSource::Reply, since)
    );
}
