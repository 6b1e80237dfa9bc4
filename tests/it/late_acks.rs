//! Tracking that never goes blind: the wait for acks counts from the end of sending, and acks
//! that come after a run ended are collected by `campaign track`.

use std::time::Duration;

use campaign::engine::{self, RunEnd, RunOptions};
use campaign::tracking::PollSchedule;

use crate::helpers::{
    SMS_FLAGS, campaign_cmd, queue, recipients_csv, sms_def, sms_dispatch, spawn_campaign,
    spawn_sim, store_in, uk_mobile,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_for_acks_counts_from_the_end_of_sending() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    // Six messages at 2/s take longer to send than the whole wait.
    let csv = recipients_csv(
        dir.path(),
        "c.csv",
        &(1..=6).map(uk_mobile).collect::<Vec<_>>(),
    );
    let id = queue(&store, &sim, &sms_def(csv)).await.campaign.unwrap();
    let config = sms_dispatch(2, 2, 5, Duration::from_millis(50));
    let opts = RunOptions {
        wait: Some(Duration::from_secs(2)),
        polls: PollSchedule {
            first: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    };
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &config,
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.end, RunEnd::Finished { unsettled: 0 });
    assert_eq!(store.counts(id).await.unwrap().delivered, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_are_polled_while_sending_goes_on() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let csv = recipients_csv(
        dir.path(),
        "c.csv",
        &(1..=6).map(uk_mobile).collect::<Vec<_>>(),
    );
    let id = queue(&store, &sim, &sms_def(csv)).await.campaign.unwrap();
    let config = sms_dispatch(2, 2, 5, Duration::from_millis(50));
    // --no-wait: no waiting for acks once sending is over; whatever is known was polled while
    // the later messages were still being sent (six at 2/s take over two seconds).
    let opts = RunOptions {
        wait: None,
        polls: PollSchedule {
            first: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    };
    let report = engine::run_campaign(
        &store,
        &sim.client(),
        id,
        &config,
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.end, RunEnd::Sent);
    let delivered = store.counts(id).await.unwrap().delivered;
    assert!(delivered >= 1, "{delivered} delivered while sending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_track_collects_the_acks_that_come_after_a_run_ended() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // SMS has no callbacks: without polling, nothing is known after the run.
    recipients_csv(d, "c.csv", &[uk_mobile(1), uk_mobile(2), uk_mobile(9)]);
    let sms = SMS_FLAGS;
    let run = spawn_campaign(
        d,
        &sim,
        &[
            &["run", "c.csv", "--no-wait", "--poll-first", "100ms"][..],
            &sms,
        ]
        .concat(),
    )
    .wait_with_output()
    .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let track = spawn_campaign(
        d,
        &sim,
        &["track", "c", "--until", "30s", "--poll-first", "100ms"],
    )
    .wait_with_output()
    .unwrap();
    assert!(
        track.status.success(),
        "{}",
        String::from_utf8_lossy(&track.stderr)
    );
    let status = campaign_cmd(d, &["status", "1", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (
            status["counts"]["delivered"].clone(),
            status["counts"]["failed"].clone()
        ),
        (2.into(), 1.into()),
        "{status}"
    );
}
