//! Delivery tracking over real HTTP: callbacks from the simulator, the receiver's defences, and
//! polling alone reaching the same counts.

use std::time::Duration;

use campaign::dispatch::DispatchConfig;
use campaign::engine::{self, RunEnd, RunOptions};
use campaign::queue::{CampaignId, Counts, Store};
use campaign::tracking::{CallbackTarget, PollSchedule, SECRET_HEADER, webhook, webhook_secret};
use serde_json::{Value, json};

use crate::helpers::{
    TestSim, queue, recipients_csv, spawn_sim, store_in, uk_mobile, wait_for, whatsapp_def,
};

/// Numbers ending in each digit the simulator scripts: 0 not on WhatsApp, 7 never read,
/// 8 replied, 9 error, others read.
const PHONES: [&str; 6] = [
    "+447911000010",
    "+447911000017",
    "+447911000018",
    "+447911000019",
    "+447911000011",
    "+447911000012",
];

fn expected() -> Counts {
    Counts {
        total: 6,
        failed: 2,
        delivered: 1,
        replied: 1,
        read: 2,
        ..Default::default()
    }
}

async fn whatsapp_campaign(sim: &TestSim, dir: &std::path::Path) -> (Store, CampaignId) {
    let store = store_in(dir).await;
    let phones: Vec<String> = PHONES.iter().map(|p| p.to_string()).collect();
    let def = whatsapp_def(recipients_csv(dir, "c.csv", &phones), "order_confirmation");
    let id = queue(&store, sim, &def).await.campaign.unwrap();
    (store, id)
}

fn config(callback: Option<CallbackTarget>) -> DispatchConfig {
    DispatchConfig {
        rate: 10,
        number_rate: 1,
        max_attempts: 5,
        in_flight: 8,
        command: "SendWhatsAppTemplate",
        callback,
        first_poll: Duration::from_millis(50),
        defer_after: Duration::from_secs(60),
    }
}

/// `config` whose messages are first polled a minute after they are sent: a run's own poller,
/// looking while it sends, finds none due, and the test decides every ack that is heard.
fn unpolled() -> DispatchConfig {
    DispatchConfig {
        first_poll: Duration::from_secs(60),
        ..config(None)
    }
}

fn options(first_poll: Duration) -> RunOptions {
    RunOptions {
        wait: Some(Duration::from_secs(30)),
        reconcile_after: Duration::ZERO,
        polls: PollSchedule {
            first: first_poll,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The webhook receiver on a loopback port, with the installation's secret.
pub(crate) async fn start_receiver(
    store: &Store,
) -> (webhook::RunningReceiver, secrecy::SecretString) {
    let secret = webhook_secret(store).await.unwrap();
    let receiver = webhook::start(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        secret.clone(),
    )
    .await
    .unwrap();
    (receiver, secret)
}

async fn settles_to(store: &Store, id: CampaignId, expected: Counts) {
    wait_for("the final counts", || async {
        let counts = store.counts(id).await.unwrap();
        (counts == expected).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_callbacks_the_counts_match_what_the_simulator_decided_and_polls_stay_near_zero() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id, report) = run_with_callbacks(&sim, dir.path()).await;
    assert_eq!(report.end, RunEnd::Finished { unsettled: 0 });
    settles_to(&store, id, expected()).await;
    // Bring every poll due now: the poller still asks about none of them, since a callback
    // spoke of each within its first interval (a minute)...
    let pool = &crate::helpers::raw(&store).await;
    let due_now = "UPDATE messages SET next_poll_at = 0 WHERE next_poll_at IS NOT NULL";
    let waiting = sqlx::query(due_now).execute(pool).await.unwrap();
    assert!(
        waiting.rows_affected() > 0,
        "some messages await a later ack"
    );
    let schedule = PollSchedule {
        first: Duration::from_secs(60),
        ..Default::default()
    };
    let limiter = governor::RateLimiter::direct(governor::Quota::per_second(
        std::num::NonZeroU32::new(50).unwrap(),
    ));
    let (client, cancel) = (sim.client(), Default::default());
    let budget = [&limiter];
    let poll =
        || campaign::tracking::poller::poll_due(&store, &client, id, &schedule, &budget, &cancel);
    assert_eq!(poll().await.unwrap(), 0);
    let polls = "SELECT COALESCE(SUM(polls), 0) FROM messages";
    let asked: i64 = sqlx::query_scalar(polls).fetch_one(pool).await.unwrap();
    assert_eq!(asked, 0);
    // ...while a message no callback spoke of is asked about.
    sqlx::query(
        "UPDATE messages SET last_ack_at = NULL, next_poll_at = 0
         WHERE id = (SELECT MIN(id) FROM messages WHERE next_poll_at IS NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(poll().await.unwrap(), 1, "without a callback it would poll");
    let suppressed: Vec<String> = store
        .suppressions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.phone)
        .collect();
    assert_eq!(
        suppressed,
        ["+447911000010"],
        "ack -2 suppresses the number"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_alone_reaches_the_same_final_counts() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = whatsapp_campaign(&sim, dir.path()).await;
    let schedule = PollSchedule {
        first: Duration::from_millis(50),
        ..Default::default()
    };
    engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &config(None),
        &options(schedule.first),
        &Default::default(),
    )
    .await
    .unwrap();
    // Read and replied come after delivered: keep polling on the schedule until they are in.
    let limiter = governor::RateLimiter::direct(governor::Quota::per_second(
        std::num::NonZeroU32::new(50).unwrap(),
    ));
    wait_for("the final counts by polling", || async {
        campaign::tracking::poller::poll_due(
            &store,
            &sim.client(),
            id,
            &schedule,
            &[&limiter],
            &Default::default(),
        )
        .await
        .unwrap();
        (store.counts(id).await.unwrap() == expected()).then_some(())
    })
    .await;
}

async fn post(url: &str, secret: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let mut request = campaign::convrs::client::http_builder()
        .build()
        .unwrap()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_malformed_replayed_and_reordered_callbacks_change_nothing() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = whatsapp_campaign(&sim, dir.path()).await;
    engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &unpolled(),
        &RunOptions {
            wait: None,
            ..options(Duration::from_secs(60))
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let (receiver, secret) = start_receiver(&store).await;
    let url = format!("http://{}/callback", receiver.addr);
    let real = secrecy::ExposeSecret::expose_secret(&secret).to_string();
    let (message, mid): (i64, String) =
        sqlx::query_as("SELECT id, mid FROM messages ORDER BY id LIMIT 1")
            .fetch_one(&crate::helpers::raw(&store).await)
            .await
            .unwrap();
    let callback = |ack: i64| {
        json!({"ok": 1, "mid": mid, "uid": "x", "botID": 3941, "ack": ack, "timestamp": "2026-01-01T10:00:00", "webhookPayload": {"campaign": id.0, "message": message}}).to_string()
    };
    let state = || async {
        sqlx::query_as::<_, (String, Option<i64>)>("SELECT state, ack FROM messages WHERE id = ?")
            .bind(message)
            .fetch_one(&crate::helpers::raw(&store).await)
            .await
            .unwrap()
    };

    assert_eq!(post(&url, Some("forged"), callback(3)).await.0, 401);
    assert_eq!(post(&url, None, callback(3)).await.0, 401);
    assert_eq!(
        state().await,
        ("sent".to_string(), None),
        "a forged callback changes nothing"
    );
    assert_eq!(post(&url, Some(&real), "{not json").await.0, 400);
    assert_eq!(
        post(&url, Some(&real), callback(7)).await.0,
        400,
        "an unknown ack code is refused"
    );
    let unknown = json!({"ok": 1, "mid": "ffffffffffffffffffffffff", "ack": 3}).to_string();
    assert_eq!(post(&url, Some(&real), unknown).await.0, 202);
    assert_eq!(
        post(&url, Some(&real), "x".repeat(70_000)).await.0,
        413,
        "bodies are limited"
    );

    assert_eq!(post(&url, Some(&real), callback(3)).await.0, 200);
    assert_eq!(state().await, ("read".to_string(), Some(3)));
    post(&url, Some(&real), callback(1)).await;
    post(&url, Some(&real), callback(3)).await;
    post(&url, Some(&real), callback(2)).await;
    assert_eq!(
        state().await,
        ("read".to_string(), Some(3)),
        "replays and late acks never move it back"
    );
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE message_id = ? AND source = 'callback'",
    )
    .bind(message)
    .fetch_one(&crate::helpers::raw(&store).await)
    .await
    .unwrap();
    assert_eq!(events, 3, "every ack is kept as an event, a replay once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_changes_nothing_and_callbacks_that_cannot_be_ours_are_refused() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = whatsapp_campaign(&sim, dir.path()).await;
    let no_wait = RunOptions {
        wait: None,
        ..options(Duration::from_secs(60))
    };
    engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &unpolled(),
        &no_wait,
        &Default::default(),
    )
    .await
    .unwrap();
    let sms_csv = recipients_csv(dir.path(), "s.csv", &[uk_mobile(77)]);
    let sms = queue(&store, &sim, &crate::helpers::sms_def(sms_csv))
        .await
        .campaign
        .unwrap();
    let sms_config = DispatchConfig {
        command: "SendSMSMessage",
        ..unpolled()
    };
    engine::run_campaign(
        &store,
        &sim.client(),
        sms,
        &sms_config,
        &no_wait,
        &Default::default(),
    )
    .await
    .unwrap();
    let (receiver, secret) = start_receiver(&store).await;
    let url = format!("http://{}/callback", receiver.addr);
    let real = secrecy::ExposeSecret::expose_secret(&secret).to_string();
    let pool = crate::helpers::raw(&store).await;
    let first = |campaign: CampaignId| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64, String, String)>(
                "SELECT id, mid, phone FROM messages WHERE campaign_id = ? ORDER BY id LIMIT 1",
            )
            .bind(campaign.0)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (message, mid, phone) = first(id).await;
    let callback = |ok: i64, ack: i64, timestamp: &str, message: i64, mid: &str| {
        json!({"ok": ok, "mid": mid, "uid": "x", "botID": 3941, "ack": ack, "timestamp": timestamp,
               "webhookPayload": {"campaign": id.0, "message": message}})
        .to_string()
    };
    let at = "2026-01-01T10:00:00";
    assert_eq!(
        post(&url, Some(&real), callback(1, -2, at, message, &mid))
            .await
            .0,
        200
    );
    assert!(store.suppressed_set().await.unwrap().contains(&phone));
    // The operator lifts it (a number that joined WhatsApp since); a replay must not undo that.
    assert!(store.unsuppress(&phone).await.unwrap());
    let (status, answer) = post(&url, Some(&real), callback(1, -2, at, message, &mid)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        !store.suppressed_set().await.unwrap().contains(&phone),
        "a replayed -2 suppressed the number again"
    );
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE message_id = ?")
        .bind(message)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "the replay added an event");
    // Not the API's: ok 0, a time before 2000, a callback about an SMS.
    for (body, why) in [
        (callback(0, 3, at, message, &mid), "ok 0"),
        (callback(1, 3, "1999-12-31T23:59:59", message, &mid), "1999"),
        (callback(1, 3, "1970-01-01T00:00:00", message, &mid), "1970"),
    ] {
        assert_eq!(post(&url, Some(&real), body).await.0, 400, "{why}");
    }
    let (sms_message, sms_mid, _) = first(sms).await;
    let (status, answer) = post(&url, Some(&real), callback(1, 2, at, sms_message, &sms_mid)).await;
    assert_eq!(status, 400, "an SMS has no callbacks: {answer}");
    let sms_acks: Option<i64> = sqlx::query_scalar("SELECT ack FROM messages WHERE id = ?")
        .bind(sms_message)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(sms_acks, Some(2), "the forged SMS callback changed its ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convrs_events_about_disabled_or_deleted_users_suppress_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("campaign.db").to_str().unwrap())
        .await
        .unwrap();
    let (receiver, secret) = start_receiver(&store).await;
    let real = secrecy::ExposeSecret::expose_secret(&secret).to_string();
    let url = format!("http://{}/events", receiver.addr);
    let disable =
        json!({"cmd": "onUserDisable", "ok": 1, "uid": "3941-wa3-447911000001"}).to_string();
    assert_eq!(post(&url, Some("nope"), disable.clone()).await.0, 401);
    assert_eq!(post(&url, None, disable).await.0, 401);
    let with_query = format!("{url}?secret={real}");
    assert_eq!(
        post(
            &with_query,
            None,
            json!({"cmd": "onUserDisable", "ok": 1, "uid": "3941-wa3-447911000001"}).to_string()
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &url,
            Some(&real),
            json!({"cmd": "onUserDelete", "ok": 1, "uid": "3941-cms-447911000002"}).to_string()
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &url,
            Some(&real),
            json!({"cmd": "onUserCreate", "ok": 1, "data": {}}).to_string()
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &url,
            Some(&real),
            json!({"cmd": "onUserDisable", "ok": 1}).to_string()
        )
        .await
        .0,
        400
    );
    let list = store.suppressions().await.unwrap();
    let got: Vec<(&str, &str)> = list
        .iter()
        .map(|s| (s.phone.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("+447911000001", "user disabled (onUserDisable)"),
            ("+447911000002", "user deleted (onUserDelete)")
        ]
    );
}

/// A WhatsApp campaign run with callbacks to a receiver (polls only after a minute).
async fn run_with_callbacks(
    sim: &TestSim,
    dir: &std::path::Path,
) -> (Store, CampaignId, engine::RunReport) {
    let (store, id) = whatsapp_campaign(sim, dir).await;
    let (receiver, secret) = start_receiver(&store).await;
    let target = CallbackTarget {
        url: format!("http://{}/callback", receiver.addr),
        secret,
    };
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &config(Some(target)),
        &options(Duration::from_secs(60)),
        &Default::default(),
    )
    .await
    .unwrap();
    settles_to(&store, id, expected()).await;
    receiver.stop().await.unwrap();
    (store, id, report)
}

/// The six-number WhatsApp campaign sent to the end, acks by callback and polling.
pub(crate) async fn finished_campaign(sim: &TestSim, dir: &std::path::Path) -> (Store, CampaignId) {
    let (store, id, _) = run_with_callbacks(sim, dir).await;
    (store, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_requeues_only_what_may_pass() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = finished_campaign(&sim, dir.path()).await;
    // Failed: ...10 (not on WhatsApp: suppressed) and ...19 (ack -1: may pass).
    let out = crate::helpers::campaign_cmd(dir.path(), &["retry", &id.0.to_string(), "--failed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queued: Vec<String> =
        sqlx::query_scalar("SELECT phone FROM messages WHERE state = 'queued'")
            .fetch_all(&crate::helpers::raw(&store).await)
            .await
            .unwrap();
    assert_eq!(queued, ["+447911000019"]);
    assert!(
        !crate::helpers::campaign_cmd(dir.path(), &["retry", &id.0.to_string()])
            .status
            .success(),
        "retry needs --failed or --uncertain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribed_and_opted_out_numbers_are_suppressed_for_later_campaigns_and_queued_ones() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let load = |name: &str, phones: &[&str]| {
        let phones: Vec<String> = phones.iter().map(|p| p.to_string()).collect();
        let def = whatsapp_def(
            recipients_csv(dir.path(), &format!("{name}.csv"), &phones),
            "order_confirmation",
        );
        let (store, sim) = (store.clone(), &sim);
        async move { queue(&store, sim, &def).await }
    };
    let no_wait = RunOptions {
        wait: None,
        ..options(Duration::from_secs(60))
    };
    // 2006: unsubscribed; 131050: opted out of marketing.
    let first = load(
        "first",
        &["+447911002006", "+447700131050", "+447911000011"],
    )
    .await
    .campaign
    .unwrap();
    // Queued before the numbers are known to be suppressed.
    let second = load("second", &["+447911002006", "+447911000012"]).await;
    assert_eq!(second.summary.suppressed, 0);
    engine::run_campaign(
        &store,
        &sim.client(),
        first,
        &config(None),
        &no_wait,
        &Default::default(),
    )
    .await
    .unwrap();
    let suppressed: Vec<String> = store
        .suppressions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.phone)
        .collect();
    assert_eq!(suppressed, ["+447700131050", "+447911002006"]);

    let later = load("later", &["+447700131050", "+447911000013"]).await;
    assert_eq!(
        (later.summary.suppressed, later.summary.valid),
        (1, 1),
        "a later campaign does not queue them"
    );
    engine::run_campaign(
        &store,
        &sim.client(),
        second.campaign.unwrap(),
        &config(None),
        &no_wait,
        &Default::default(),
    )
    .await
    .unwrap();
    let counts = store.counts(second.campaign.unwrap()).await.unwrap();
    assert_eq!(
        (counts.cancelled, crate::helpers::reached(&counts)),
        (1, 1),
        "a queued message to a suppressed number is not sent: {counts:?}"
    );
    let to_unsubscribed = sim
        .ledger()
        .iter()
        .filter(|e| e.phone == "+447911002006" && e.event == "accepted")
        .count();
    assert_eq!(to_unsubscribed, 0);
}
