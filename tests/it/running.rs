//! `campaign run` against the simulator over real HTTP: sent once, limits kept, resumable.

use std::collections::HashMap;

use campaign::dispatch::{self, DispatchConfig, Stop};
use campaign::queue::{Begun, Store};
use campaign::tracking::PollSchedule;
use std::time::Duration;

use crate::helpers::{
    TestSim, lease, queue, recipients_csv, spawn_sim, store_in, uk_mobile, whatsapp_def,
};

async fn loaded(
    sim: &TestSim,
    dir: &std::path::Path,
    phones: &[String],
    template: &str,
) -> (Store, campaign::queue::CampaignId) {
    let store = store_in(dir).await;
    let def = whatsapp_def(recipients_csv(dir, "r.csv", phones), template);
    let id = queue(&store, sim, &def).await.campaign.unwrap();
    (store, id)
}

fn config(rate: u32) -> DispatchConfig {
    DispatchConfig {
        rate,
        number_rate: 1,
        max_attempts: 5,
        in_flight: 8,
        command: "SendWhatsAppTemplate",
        callback: None,
        first_poll: Duration::from_secs(1),
        defer_after: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn every_recipient_is_sent_once_within_the_limits_and_a_rerun_sends_nothing() {
    let sim = spawn_sim(|c| c.token_rate = 20).await;
    let dir = tempfile::tempdir().unwrap();
    // 30 recipients, one number three times (three appointments): it must wait a second each.
    let mut rows: Vec<String> = (1..=27).map(uk_mobile).collect();
    rows.extend((0..3).map(|_| uk_mobile(100)));
    let (store, id) = loaded(&sim, dir.path(), &rows, "order_confirmation").await;
    let stop = dispatch::dispatch(
        &store,
        &sim.client(),
        &lease(&store, id).await,
        &config(20),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(stop, None);
    let ledger = sim.ledger();
    assert!(
        ledger.iter().all(|e| e.event == "accepted"),
        "no rate-limit rejection: {:?}",
        ledger.iter().find(|e| e.event != "accepted")
    );
    assert_eq!(ledger.len(), 30);
    let mut per_phone: HashMap<&str, usize> = HashMap::new();
    for e in &ledger {
        *per_phone.entry(e.phone.as_str()).or_default() += 1;
    }
    assert_eq!(per_phone[uk_mobile(100).as_str()], 3);
    assert_eq!(per_phone.len(), 28);
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.total, counts.sent, counts.queued), (30, 30, 0));
    // A second dispatch of the same campaign finds nothing to send.
    dispatch::dispatch(
        &store,
        &sim.client(),
        &lease(&store, id).await,
        &config(20),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(sim.ledger().len(), 30);
    let schedule = PollSchedule {
        first: Duration::from_millis(100),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let left = campaign::tracking::await_delivery(
        &store,
        &sim.client(),
        id,
        &schedule,
        deadline,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(left, 0);
    let counts = store.counts(id).await.unwrap();
    assert_eq!(counts.sent, 0, "every message settled: {counts:?}");
}

#[tokio::test]
async fn messages_left_sending_by_a_dead_run_become_uncertain_and_are_not_resent() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![uk_mobile(1), uk_mobile(2)];
    let (store, id) = loaded(&sim, dir.path(), &rows, "order_confirmation").await;
    // A run that claimed a message and died before the answer.
    let due = store.due(id, i64::MAX, 1).await.unwrap();
    store
        .claim(&*lease(&store, id).await, &[due[0].0])
        .await
        .unwrap();
    assert_eq!(
        store.begin_sending(id, "fp").await.unwrap(),
        Begun::Running { left_uncertain: 1 }
    );
    dispatch::dispatch(
        &store,
        &sim.client(),
        &lease(&store, id).await,
        &config(10),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(sim.ledger().len(), 1, "only the other message is sent");
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.uncertain, counts.sent), (1, 1));
}

#[tokio::test]
async fn a_paused_template_pauses_the_campaign_and_sends_nothing() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![uk_mobile(1), uk_mobile(2)];
    let (store, id) = loaded(&sim, dir.path(), &rows, "promo_paused").await;
    let stop = dispatch::dispatch(
        &store,
        &sim.client(),
        &lease(&store, id).await,
        &config(10),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(
        matches!(stop, Some(Stop::Campaign(ref r)) if r.contains("132015")),
        "{stop:?}"
    );
    let counts = store.counts(id).await.unwrap();
    assert_eq!(counts.queued, 2, "released back to the queue: {counts:?}");
    assert!(sim.ledger().is_empty());
}

#[test]
fn campaign_run_with_sim_sends_and_reports_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("c.csv"),
        "phone,name\n07911 000001,Ann\n07911 000002,Bob\n07911 000000,Cy\n",
    )
    .unwrap();
    let args = [
        "run",
        "c.csv",
        "--sim",
        "--channel",
        "sms",
        "--bot",
        "3941",
        "--message",
        "Hi {name}",
        "--region",
        "GB",
        "--json",
    ];
    let out = crate::helpers::campaign_cmd(d, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["counts"]["total"], 3);
    assert_eq!(status["counts"]["delivered"], 3, "{status}");
    assert_eq!(status["state"], "finished");
    assert_eq!(status["load"]["rows"], 3, "what the load found: {status}");
    assert_eq!(status["load"]["valid"], 3, "{status}");
    assert_eq!(status["load"]["rejected"], 0, "{status}");
    // The run closes its database: SQLite folds the write-ahead log back into the file.
    assert!(
        !d.join("campaign.sim.db-wal").exists(),
        "the run leaves its database whole, no write-ahead log beside it"
    );
    let again = crate::helpers::campaign_cmd(d, &args);
    let status2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        status2["id"], status["id"],
        "the same source resumes the same campaign"
    );
}
