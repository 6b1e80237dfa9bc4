//! Running a worker: acks that come after sending is over, /metrics and /healthz, and SIGTERM.

use std::time::Duration;

use campaign::queue::CampaignId;

use crate::helpers::{
    SMS_FLAGS, TestSim, TestWorker, campaign_cmd, recipients_csv, sends_per_phone, spawn_campaign,
    spawn_sim, store_in, uk_mobile, wait_for,
};

fn detach(d: &std::path::Path, sim: &TestSim, args: &[&str]) -> String {
    let out = spawn_campaign(d, sim, &[args, &["--detach"]].concat())
        .wait_with_output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_and_replies_after_sending_ended_reach_the_database_by_callback() {
    // Acks every 400 ms: read at 1.2 s and the reply at 1.6 s after each send.
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _worker = TestWorker::spawn(d, &sim, &[]).await;
    // Numbers ending in 8 are read and answered.
    recipients_csv(d, "c.csv", &[8, 18, 28].map(uk_mobile));
    let whatsapp = [
        "--bot",
        "3941",
        "--template",
        "order_confirmation",
        "--language",
        "en",
        "--params",
        "name,order",
    ];
    detach(d, &sim, &[&["run", "c.csv"][..], &whatsapp].concat());
    let store = store_in(d).await;
    let id = CampaignId(1);
    let at_end = wait_for("sending to end", || async {
        let standing = store.standing(id).await.unwrap();
        let counts = store.counts(id).await.unwrap();
        (standing.state == campaign::queue::CampaignState::Sent).then_some(counts)
    })
    .await;
    assert_eq!(at_end.read + at_end.replied, 0, "{at_end:?}");
    wait_for("every reply", || async {
        (store.counts(id).await.unwrap().replied == 3).then_some(())
    })
    .await;
    let by_callback: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE ack = 10 AND source = 'callback'")
            .fetch_one(&crate::helpers::raw(&store).await)
            .await
            .unwrap();
    assert_eq!(by_callback, 3, "the replies came by callback to the worker");
}

/// The value of the sample `name{labels}` in Prometheus text, every line checked on the way.
fn sample(text: &str, wanted: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line == "# EOF" {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "not a metric name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "labels not closed: {line}");
        }
        if series == wanted {
            found = Some(value);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_and_healthz_turns_503_when_the_api_is_gone() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recipients_csv(d, "c.csv", &(1..=5).map(uk_mobile).collect::<Vec<_>>());
    // No worker yet: the campaign waits for its token, and says so.
    let said = detach(d, &sim, &[&["run", "c.csv"][..], &SMS_FLAGS].concat());
    assert!(said.contains("none holds its token now"), "{said}");
    let out = campaign_cmd(d, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["waiting_for_token"], true, "{listed}");
    let table = String::from_utf8_lossy(&campaign_cmd(d, &["list"]).stdout).into_owned();
    assert!(table.contains("waiting for its token"), "{table}");

    let worker = TestWorker::spawn(d, &sim, &["--health-check-every", "1s"]).await;
    wait_for("five sends", || async {
        (sends_per_phone(&sim).len() == 5).then_some(())
    })
    .await;
    let store = store_in(d).await;
    wait_for("sending to end", || async {
        (store.standing(CampaignId(1)).await.unwrap().state == campaign::queue::CampaignState::Sent)
            .then_some(())
    })
    .await;
    let (code, text) = worker.get("/metrics").await;
    assert_eq!(code, 200, "{text}");
    // By token, too: the one token's series.
    let sends: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("campaign_sends_total{"))
        .collect();
    assert_eq!(sends.len(), 1, "{text}");
    assert!(
        sends[0].contains(r#"token="fp:"#)
            && sends[0].contains(r#"channel="sms",outcome="sent"} 5"#),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"campaign_api_request_duration_seconds_count{command="SendSMSMessage"}"#
        ),
        Some(5.0),
        "{text}"
    );
    let reached: f64 = ["sent", "delivered", "failed"]
        .iter()
        .filter_map(|s| sample(&text, &format!("campaign_messages{{state=\"{s}\"}}")))
        .sum();
    assert_eq!(reached, 5.0, "{text}");
    assert_eq!(sample(&text, "campaign_uncertain_messages"), Some(0.0));
    assert!(
        text.lines()
            .any(|l| l.starts_with("campaign_token_lease{") && l.contains(r#"role="worker""#)),
        "{text}"
    );

    // The delivered acks the worker hears are timed from acceptance.
    wait_for("a delivery delay in /metrics", || async {
        let (_, text) = worker.get("/metrics").await;
        text.lines()
            .any(|l| l.starts_with(r#"campaign_ack_delay_seconds_count{ack="delivered"}"#))
            .then_some(())
    })
    .await;
    let (code, body) = worker.get("/healthz").await;
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let tokens = health["tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), 1, "{health}");
    assert_eq!(tokens.values().next().unwrap()["state"], "held", "{health}");
    assert!(health["last_api_success"].is_string(), "{health}");

    sim.running.stop().await.unwrap();
    // The worker's next call to the API (a poll, or the probe once what it knows is a second
    // old) finds it gone.
    let (code, body) = wait_for("/healthz to see the API gone", || async {
        let (code, body) = worker.get("/healthz").await;
        (code == 503).then_some((code, body))
    })
    .await;
    assert_eq!(code, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        health["api"]
            .as_str()
            .unwrap()
            .contains("could not reach the Convrs API"),
        "{health}"
    );
    assert!(worker.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_are_apart_from_the_receiver_and_ask_the_api_at_most_once_per_interval()
{
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let worker = TestWorker::spawn(d, &sim, &["--health-check-every", "10m"]).await;
    // Nothing to send, nothing to poll: the only API calls are /healthz's probes. Many
    // requests at once, and many after, make one between them.
    let mut asked = tokio::task::JoinSet::new();
    for path in ["/healthz", "/metrics"] {
        for _ in 0..32 {
            let url = format!("{}{path}", worker.url);
            asked.spawn(async move { reqwest::get(url).await.unwrap().status().as_u16() });
        }
    }
    // A callback meanwhile, on the receiver (which serves neither /healthz nor /metrics).
    let log = worker.log();
    let receiver = log
        .split_once(") on ")
        .and_then(|(_, rest)| rest.split(';').next())
        .expect("the worker says where it receives callbacks")
        .to_string();
    let callback = reqwest::Client::new()
        .post(format!("{receiver}/callback"))
        .header(campaign::tracking::SECRET_HEADER, "wrong")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        callback.status().as_u16(),
        401,
        "the receiver answers meanwhile"
    );
    for path in ["/healthz", "/metrics"] {
        let on_receiver = reqwest::get(format!("{receiver}{path}")).await.unwrap();
        assert_eq!(
            on_receiver.status().as_u16(),
            404,
            "{path} is not on the receiver"
        );
    }
    for status in asked.join_all().await {
        assert_eq!(status, 200);
    }
    for _ in 0..10 {
        assert_eq!(worker.get("/healthz").await.0, 200);
    }
    let (_, text) = worker.get("/metrics").await;
    assert_eq!(
        sample(
            &text,
            r#"campaign_api_request_duration_seconds_count{command="GetMessageDetails"}"#
        ),
        Some(1.0),
        "one probe for 42 requests: {text}"
    );
    assert!(worker.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_what_is_in_flight_and_a_new_worker_sends_the_rest() {
    // Slow answers and no limits: many requests are in flight at once.
    let sim = spawn_sim(|c| {
        c.latency = Duration::from_millis(1500);
        c.token_rate = 0;
        c.number_rate = 0;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recipients_csv(d, "c.csv", &(1..=40).map(uk_mobile).collect::<Vec<_>>());
    let fast = ["--rate", "100", "--in-flight", "8"];
    let worker = TestWorker::spawn(d, &sim, &fast).await;
    detach(d, &sim, &[&["run", "c.csv"][..], &SMS_FLAGS].concat());
    let store = store_in(d).await;
    let id = CampaignId(1);
    // Eight requests leave 10 ms apart and each is answered 1.5 s later: when the first is
    // processed, the other seven are still in flight.
    wait_for("the first send processed", || async {
        (!sim.ledger().is_empty()).then_some(())
    })
    .await;
    assert!(worker.stop().success(), "SIGTERM drains, then exits 0");
    let c = store.counts(id).await.unwrap();
    let accepted = sim
        .ledger()
        .iter()
        .filter(|e| e.event == "accepted")
        .count() as i64;
    assert_eq!(c.sending + c.uncertain, 0, "nothing left in doubt: {c:?}");
    assert!(accepted > 1, "what was in flight was sent: {accepted}");
    assert_eq!(
        crate::helpers::reached(&c) + c.failed,
        accepted,
        "and recorded: {c:?}"
    );
    assert_eq!(c.queued, 40 - accepted, "{c:?}");
    assert_eq!(
        store.standing(id).await.unwrap().state,
        campaign::queue::CampaignState::Running
    );

    let _next = TestWorker::spawn(d, &sim, &fast).await;
    wait_for("the rest, by the next worker", || async {
        (sends_per_phone(&sim).len() == 40).then_some(())
    })
    .await;
    assert!(sends_per_phone(&sim).values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_of_the_token_in_the_first_minute_warns_of_another_sender() {
    // Two databases sending with one token share its 10/s without knowing: the API answers
    // 2008. A worker that meets it in its first minute says so.
    let sim = spawn_sim(|c| c.token_rate = 2).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recipients_csv(d, "c.csv", &(1..=8).map(uk_mobile).collect::<Vec<_>>());
    detach(d, &sim, &[&["run", "c.csv"][..], &SMS_FLAGS].concat());
    let worker = TestWorker::spawn(d, &sim, &[]).await;
    wait_for("the warning", || async {
        worker
            .log()
            .contains("another process is probably sending with the same token")
            .then_some(())
    })
    .await;
    assert_eq!(
        worker.log().matches("another process is probably").count(),
        1,
        "said once: {}",
        worker.log()
    );
    assert!(worker.stop().success());
}
