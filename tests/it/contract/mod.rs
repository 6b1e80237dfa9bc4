//! The store's contract: the same scenarios against SQLite and PostgreSQL (a fresh database on
//! `TEST_DATABASE_URL` for each), so the two backends cannot drift apart.

use std::time::Duration;

use campaign::queue::{
    Backend, CampaignId, Claimed, Control, Counts, Outcome, Role, Store, StoreError,
};
use campaign::timing::ScheduleSpec;

use crate::helpers::{
    TestSim, lease, pg_execute, queue, recipients_csv, sms_def, spawn_sim, test_database_url,
    uk_mobile,
};

/// Runs `scenario` once on each backend.
macro_rules! contract {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::run(campaign::queue::Backend::Sqlite, super::$scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::run(campaign::queue::Backend::Postgres, super::$scenario).await;
            }
        }
    };
}

mod coverage;
mod plans;

/// What a scenario gets: a fresh store, the simulator, and a directory for its files.
struct Scene {
    store: Store,
    /// The database's URL or path, for what the store has no call for.
    db: String,
    sim: TestSim,
    dir: tempfile::TempDir,
}

async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Scene) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Sqlite => dir.path().join("c.db").to_str().unwrap().to_string(),
        Backend::Postgres => match fresh_pg_database().await {
            Some(db) => db,
            None => return,
        },
    };
    let store = Store::open(&db).await.unwrap();
    assert_eq!(store.backend(), backend);
    let sim = spawn_sim(|_| {}).await;
    scenario(Scene {
        store: store.clone(),
        db: db.clone(),
        sim,
        dir: tempfile::tempdir().unwrap(),
    })
    .await;
    counts_match_messages(&store, &db).await;
    drop(dir);
    if backend == Backend::Postgres {
        drop_pg_database(&db).await;
    }
}

/// The counts the store keeps are what a scan of the messages finds, for every campaign,
/// state and ack.
async fn counts_match_messages(store: &Store, db: &str) {
    const SCAN: &str = "SELECT campaign_id, state, COALESCE(ack, -100) AS ack_key, COUNT(*) AS n
         FROM messages GROUP BY campaign_id, state, COALESCE(ack, -100)
         ORDER BY campaign_id, state, ack_key";
    const KEPT: &str = "SELECT campaign_id, state, ack_key, CAST(SUM(n) AS BIGINT) AS n
         FROM message_counts GROUP BY campaign_id, state, ack_key HAVING SUM(n) <> 0
         ORDER BY campaign_id, state, ack_key";
    type Key = (i64, String, i64, i64);
    let scan: Vec<Key> = rows(store, db, SCAN).await;
    let kept: Vec<Key> = rows(store, db, KEPT).await;
    assert_eq!(kept, scan, "kept counts against a scan of the messages");
}

/// Drops a database `fresh_pg_database` made (a failed test leaves it, for a look).
pub async fn drop_pg_database(url: &str) {
    let name = url.rsplit('/').next().unwrap_or_default();
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    pg_execute(&test_database_url(), &[drop]).await;
}

/// A new, empty database on the test server: its URL; `None` when the server does not answer
/// (the test skips, or fails in CI: `helpers::postgres`).
pub async fn fresh_pg_database() -> Option<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "campaign_test_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let server = crate::helpers::postgres()?;
    pg_execute(&server, &[format!("CREATE DATABASE {name}")]).await;
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A count the store has no call for, read with a connection of the test's own.
async fn count(scene: &Scene, sql: &'static str) -> i64 {
    rows::<(i64,)>(&scene.store, &scene.db, sql).await[0].0
}

/// The rows `sql` reads, with a connection of the test's own to the store's database.
async fn rows<T>(store: &Store, db: &str, sql: &'static str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    match store.backend() {
        Backend::Sqlite => {
            let pool = crate::helpers::raw(store).await;
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db).await.unwrap();
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
    }
}

/// Runs `sql` with a connection of the test's own.
async fn execute(scene: &Scene, sql: &'static str) {
    try_execute(scene, sql).await.unwrap();
}

/// Runs `sql` with a connection of the test's own; the database's error as text.
async fn try_execute(scene: &Scene, sql: &'static str) -> Result<(), String> {
    let done = match scene.store.backend() {
        Backend::Sqlite => {
            let pool = crate::helpers::raw(&scene.store).await;
            sqlx::query(sql).execute(&pool).await.map(drop)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&scene.db).await.unwrap();
            sqlx::query(sql).execute(&pool).await.map(drop)
        }
    };
    done.map_err(|e| e.to_string())
}

/// `n` SMS recipients queued in one campaign.
async fn queued(scene: &Scene, n: u32) -> CampaignId {
    let phones: Vec<String> = (0..n).map(uk_mobile).collect();
    let csv = recipients_csv(scene.dir.path(), "r.csv", &phones);
    let loaded = queue(&scene.store, &scene.sim, &sms_def(csv)).await;
    loaded.campaign.unwrap()
}

async fn due_ids(store: &Store, id: CampaignId) -> Vec<i64> {
    let due = store.due(id, i64::MAX, 1000).await.unwrap();
    due.iter().map(|d| d.0).collect()
}

/// The campaign's lease, and a claim of every message due.
async fn claim_due(
    store: &Store,
    id: CampaignId,
) -> (
    std::sync::Arc<campaign::queue::Lease>,
    Vec<campaign::queue::Claim>,
) {
    let lease = lease(store, id).await;
    let claims = store
        .claim(&lease, &due_ids(store, id).await)
        .await
        .unwrap();
    (lease, claims)
}

fn sent(mid: &str) -> Outcome {
    Outcome::Sent {
        mid: mid.into(),
        uid: None,
        poll_at: i64::MAX,
    }
}

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
    // A claim that lost the race made no attempt for a message it did not get.
    let attempts = count(&scene, "SELECT COUNT(*) FROM attempts").await;
    assert_eq!(attempts, ids.len() as i64);
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
    interrupted_sends_become_uncertain_and_are_settled,
    uncertain
);
async fn uncertain(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 2).await;
    let (_lease, claims) = claim_due(store, id).await;
    assert_eq!(store.mark_interrupted_uncertain(id).await.unwrap(), 2);
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
    store.set_campaign_token(id, token).await.unwrap();
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
        store.set_campaign_token(id, token).await.unwrap();
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
        })
        .collect();
    let load = {
        let store = store.clone();
        tokio::spawn(async move { store.insert_messages(loading, &rows, None).await })
    };
    // The load has taken its locks and waits on the campaign's row (its foreign key check).
    let mut watcher = sqlx::PgConnection::connect(&scene.db).await.unwrap();
    while sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(&mut watcher)
    .await
    .unwrap()
        == 0
    {
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
