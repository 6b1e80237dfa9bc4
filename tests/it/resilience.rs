//! Crashes, faults, interruptions and a second runner: nobody lost, nobody sent twice.

use std::time::Duration;

use campaign::dispatch::{self, DispatchConfig};
use campaign::engine::{self, RunEnd, RunError, RunOptions};
use campaign::queue::{CampaignId, Counts, Store};
use campaign::sim::{Fault, TemplateShown};
use serde_json::Value;

use crate::helpers::{
    TestSim, queue, reached, recipients_csv, sends_per_phone, signal, sms_def, spawn_campaign,
    spawn_sim, store_in, uk_mobile, wait_for, whatsapp_def,
};

/// `n` recipients in `dir/c.csv`, the file the CLI tests run.
fn numbered(dir: &std::path::Path, n: u32) -> std::path::PathBuf {
    recipients_csv(dir, "c.csv", &(1..=n).map(uk_mobile).collect::<Vec<_>>())
}

async fn load_sms(sim: &TestSim, dir: &std::path::Path, n: u32) -> (Store, CampaignId) {
    let store = store_in(dir).await;
    let id = queue(&store, sim, &sms_def(numbered(dir, n)))
        .await
        .campaign
        .unwrap();
    (store, id)
}

fn sms_config(rate: u32) -> DispatchConfig {
    DispatchConfig {
        rate,
        number_rate: 1,
        max_attempts: 20,
        in_flight: 8,
        command: "SendSMSMessage",
        callback: None,
        first_poll: Duration::from_secs(1),
        defer_after: Duration::from_secs(60),
    }
}

const SMS_ARGS: [&str; 10] = [
    "--channel",
    "sms",
    "--bot",
    "3941",
    "--message",
    "Hi {name}",
    "--reconcile-after",
    "2s",
    "--request-timeout",
    "1s",
];

/// 40 recipients through a simulator whose answers fail 30% of the time (503 before
/// processing, a dropped connection or a slow answer after it), templates shown in its
/// conversations as `shown`; the run reconciles what was ambiguous. Returns the store's counts
/// and how many messages failed by an ack.
async fn through_faults(whatsapp: bool, shown: TemplateShown) -> (Counts, i64, TestSim) {
    let sim = spawn_sim(|c| {
        c.token_rate = 50;
        c.fault_rate = 0.3;
        c.faults = vec![Fault::Unavailable, Fault::DropAfter, Fault::Slow];
        c.slow = Duration::from_millis(800);
        c.seed = 7;
        c.template_shown = shown;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = if whatsapp {
        let store = store_in(dir.path()).await;
        let def = whatsapp_def(numbered(dir.path(), 40), "order_confirmation");
        let id = queue(&store, &sim, &def).await.campaign.unwrap();
        (store, id)
    } else {
        load_sms(&sim, dir.path(), 40).await
    };
    let client = sim.client_with(|c| c.timeout = Duration::from_millis(400));
    let opts = RunOptions {
        wait: None,
        reconcile_after: Duration::from_secs(2),
        polls: Default::default(),
        ..Default::default()
    };
    let config = DispatchConfig {
        command: if whatsapp {
            "SendWhatsAppTemplate"
        } else {
            "SendSMSMessage"
        },
        ..sms_config(40)
    };
    let report = engine::run_campaign(&store, &client, id, &config, &opts, &Default::default())
        .await
        .unwrap();
    assert_eq!(report.end, RunEnd::Sent);
    assert!(
        report.reconciled.sent + report.reconciled.requeued + report.reconciled.undecided > 0,
        "faults were met and reconciled: {report:?}"
    );
    let per_phone = sends_per_phone(&sim);
    assert_eq!(per_phone.len(), 40, "everyone was sent to: {per_phone:?}");
    assert!(
        per_phone.values().all(|n| *n == 1),
        "nobody twice: {per_phone:?}"
    );
    // Acks are polled while sending goes on, so some are delivered (or failed by an ack) by
    // now.
    let failed_by_ack: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE state = 'failed' AND ack IS NOT NULL",
    )
    .fetch_one(&crate::helpers::raw(&store).await)
    .await
    .unwrap();
    (store.counts(id).await.unwrap(), failed_by_ack, sim)
}

/// Through faults, with conversations showing our own rendering: all 40 reached (a failure by
/// ack counts: it was sent), none uncertain, queued or failed without an ack.
async fn everyone_reached_through_faults(whatsapp: bool) {
    let (counts, failed_by_ack, _) = through_faults(whatsapp, TemplateShown::Body).await;
    let reached = reached(&counts) + failed_by_ack;
    assert_eq!(
        (
            reached,
            counts.uncertain,
            counts.queued,
            counts.failed - failed_by_ack
        ),
        (40, 0, 0, 0),
        "{counts:?}"
    );
}

#[tokio::test]
async fn injected_faults_lose_nobody_and_send_nobody_twice() {
    everyone_reached_through_faults(false).await;
}

#[tokio::test]
async fn injected_faults_on_whatsapp_templates_lose_nobody_and_send_nobody_twice() {
    everyone_reached_through_faults(true).await;
}

#[tokio::test]
async fn templates_the_api_shows_in_another_form_are_left_uncertain_never_sent_twice() {
    // The API document does not say how a template shows in a conversation. A server showing
    // it with the template's name first made reconciliation read "no such message" and send
    // the message again to everyone whose answer was lost.
    let (counts, failed_by_ack, sim) = through_faults(true, TemplateShown::NamePrefixed).await;
    assert!(
        counts.uncertain > 0,
        "lost answers stay uncertain: {counts:?}"
    );
    let reached = reached(&counts) + failed_by_ack + counts.uncertain;
    assert_eq!(
        (reached, counts.queued, counts.failed - failed_by_ack),
        (40, 0, 0),
        "{counts:?}"
    );
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_part_way_resumes_and_sends_everyone_exactly_once() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(5)).await;
    let dir = tempfile::tempdir().unwrap();
    numbered(dir.path(), 30);
    let mut args = vec!["run", "c.csv", "--rate", "10", "--no-wait"];
    args.extend(SMS_ARGS);
    let mut first = spawn_campaign(dir.path(), &sim, &args);
    wait_for("ten sends", || async {
        (sim.ledger().len() >= 10).then_some(())
    })
    .await;
    signal(&first, "-KILL");
    first.wait().unwrap();
    let sent_before = sim.ledger().len();
    assert!(sent_before < 30, "killed part-way ({sent_before} sent)");

    let second = spawn_campaign(dir.path(), &sim, &[&args[..], &["--json"]].concat())
        .wait_with_output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let per_phone = sends_per_phone(&sim);
    assert_eq!(per_phone.len(), 30, "everyone was sent to");
    assert!(
        per_phone.values().all(|n| *n == 1),
        "nobody twice: {per_phone:?}"
    );
    let status: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(status["counts"]["total"], 30);
    assert_eq!(status["counts"]["uncertain"], 0, "{status}");
    assert_eq!(status["counts"]["queued"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_claiming_lets_requests_finish_and_a_rerun_resumes() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    numbered(dir.path(), 20);
    let mut args = vec!["run", "c.csv", "--rate", "4", "--no-wait"];
    args.extend(SMS_ARGS);
    let first = spawn_campaign(dir.path(), &sim, &args);
    wait_for("three sends", || async {
        (sim.ledger().len() >= 3).then_some(())
    })
    .await;
    signal(&first, "-INT");
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(dir.path().join("campaign.db").to_str().unwrap())
        .await
        .unwrap();
    let counts = store.counts(CampaignId(1)).await.unwrap();
    assert_eq!(
        (counts.sending, counts.uncertain),
        (0, 0),
        "in-flight requests were recorded: {counts:?}"
    );
    assert_eq!(
        reached(&counts) as usize,
        sim.ledger().len(),
        "what was sent is what the database says"
    );
    assert!(counts.queued > 0);
    assert_eq!(
        store.campaigns().await.unwrap()[0].2,
        campaign::queue::CampaignState::Interrupted
    );

    let again = spawn_campaign(dir.path(), &sim, &args)
        .wait_with_output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(sends_per_phone(&sim).len(), 20);
    assert!(sends_per_phone(&sim).values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_runner_is_refused_while_the_first_holds_the_campaign() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = load_sms(&sim, dir.path(), 2).await;
    // pid 1 is alive on this host: its lease is respected.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let other = format!("pid 1@{}", host.trim());
    let now = dispatch::now_ms();
    store
        .acquire_lease(id, &other, now, now + 60_000)
        .await
        .unwrap()
        .unwrap();
    let opts = RunOptions {
        wait: None,
        reconcile_after: Duration::ZERO,
        polls: Default::default(),
        ..Default::default()
    };
    let result = engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &sms_config(10),
        &opts,
        &Default::default(),
    )
    .await;
    let Err(RunError::Busy(held)) = result else {
        panic!("{result:?}")
    };
    assert!(held.to_string().contains("pid 1@"), "{held}");
    assert!(sim.ledger().is_empty());

    let mut args = vec!["run", "c.csv"];
    args.extend(SMS_ARGS);
    let out = spawn_campaign(dir.path(), &sim, &args)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is being sent by pid 1@"));
    // A lease whose owner is gone is taken over at once.
    store.release_lease(id, &other).await.unwrap();
    store
        .acquire_lease(
            id,
            &format!("pid 999999999@{}", host.trim()),
            now,
            now + 60_000,
        )
        .await
        .unwrap()
        .unwrap();
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &sms_config(10),
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.end, RunEnd::Sent);
}

#[tokio::test]
async fn a_stopped_token_stops_every_campaign_until_cleared() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let load = |name: &str, phones: Vec<String>| {
        let def = whatsapp_def(
            recipients_csv(dir.path(), &format!("{name}.csv"), &phones),
            "order_confirmation",
        );
        let (store, sim) = (store.clone(), &sim);
        async move { queue(&store, sim, &def).await.campaign.unwrap() }
    };
    // +447700131048 meets WhatsApp 131048 (spam rate limit): stop the token.
    let first = load("first", vec!["+447700131048".into()]).await;
    let second = load("second", vec![uk_mobile(1), uk_mobile(2)]).await;
    let whatsapp = DispatchConfig {
        command: "SendWhatsAppTemplate",
        ..sms_config(10)
    };
    let opts = RunOptions {
        wait: None,
        reconcile_after: Duration::ZERO,
        polls: Default::default(),
        ..Default::default()
    };
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        first,
        &whatsapp,
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(
        matches!(report.end, RunEnd::Stopped(dispatch::Stop::Token(_))),
        "{report:?}"
    );
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        second,
        &whatsapp,
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(
        matches!(&report.end, RunEnd::Stopped(dispatch::Stop::Token(r)) if r.contains("131048")),
        "{report:?}"
    );
    assert!(
        sim.ledger().is_empty(),
        "nothing was sent with the stopped token"
    );
    assert_eq!(store.counts(second).await.unwrap().queued, 2);

    assert!(
        store
            .clear_token_stop(&sim.client().token_fingerprint())
            .await
            .unwrap()
    );
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        second,
        &whatsapp,
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.end, RunEnd::Sent);
    assert_eq!(sim.ledger().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_loses_its_lease_stops_sending() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = load_sms(&sim, dir.path(), 40).await;
    let opts = RunOptions {
        wait: None,
        reconcile_after: Duration::ZERO,
        lease: Duration::from_millis(600),
        ..Default::default()
    };
    let running = {
        let (store, client) = (store.clone(), sim.client());
        tokio::spawn(async move {
            engine::run_campaign(
                &store,
                &client,
                id,
                &sms_config(10),
                &opts,
                &Default::default(),
            )
            .await
        })
    };
    wait_for("three sends", || async {
        (sim.ledger().len() >= 3).then_some(())
    })
    .await;
    // Another process takes the campaign over (as after a stall past the lease's expiry).
    sqlx::query("UPDATE campaigns SET lease_owner = ?, lease_until = ? WHERE id = ?")
        .bind(crate::helpers::another_process())
        .bind(dispatch::now_ms() + 60_000)
        .bind(id)
        .execute(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(RunError::LeaseLost(lost)) if lost == id),
        "{result:?}"
    );
    let counts = store.counts(id).await.unwrap();
    assert!(
        counts.queued > 0,
        "it stopped before sending everything: {counts:?}"
    );
    assert_eq!(counts.sending, 0);
    assert_eq!(
        reached(&counts) as usize,
        sim.ledger().len(),
        "what was sent is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_takes_requests_and_answers_none_pauses_the_campaign_instead_of_piling_up_uncertain_ones()
 {
    let sim = spawn_sim(|c| {
        c.fault_rate = 1.0;
        c.faults = vec![Fault::Slow];
        c.slow = Duration::from_secs(5);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    numbered(dir.path(), 30);
    let args = [
        &["run", "c.csv", "--in-flight", "2", "--no-wait"][..],
        &SMS_ARGS,
    ]
    .concat();
    let out = spawn_campaign(dir.path(), &sim, &args)
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("took 5 requests in a row without answering any"),
        "{stderr}"
    );
    let status = crate::helpers::campaign_cmd(dir.path(), &["status", "1", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    // The ones in flight are uncertain; the rest wait, queued, for a run against an API
    // that answers.
    let counts = &status["counts"];
    assert_eq!(
        counts["uncertain"].as_i64().unwrap() + counts["queued"].as_i64().unwrap(),
        30,
        "{status}"
    );
    assert!(counts["queued"].as_i64().unwrap() >= 20, "{status}");
}
