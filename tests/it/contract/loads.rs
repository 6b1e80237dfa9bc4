//! Loads beside sends, and the kept counts of a database from before them.

use super::*;

contract!(
    a_big_load_into_one_campaign_never_stops_another_from_sending,
    load_beside_sends
);
/// Loads hold a lock of their campaign only: a 200,000-row load into one campaign and the
/// claims and outcomes of another run at once, and each ends with all of its rows, once.
async fn load_beside_sends(scene: Scene) {
    const BIG: u32 = 200_000;
    let sending = queued(&scene, 300).await;
    let phones: Vec<String> = (0..BIG).map(|i| format!("+4479{i:08}")).collect();
    let csv = recipients_csv(scene.dir.path(), "big.csv", &phones);
    let big = sms_def(csv);
    let store = &scene.store;
    let load = queue(store, &scene.sim, &big);
    let send = async {
        let lease = lease(store, sending).await;
        let mut sent_ids = 0;
        loop {
            let ids: Vec<i64> = store
                .due(sending, i64::MAX, 25)
                .await
                .unwrap()
                .iter()
                .map(|d| d.0)
                .collect();
            if ids.is_empty() {
                break sent_ids;
            }
            for claim in store.claim(&lease, &ids).await.unwrap() {
                let mid = format!("m{}", claim.message_id);
                assert!(store.finish(&claim, &sent(&mid)).await.unwrap());
                sent_ids += 1;
            }
        }
    };
    let (loaded, sent_ids) = tokio::join!(load, send);
    assert_eq!(sent_ids, 300, "every message of the sending campaign, once");
    let big_counts = store.counts(loaded.campaign.unwrap()).await.unwrap();
    assert_eq!(
        (big_counts.total, big_counts.queued),
        (BIG as i64, BIG as i64)
    );
    assert_eq!(store.counts(sending).await.unwrap().sent, 300);
}

/// On PostgreSQL no lock is global: while a load into one campaign waits (here behind a row
/// lock the test holds on its campaign), a takeover of a token, the firing of another
/// campaign's schedule and another campaign's claim all go ahead. (They took, or waited for,
/// one exclusive lock before: the test would hang until its timeout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_load_holds_up_no_token_takeover_schedule_or_claim_of_another_on_postgres() {
    run(Backend::Postgres, load_holds_up_nothing_else).await;
}

async fn load_holds_up_nothing_else(scene: Scene) {
    use sqlx::Connection;
    let store = &scene.store;
    let loading = queued(&scene, 1).await;
    let phones: Vec<String> = (0..3).map(|i| format!("+4479{i:08}")).collect();
    let other_csv = recipients_csv(scene.dir.path(), "other.csv", &phones);
    let other = queue(store, &scene.sim, &sms_def(other_csv))
        .await
        .campaign
        .unwrap();
    let mut holder = sqlx::PgConnection::connect(&scene.db).await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM campaigns WHERE id = $1 FOR UPDATE")
        .bind(loading.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows: Vec<campaign::queue::NewMessage> = (0..10)
        .map(|i| campaign::queue::NewMessage {
            line: 100 + i,
            phone: uk_mobile(1000 + i as u32),
            dedupe_key: format!("later-{i}"),
            payload: "{}".into(),
            tz: None,
            context: None,
            expires_ms: None,
        })
        .collect();
    let load = {
        let store = store.clone();
        tokio::spawn(async move { store.insert_messages(loading, rows, None).await })
    };
    // The load has taken its locks and waits on the campaign's row (which it reads FOR KEY
    // SHARE, as the messages' foreign key did once per row).
    let mut watcher = sqlx::PgConnection::connect(&scene.db).await.unwrap();
    while sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(&mut watcher)
    .await
    .unwrap()
        == 0
    {
        assert!(
            !load.is_finished(),
            "a load waits for its campaign's row: it locks it FOR KEY SHARE"
        );
        tokio::task::yield_now().await;
    }
    let beside = async {
        let taken = store
            .take_token_lease(
                "fp:other",
                "pid 9@x",
                Role::Worker,
                None,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(taken.is_ok(), "nobody held the token");
        let fired = store.claim_run(other, 0, None, None, 1).await.unwrap();
        assert!(matches!(fired, Claimed::Raced), "no schedule: {fired:?}");
        let (_, claims) = claim_due(store, other).await;
        assert_eq!(claims.len(), 3);
    };
    tokio::time::timeout(Duration::from_secs(60), beside)
        .await
        .expect("a takeover, a schedule's firing and a claim of another campaign wait for no load");
    tx.commit().await.unwrap();
    let inserted = load.await.unwrap().unwrap();
    assert_eq!(
        inserted.inserted, 10,
        "the load goes on once the row is free"
    );
}

contract!(
    a_load_into_a_campaign_that_is_not_there_fails_and_queues_nothing,
    load_without_campaign
);
/// A message always has its campaign: on PostgreSQL no foreign key checks it any longer (a
/// row trigger per message, a third of a load's time; migration 0021), the load's read of the
/// campaign's row does, once per chunk.
async fn load_without_campaign(scene: Scene) {
    let store = &scene.store;
    let there = queued(&scene, 1).await;
    let nowhere = campaign::queue::CampaignId(there.0 + 1000);
    let rows = vec![campaign::queue::NewMessage {
        line: 2,
        phone: uk_mobile(1000),
        dedupe_key: "orphan".into(),
        payload: "{}".into(),
        tz: None,
        context: None,
        expires_ms: None,
    }];
    let loaded = store.insert_messages(nowhere, rows, None).await;
    assert!(loaded.is_err(), "a load into no campaign: {loaded:?}");
    assert_eq!(
        store.counts(there).await.unwrap().total,
        1,
        "the campaign that is there keeps its one message"
    );
    assert_eq!(
        store.counts(nowhere).await.unwrap().total,
        0,
        "nothing queued"
    );
}

contract!(
    a_database_from_before_kept_counts_gets_them_from_its_messages,
    counts_migrated
);
/// Migration 0013 counts the messages a database already has: the counts' table and triggers
/// are taken away, as before it, and the store opened again.
async fn counts_migrated(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    let (_lease, claims) = claim_due(store, id).await;
    store.finish(&claims[0], &sent("m0")).await.unwrap();
    let before = store.counts(id).await.unwrap();
    let undo: &[&'static str] = match store.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER message_counts_update",
            "DROP TRIGGER message_counts_delete",
        ],
        Backend::Postgres => &[
            "DROP TRIGGER message_counts_update ON messages",
            "DROP TRIGGER message_counts_delete ON messages",
            "DROP FUNCTION message_counts_update()",
            "DROP FUNCTION message_counts_delete()",
        ],
    };
    for sql in undo.iter().chain(&[
        "DROP TABLE message_counts",
        "DELETE FROM _sqlx_migrations WHERE version = 13",
    ]) {
        execute(&scene, sql).await;
    }
    let reopened = Store::open(&scene.db).await.unwrap();
    assert_eq!(reopened.counts(id).await.unwrap(), before);
    assert_eq!((before.sending, before.sent), (2, 1));
}
