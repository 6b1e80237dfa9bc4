//! The token as the unit of sending: runs and a `campaign worker` on one token never exceed its
//! limit, a run hands its campaign to the worker and follows it, the operator's pause, resume
//! and cancel reach a sending worker, and the worker's /healthz and /metrics.

use chrono::{DateTime, TimeDelta, Utc};

use crate::helpers::{
    SMS_FLAGS, TestSim, TestWorker, accepted_to, campaign_cmd, recipients_csv, sends_per_phone,
    spawn_campaign, spawn_sim, store_in, uk_mobile, wait_for,
};

/// Numbers of campaign `c` (0, 1, 2...): `+4479110...`, `+4479111...`, distinct across them.
fn phones(c: u32, n: u32) -> Vec<String> {
    (1..=n).map(|i| uk_mobile(c * 100_000 + i)).collect()
}

fn prefix(c: u32) -> String {
    format!("+447911{c}")
}

fn run_args<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    [&["run", file][..], &SMS_FLAGS, extra].concat()
}

fn time(e: &campaign::sim::ledger::LedgerEntry) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&e.time)
        .unwrap()
        .with_timezone(&Utc)
}

fn rejections(sim: &TestSim) -> usize {
    sim.ledger()
        .iter()
        .filter(|e| e.event == "rate_limited")
        .count()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_two_campaigns_on_one_token_take_turns_within_its_limit() {
    let sim = spawn_sim(|c| c.token_rate = 10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recipients_csv(d, "a.csv", &phones(0, 25));
    recipients_csv(d, "b.csv", &phones(1, 25));
    let a = spawn_campaign(d, &sim, &run_args("a.csv", &["--no-wait"]));
    let b = spawn_campaign(d, &sim, &run_args("b.csv", &["--no-wait"]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let waited = format!("{}{}", stderr(&a), stderr(&b));
    assert!(
        waited.contains("waiting: token fp:") && waited.contains("is held by a run of campaign"),
        "one run says whose the token is while it waits: {waited}"
    );
    assert_eq!(rejections(&sim), 0, "the token's limit was never exceeded");
    let per_phone = sends_per_phone(&sim);
    assert_eq!(per_phone.len(), 50);
    assert!(per_phone.values().all(|n| *n == 1), "{per_phone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sends_the_campaigns_queued_on_its_token_and_polls_their_acks() {
    let sim = spawn_sim(|c| c.token_rate = 10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let worker = TestWorker::spawn(d, &sim, &[]).await;
    recipients_csv(d, "a.csv", &phones(0, 20));
    recipients_csv(d, "b.csv", &phones(1, 20));
    for file in ["a.csv", "b.csv"] {
        let out = spawn_campaign(d, &sim, &run_args(file, &["--detach"]))
            .wait_with_output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("is queued for the worker pid "),
            "{}",
            stderr(&out)
        );
    }
    wait_for("every message sent", || async {
        (sends_per_phone(&sim).len() == 40).then_some(())
    })
    .await;
    assert_eq!(rejections(&sim), 0);
    assert!(sends_per_phone(&sim).values().all(|n| *n == 1));
    // SMS has no callbacks: the worker's polling brings every ack in.
    let store = store_in(d).await;
    wait_for("every SMS delivered or failed, by polling", || async {
        let mut settled = 0;
        for id in [1, 2] {
            let c = store.counts(campaign::queue::CampaignId(id)).await.unwrap();
            settled += c.delivered + c.failed;
        }
        (settled == 40).then_some(())
    })
    .await;
    let out = campaign_cmd(d, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in listed.as_array().unwrap() {
        assert_eq!(c["state"], "sent", "{c}");
        assert_eq!(c["sent"], 20, "{c}");
    }
    assert!(worker.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_hands_its_campaign_to_the_worker_and_follows_it_to_the_end() {
    let sim = spawn_sim(|c| c.token_rate = 10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let worker = TestWorker::spawn(d, &sim, &[]).await;
    recipients_csv(d, "a.csv", &phones(0, 15));
    let out = spawn_campaign(d, &sim, &run_args("a.csv", &["--wait", "20s"]))
        .wait_with_output()
        .unwrap();
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("is held by a worker (pid ") && said.contains("following its progress"),
        "{said}"
    );
    assert!(said.contains("was sent by the worker pid "), "{said}");
    assert!(said.contains("delivered"), "{said}");
    assert_eq!(sends_per_phone(&sim).len(), 15);
    assert!(worker.log().contains("sending"), "{}", worker.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_postgresql_hands_its_campaign_to_the_worker_and_follows_it_to_the_end() {
    // A run following its worker asks whether the campaign has work left; PostgreSQL before 16
    // refused that statement and the run died (exit 1) after its first progress line.
    let sim = spawn_sim(|c| c.token_rate = 10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(db) = crate::contract::fresh_pg_database().await else {
        return;
    };
    let worker = TestWorker::spawn(d, &sim, &["--db", &db]).await;
    wait_for("the worker to hold its token", || async {
        let (_, health) = worker.get("/healthz").await;
        health.contains("\"state\":\"held\"").then_some(())
    })
    .await;
    recipients_csv(d, "a.csv", &phones(0, 12));
    let out = spawn_campaign(d, &sim, &run_args("a.csv", &["--db", &db, "--wait", "20s"]))
        .wait_with_output()
        .unwrap();
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("following its progress"), "{said}");
    assert!(said.contains("was sent by the worker pid "), "{said}");
    assert_eq!(sends_per_phone(&sim).len(), 12);
    drop(worker);
    crate::contract::drop_pg_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_campaign_keeps_its_own_rate_through_the_worker_and_its_restart() {
    // `run --detach --rate 3` used to hand the campaign over without its rate: the worker sent
    // it at the token's 10/s.
    let sim = spawn_sim(|c| c.token_rate = 10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recipients_csv(d, "a.csv", &phones(0, 12));
    let refused = campaign_cmd(d, &run_args("a.csv", &["--detach", "--wait", "5m"]));
    assert_eq!(
        refused.status.code(),
        Some(2),
        "--wait cannot apply to --detach"
    );
    // What a killed worker had in flight is reconciled after a short safe delay.
    let quick = ["--reconcile-after", "2s", "--request-timeout", "1s"];
    let detached = [&["--detach", "--rate", "3"][..], &quick].concat();
    let out = spawn_campaign(d, &sim, &run_args("a.csv", &detached))
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let worker = TestWorker::spawn(d, &sim, &quick).await;
    wait_for("four sends", || async {
        (sends_per_phone(&sim).len() >= 4).then_some(())
    })
    .await;
    // A new worker (after a restart, or another after a takeover) goes on at the same rate.
    worker.kill();
    let worker = TestWorker::spawn(d, &sim, &quick).await;
    wait_for("every send", || async {
        (sends_per_phone(&sim).len() == 12).then_some(())
    })
    .await;
    let sent: Vec<DateTime<Utc>> = accepted_to(&sim, &prefix(0)).iter().map(time).collect();
    let busiest = crate::helpers::busiest_second(&sim);
    assert!(busiest.values().all(|n| *n <= 3), "{busiest:?}: {sent:?}");
    let took = *sent.last().unwrap() - sent[0];
    assert!(
        took >= TimeDelta::milliseconds(11 * 1000 / 3),
        "12 sends at 3/s take at least 11/3 s: {took}"
    );
    assert!(sends_per_phone(&sim).values().all(|n| *n == 1));
    drop(worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_reach_a_campaign_the_worker_is_sending() {
    let sim = spawn_sim(|c| c.token_rate = 10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _worker = TestWorker::spawn(d, &sim, &[]).await;
    recipients_csv(d, "a.csv", &phones(0, 60));
    recipients_csv(d, "b.csv", &phones(1, 60));
    // A run follows campaign a, sent by the worker.
    let follower = spawn_campaign(d, &sim, &run_args("a.csv", &["--no-wait"]));
    wait_for("five sends of a", || async {
        (accepted_to(&sim, &prefix(0)).len() >= 5).then_some(())
    })
    .await;
    let out = campaign_cmd(d, &["pause", "1"]);
    let paused_at = Utc::now();
    assert!(out.status.success(), "{}", stderr(&out));
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(followed.status.code(), Some(3), "{}", stderr(&followed));
    assert!(stderr(&followed).contains("paused by the operator"));
    // Campaign b keeps the token busy: a dozen of its sends take more than a second.
    let b = spawn_campaign(d, &sim, &run_args("b.csv", &["--detach"]));
    assert!(b.wait_with_output().unwrap().status.success());
    wait_for("twelve sends of b", || async {
        (accepted_to(&sim, &prefix(1)).len() >= 12).then_some(())
    })
    .await;
    let a_sent = accepted_to(&sim, &prefix(0));
    let last = a_sent.iter().map(time).max().unwrap();
    assert!(
        last <= paused_at + TimeDelta::seconds(1),
        "a send of a at {last}, more than a second after the pause at {paused_at}"
    );
    assert!(a_sent.len() < 60);

    let out = campaign_cmd(d, &["resume", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the worker pid "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let resumed_from = a_sent.len();
    wait_for("a going on", || async {
        (accepted_to(&sim, &prefix(0)).len() >= resumed_from + 5).then_some(())
    })
    .await;
    let out = campaign_cmd(d, &["cancel", "1"]);
    let cancelled_at = Utc::now();
    assert!(out.status.success(), "{}", stderr(&out));
    let more_b = accepted_to(&sim, &prefix(1)).len() + 12;
    wait_for("twelve more sends of b", || async {
        (accepted_to(&sim, &prefix(1)).len() >= more_b.min(60)).then_some(())
    })
    .await;
    let a_sent = accepted_to(&sim, &prefix(0));
    let last = a_sent.iter().map(time).max().unwrap();
    assert!(last <= cancelled_at + TimeDelta::seconds(1), "{last}");
    let store = store_in(d).await;
    let c = store.counts(campaign::queue::CampaignId(1)).await.unwrap();
    assert_eq!(
        crate::helpers::reached(&c) + c.failed,
        a_sent.len() as i64,
        "every send recorded: {c:?}"
    );
    assert_eq!(
        c.cancelled,
        60 - a_sent.len() as i64,
        "the rest cancelled: {c:?}"
    );
    let per_phone = sends_per_phone(&sim);
    assert!(per_phone.values().all(|n| *n == 1), "{per_phone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_token_lease_is_taken_over_stops_sending_on_it() {
    use campaign::engine::{self, RunError, RunOptions};
    use std::time::Duration;
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = recipients_csv(dir.path(), "c.csv", &phones(0, 40));
    let store = store_in(dir.path()).await;
    let id = crate::helpers::queue(&store, &sim, &crate::helpers::sms_def(csv))
        .await
        .campaign
        .unwrap();
    let opts = RunOptions {
        wait: None,
        reconcile_after: Duration::ZERO,
        lease: Duration::from_millis(600),
        ..Default::default()
    };
    let config = crate::helpers::sms_dispatch(10, 4, 5, Duration::from_secs(60));
    let running = {
        let (store, client) = (store.clone(), sim.client());
        tokio::spawn(async move {
            engine::run_campaign(&store, &client, id, &config, &opts, &Default::default()).await
        })
    };
    wait_for("three sends", || async {
        (sim.ledger().len() >= 3).then_some(())
    })
    .await;
    // Another process takes the token over (as after a stall past the lease's expiry): a new
    // holder, a new fence.
    sqlx::query("UPDATE token_leases SET owner = ?, fence = fence + 1, until_ms = ?")
        .bind(crate::helpers::another_process())
        .bind(campaign::clock::now_ms() + 60_000)
        .execute(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(RunError::LeaseLost(lost)) if lost == id),
        "{result:?}"
    );
    let counts = store.counts(id).await.unwrap();
    assert!(counts.queued > 0, "it stopped part way: {counts:?}");
    assert_eq!(counts.sending, 0);
    assert_eq!(
        crate::helpers::reached(&counts) as usize,
        sim.ledger().len(),
        "what was sent is recorded"
    );
}
