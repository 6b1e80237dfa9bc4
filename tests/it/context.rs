//! Context after the send (`[after_send]`), end to end against the simulator: each recipient's
//! user tagged and given data once the message is accepted, and a tag that cannot be set
//! stopping the context jobs while the sends go on.

use serde_json::{Value, json};

use crate::helpers::{campaign_cmd, campaign_ok, phones_sent, spawn_sim, uk_mobile};

/// An SMS campaign of two recipients with the `[after_send]` table `after_send`.
fn campaign_with(dir: &std::path::Path, after_send: &str) {
    crate::helpers::ann_and_bob(dir, Some(("order", ["O-1", "O-2"])));
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "channel = \"sms\"\nbot_id = 3941\ncsv = \"r.csv\"\nmessage = \"Hi {{name}}\"\n\
             [after_send]\n{after_send}"
        ),
    )
    .unwrap();
}

fn status(dir: &std::path::Path) -> Value {
    let out = campaign_cmd(dir, &["status", "c", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_recipient_is_tagged_and_given_data_once_the_message_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    campaign_with(
        dir.path(),
        "tag = \"spring-sale\"\ncreate_tag = true\ndata = { order = \"{order}\", campaign = \"spring\" }\n",
    );
    let sim = spawn_sim(|_| {}).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    for (i, order) in [(1, "O-1"), (2, "O-2")] {
        let uid = format!("3941-cms-{}", uk_mobile(i).trim_start_matches('+'));
        let tags = sim.call("GetUserTags", json!({ "uid": uid })).await;
        assert_eq!(tags["data"], json!(["spring-sale"]), "{uid}: {tags}");
        let data = sim.call("SimUserData", json!({ "uid": uid })).await;
        assert_eq!(
            data["data"],
            json!({ "order": order, "campaign": "spring" }),
            "{uid}"
        );
    }
    let context = &status(dir.path())["context"];
    assert_eq!(context, &json!({ "done": 2, "pending": 0, "failed": 0 }));
    let report = campaign_cmd(dir.path(), &["report", "c", "--html", "r.html"]);
    assert!(report.status.success());
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(
        page.contains("<p id=\"context\">Tags and data set on the recipients: 2 done, 0 pending, 0 failed.</p>"),
        "the report's context section"
    );
    let shown = campaign_cmd(dir.path(), &["status", "c"]);
    assert!(
        String::from_utf8_lossy(&shown.stdout)
            .contains("context after the send: 2 done, 0 pending, 0 failed"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_that_does_not_exist_stops_the_context_while_the_sends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    campaign_with(dir.path(), "tag = \"no-such-tag\"\n");
    let sim = spawn_sim(|_| {}).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    assert_eq!(phones_sent(&sim, "+44").len(), 2, "the sends went on");
    let context = &status(dir.path())["context"];
    assert_eq!(
        (&context["done"], &context["pending"]),
        (&json!(0), &json!(2))
    );
    let stopped = context["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.contains("\"no-such-tag\" cannot be set")
            && stopped.contains("3053")
            && stopped.contains("create_tag = true"),
        "{context}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_sets_the_context_of_a_detached_campaign_once_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    campaign_with(
        dir.path(),
        "when = \"delivered\"\ntag = \"welcome\"\ncreate_tag = true\n",
    );
    let sim = spawn_sim(|_| {}).await;
    let worker = crate::helpers::TestWorker::spawn(dir.path(), &sim, &[]).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--detach"]);
    let done = crate::helpers::wait_for("the worker to tag both recipients", || async {
        let context = status(dir.path())["context"].clone();
        (context["done"] == 2).then_some(context)
    })
    .await;
    assert_eq!(done, json!({ "done": 2, "pending": 0, "failed": 0 }));
    let uid = format!("3941-cms-{}", uk_mobile(1).trim_start_matches('+'));
    let tags = sim.call("GetUserTags", json!({ "uid": uid })).await;
    assert_eq!(tags["data"], json!(["welcome"]));
    worker.stop();
}
