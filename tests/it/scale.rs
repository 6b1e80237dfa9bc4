//! Several workers sharing one PostgreSQL queue: the tokens spread over them, and when one is
//! killed the others take its tokens over and finish them, every recipient sent once and every
//! token within its limit.

use crate::contract::fresh_pg_database;
use crate::helpers::{
    SMS_FLAGS, TestWorker, busiest_second, campaign_cmd, recipients_csv, sends_per_phone,
    spawn_sim, wait_for,
};

const TOKENS: [&str; 3] = [
    "scale-token-one-1234",
    "scale-token-two-5678",
    "scale-token-three-90",
];
const PER_TOKEN: u32 = 40;

fn phone(token: usize, i: u32) -> String {
    format!("+447911{token}{i:05}")
}

/// How many tokens each worker says it holds (/healthz).
async fn held(worker: &TestWorker) -> usize {
    let (_, body) = worker.get("/healthz").await;
    body.matches("\"state\":\"held\"").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_three_tokens_and_finish_a_killed_ones_work() {
    let sim = spawn_sim(|c| {
        c.tokens = TOKENS.iter().map(|t| t.to_string()).collect();
        c.token_rate = 10;
        c.number_rate = 1;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(db) = fresh_pg_database().await else {
        return;
    };
    let mut files = vec![];
    for (i, token) in TOKENS.iter().enumerate() {
        let file = crate::helpers::token_file(d, &format!("token{i}"), token);
        files.push(file.to_str().unwrap().to_string());
    }
    let mut worker_args = vec![
        "--db",
        &db,
        "--reconcile-after",
        "2s",
        "--request-timeout",
        "1s",
    ];
    for file in &files {
        worker_args.extend(["--token-file", file.as_str()]);
    }
    let mut workers = vec![];
    for _ in 0..3 {
        workers.push(TestWorker::spawn(d, &sim, &worker_args).await);
    }
    // Each takes its share: one token.
    for worker in &workers {
        wait_for("each worker to hold one token", || async {
            (held(worker).await == 1).then_some(())
        })
        .await;
    }
    for (i, file) in files.iter().enumerate() {
        let phones: Vec<String> = (0..PER_TOKEN).map(|n| phone(i, n)).collect();
        let csv = format!("c{i}.csv");
        recipients_csv(d, &csv, &phones);
        let args = [
            &[
                "run",
                csv.as_str(),
                "--detach",
                "--db",
                &db,
                "--token-file",
                file,
            ][..],
            &SMS_FLAGS,
        ]
        .concat();
        let out = campaign_cmd(d, &[&args[..], &["--api-url", &sim.url()]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Mid-way, one worker dies.
    wait_for("a third of the sends", || async {
        (sends_per_phone(&sim).len() >= PER_TOKEN as usize).then_some(())
    })
    .await;
    workers.remove(0).kill();
    let total = (PER_TOKEN * 3) as usize;
    wait_for("every recipient sent", || async {
        (sends_per_phone(&sim).len() == total).then_some(())
    })
    .await;
    let per_phone = sends_per_phone(&sim);
    assert!(
        per_phone.values().all(|n| *n == 1),
        "sent once each: {per_phone:?}"
    );
    let rejected = sim
        .ledger()
        .iter()
        .filter(|e| e.event == "rate_limited")
        .count();
    assert_eq!(rejected, 0, "no send over a limit");
    let busiest = busiest_second(&sim);
    assert_eq!(busiest.len(), 3);
    assert!(busiest.values().all(|n| *n <= 10), "{busiest:?}");
    // The two left hold all three tokens between them...
    wait_for("the survivors to share the tokens", || async {
        (held(&workers[0]).await + held(&workers[1]).await == 3).then_some(())
    })
    .await;
    // ... and what the dead one had in flight was reconciled: found sent, not sent again.
    let store = campaign::queue::Store::open(&db).await.unwrap();
    for id in 1..=3 {
        let id = campaign::queue::CampaignId(id);
        let counts = wait_for("every campaign settled", || async {
            let c = store.counts(id).await.unwrap();
            (c.queued + c.sending + c.uncertain == 0).then_some(c)
        })
        .await;
        // Every one was accepted once; the simulator's acks fail a few SMS on purpose.
        let accepted = crate::helpers::reached(&counts) + counts.failed;
        assert_eq!(accepted, PER_TOKEN as i64, "{counts:?}");
    }
    assert_eq!(sends_per_phone(&sim).len(), total);
    drop(workers);
    crate::contract::drop_pg_database(&db).await;
}
