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

/// Counts the GetMessageDetails calls a client makes.
#[derive(Debug, Default)]
struct Polls(std::sync::atomic::AtomicUsize);

impl campaign::convrs::Observe for Polls {
    fn call(
        &self,
        cmd: &str,
        _took: Duration,
        _result: &Result<campaign::convrs::wire::Answer, campaign::convrs::CallError>,
    ) {
        if cmd == "GetMessageDetails" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_holder_of_a_token_polls_its_acks() {
    // A worker polled every token it was given, held or not: with three workers sharing the
    // tokens, each message was asked about up to three times, on the token's budget.
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use campaign::engine::{TokenLimits, TokenState, WorkerConfig, WorkerStatus};
    use campaign::queue::Role;

    let sim = spawn_sim(|c| {
        c.ack_delay = Duration::from_millis(10);
        c.tokens.push("second-token".into());
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let phones = |from: u32| (from..from + 3).map(uk_mobile).collect::<Vec<_>>();
    // A campaign on the first token, sent: its acks are there to be polled.
    let csv = recipients_csv(dir.path(), "a.csv", &phones(1));
    let held_elsewhere = queue(&store, &sim, &sms_def(csv)).await.campaign.unwrap();
    // Dispatched alone: a run's own poller, looking while it sends, could hear their acks
    // before the worker starts, and leave nothing to poll.
    let first = sim.client();
    let fingerprint = first.token_fingerprint();
    store
        .begin_sending(held_elsewhere, &fingerprint)
        .await
        .unwrap();
    let config = sms_dispatch(10, 10, 5, Duration::from_millis(50));
    let lease = crate::helpers::lease(&store, held_elsewhere).await;
    campaign::dispatch::dispatch(&store, &first, &lease, &config, &Default::default())
        .await
        .unwrap();
    store
        .release_lease(held_elsewhere, &lease.owner)
        .await
        .unwrap();
    assert_eq!(store.counts(held_elsewhere).await.unwrap().sent, 3);
    // ... whose token another process holds now.
    store
        .take_token_lease(
            &fingerprint,
            &crate::helpers::another_process(),
            Role::Run,
            None,
            Duration::from_secs(3600),
        )
        .await
        .unwrap()
        .unwrap();
    // A campaign on the second token, handed to the worker, which will hold that token.
    let second = campaign::convrs::Client::new(
        &campaign::convrs::ClientConfig::new(sim.url()),
        secrecy::SecretString::from("second-token"),
    )
    .unwrap();
    let csv = recipients_csv(dir.path(), "b.csv", &phones(11));
    let options = campaign::campaign::LoadOptions::default();
    let held_here = campaign::campaign::load(&sms_def(csv), &store, Some(&second), &options)
        .await
        .unwrap()
        .campaign
        .unwrap();
    let detached = RunOptions {
        detach: true,
        ..Default::default()
    };
    engine::run_campaign(
        &store,
        &second,
        held_here,
        &config,
        &detached,
        &Default::default(),
    )
    .await
    .unwrap();

    let (polls_first, polls_second) = (Arc::new(Polls::default()), Arc::new(Polls::default()));
    let clients = [
        first.observed(polls_first.clone()),
        second.observed(polls_second.clone()),
    ];
    let worker_config = WorkerConfig {
        limits: TokenLimits {
            rate: 10,
            number_rate: 1,
            lease: Duration::from_secs(30),
        },
        in_flight: 4,
        max_attempts: 5,
        callback: None,
        polls: PollSchedule {
            first: Duration::from_millis(50),
            ..PollSchedule::default()
        },
        reconcile_after: Duration::from_secs(60),
        defer_after: Duration::from_secs(60),
        tick: Duration::from_millis(50),
        request_timeout: Duration::from_secs(30),
        events_ws: None,
        frequency_cap: None,
    };
    let status = Arc::new(WorkerStatus::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = {
        let (store, status, stop) = (store.clone(), status.clone(), stop.clone());
        tokio::spawn(async move {
            engine::run_worker(&store, &clients, &worker_config, &status, &stop).await
        })
    };
    // The worker sends and polls the campaign of the token it holds to the end...
    crate::helpers::wait_for("the held token's campaign delivered, by polls", || async {
        (store.counts(held_here).await.unwrap().delivered == 3).then_some(())
    })
    .await;
    assert!(matches!(
        status.tokens().get(&fingerprint),
        Some(TokenState::Waiting { .. })
    ));
    stop.cancel();
    worker.await.unwrap();
    // ... and leaves the other token's to its holder.
    assert!(polls_second.0.load(Ordering::SeqCst) >= 3);
    assert_eq!(polls_first.0.load(Ordering::SeqCst), 0);
    assert_eq!(store.counts(held_elsewhere).await.unwrap().sent, 3);
}
