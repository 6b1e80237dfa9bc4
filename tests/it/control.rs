//! `campaign pause|resume|cancel` from another terminal while a run sends the campaign, and
//! `campaign list` showing who sends it.

use chrono::{DateTime, Utc};

use crate::helpers::{
    SMS_FLAGS, TestSim, campaign_cmd, recipients_csv, sends_per_phone, spawn_campaign, spawn_sim,
    uk_mobile, wait_for,
};

/// `campaign run` of customers.csv at 5 a second, without waiting for acks.
fn run_args() -> Vec<&'static str> {
    let pace = ["--rate", "5", "--in-flight", "4", "--no-wait"];
    [&["run", "customers.csv"][..], &SMS_FLAGS, &pace].concat()
}

fn last_send(sim: &TestSim) -> DateTime<Utc> {
    sim.ledger()
        .iter()
        .map(|e| {
            DateTime::parse_from_rfc3339(&e.time)
                .unwrap()
                .with_timezone(&Utc)
        })
        .max()
        .unwrap()
}

/// Starts a run of 30 recipients at 5/s and returns once three are sent.
async fn sending(sim: &TestSim, dir: &std::path::Path) -> std::process::Child {
    recipients_csv(
        dir,
        "customers.csv",
        &(1..=30).map(uk_mobile).collect::<Vec<_>>(),
    );
    let child = spawn_campaign(dir, sim, &run_args());
    wait_for("three sends", || async {
        (sim.ledger().len() >= 3).then_some(())
    })
    .await;
    child
}

fn control(dir: &std::path::Path, args: &[&str]) -> (DateTime<Utc>, String) {
    let out = campaign_cmd(dir, args);
    let returned = Utc::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (returned, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_campaign_sends_nothing_a_second_after_and_resume_goes_on_where_it_stopped() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = sending(&sim, d).await;
    let list = |d| {
        let out = campaign_cmd(d, &["list", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
    };
    let listed = list(d);
    assert!(
        listed["sending_now"]
            .as_str()
            .unwrap_or("")
            .starts_with("pid "),
        "{listed}"
    );
    assert!(
        listed["token"].as_str().unwrap_or("").starts_with("fp:"),
        "{listed}"
    );
    assert_eq!(listed["total"], 30, "{listed}");
    let (returned, said) = control(d, &["pause", "customers"]);
    assert!(said.contains("paused"), "{said}");
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("paused by the operator"), "{stderr}");
    assert!(last_send(&sim) <= returned + chrono::TimeDelta::seconds(1));
    let sent = sim.ledger().len();
    assert!(sent < 30, "it stopped part way: {sent}");
    let listed = list(d);
    assert_eq!(listed["state"], "paused", "{listed}");
    assert!(listed["sending_now"].is_null(), "{listed}");

    // While paused, another run sends nothing.
    let again = spawn_campaign(d, &sim, &run_args())
        .wait_with_output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(sim.ledger().len(), sent);

    control(d, &["resume", "1"]);
    let rest = spawn_campaign(d, &sim, &run_args())
        .wait_with_output()
        .unwrap();
    assert!(
        rest.status.success(),
        "{}",
        String::from_utf8_lossy(&rest.stderr)
    );
    let per_phone = sends_per_phone(&sim);
    assert_eq!(per_phone.len(), 30);
    assert!(per_phone.values().all(|n| *n == 1), "{per_phone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_campaign_cancels_what_is_unsent_and_leaves_what_was_sent() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = sending(&sim, d).await;
    let (returned, said) = control(d, &["cancel", "1"]);
    assert!(said.contains("cancelled"), "{said}");
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(last_send(&sim) <= returned + chrono::TimeDelta::seconds(1));
    let status = campaign_cmd(d, &["status", "1", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let sent = sim.ledger().len() as u64;
    assert_eq!(status["state"], "cancelled", "{status}");
    let reached = ["sent", "delivered", "read", "replied"]
        .iter()
        .map(|s| status["counts"][s].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(reached, sent, "{status}");
    assert_eq!(status["counts"]["cancelled"], 30 - sent, "{status}");
    for verb in ["resume", "pause", "cancel"] {
        let refused = campaign_cmd(d, &[verb, "1"]);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success()
                && said.contains(&format!(
                    "campaign 1 is cancelled, and a cancelled campaign stays so: nothing to {verb}"
                )),
            "{verb}: {said}"
        );
    }
    let ambiguous = campaign_cmd(d, &["pause", "nobody"]);
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("no campaign \"nobody\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_cancel_refuse_a_finished_campaign_and_resume_one_not_paused() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recipients_csv(d, "customers.csv", &[uk_mobile(1), uk_mobile(2)]);
    let args = [
        &["run", "customers.csv"][..],
        &SMS_FLAGS,
        &["--wait", "20s"],
    ]
    .concat();
    let out = spawn_campaign(d, &sim, &args).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (verb, says) in [
        (
            "pause",
            "campaign 1 has nothing left to send (finished): nothing to pause",
        ),
        (
            "cancel",
            "campaign 1 has nothing left to send (finished): nothing to cancel",
        ),
        (
            "resume",
            "campaign 1 is not paused (finished): nothing to resume",
        ),
    ] {
        let refused = campaign_cmd(d, &[verb, "1"]);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && said.contains(says),
            "{verb}: {said}"
        );
    }
    // Nothing changed: the campaign is as the run left it.
    let status = campaign_cmd(d, &["status", "1", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["state"], "finished", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_says_the_cancelled_count_that_status_shows_right_after() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::helpers::ann_and_bob(d, None);
    std::fs::write(
        d.join("c.toml"),
        "channel = \"sms\"\nbot_id = 3941\ncsv = \"r.csv\"\nmessage = \"Hi {name}\"\n",
    )
    .unwrap();
    crate::helpers::campaign_ok(d, &sim, &["run", "c.toml", "--no-wait"]);
    // A new campaign of the name, one more recipient: Ann and Bob are cancelled at once (the
    // first reached them), Cy waits for a worker.
    let mut csv = std::fs::read_to_string(d.join("r.csv")).unwrap();
    csv.push_str(&format!("{},Cy\n", uk_mobile(3)));
    std::fs::write(d.join("r.csv"), csv).unwrap();
    crate::helpers::campaign_ok(d, &sim, &["run", "c.toml", "--new", "--detach"]);
    let (_, said) = control(d, &["cancel", "2"]);
    let status = campaign_cmd(d, &["status", "2", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["counts"]["cancelled"], 3, "{status}");
    assert!(
        said.contains("1 queued message cancelled now (3 cancelled in all)"),
        "{said}"
    );
}
