//! Schedules (issue 11): runs fired once whoever gets there first, missed runs within and
//! beyond the grace, restarts that neither repeat nor lose a run, batches and their dedupe.
//! Time is chosen by the test: the engine's firing takes `now`.

use campaign::engine::{Firing, fire_schedules, register_and_fire};
use campaign::queue::{CampaignId, Store};
use campaign::schedule::utc;

use crate::helpers::{TestSim, TestWorker, campaign_cmd, spawn_sim, store_in, uk_mobile, wait_for};

/// A scheduled SMS campaign file `daily.toml` (in London time) over `c.csv` with `phones`.
fn scheduled_file(dir: &std::path::Path, schedule: &str, extra: &str, phones: &[u32]) -> String {
    scheduled_in(dir, schedule, "Europe/London", extra, phones)
}

fn scheduled_in(
    dir: &std::path::Path,
    schedule: &str,
    tz: &str,
    extra: &str,
    phones: &[u32],
) -> String {
    let rows: String = phones
        .iter()
        .map(|i| format!("{},N{i}\n", uk_mobile(*i)))
        .collect();
    std::fs::write(dir.join("c.csv"), format!("phone,name\n{rows}")).unwrap();
    let file = dir.join("daily.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"daily\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{name}}\"\ncsv = \"c.csv\"\n\
             schedule = \"{schedule}\"\ntimezone = \"{tz}\"\n{extra}"
        ),
    )
    .unwrap();
    file.display().to_string()
}

fn definition(file: &str) -> campaign::campaign::definition::Definition {
    use campaign::campaign::definition::CampaignFile;
    CampaignFile::read(std::path::Path::new(file))
        .unwrap()
        .with(CampaignFile::default())
        .unwrap()
}

/// The campaign's batches, oldest first: (slot, state, messages).
async fn batches(store: &Store, id: CampaignId) -> Vec<(String, String, i64)> {
    let mut rows: Vec<_> = store
        .batches(id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            (
                campaign::clock::rfc3339_secs(b.slot),
                b.state.to_string(),
                b.messages,
            )
        })
        .collect();
    rows.reverse();
    rows
}

/// Registers the schedule at `at` as `campaign schedule add` would from the worker's view.
async fn registered(store: &Store, sim: &TestSim, file: &str, at: i64) -> CampaignId {
    let token = sim.client().token_fingerprint();
    let (id, firing) = register_and_fire(store, &definition(file), file, &token, at)
        .await
        .unwrap();
    assert!(matches!(firing, Firing::NotDue { .. }), "{firing:?}");
    id
}

#[tokio::test]
async fn a_worker_restarted_mid_day_neither_repeats_nor_loses_the_nine_oclock_run() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let file = scheduled_file(dir.path(), "0 9 * * *", "", &[1, 2, 3]);
    let id = registered(&store, &sim, &file, utc("2026-12-01T08:00:00Z")).await;
    let (client, token) = (sim.client(), sim.client().token_fingerprint());
    let fire = |now: &str, recover: bool| {
        let (store, client, token, now) = (store.clone(), client.clone(), token.clone(), utc(now));
        async move {
            fire_schedules(&store, &client, &token, now, recover)
                .await
                .unwrap()
        }
    };
    fire("2026-12-01T08:59:59Z", true).await;
    assert!(batches(&store, id).await.is_empty(), "not yet");
    fire("2026-12-01T09:00:01Z", false).await;
    // The worker dies; another starts at 09:10 (within the grace) and one at noon: the 09:00
    // run is not fired again.
    fire("2026-12-01T09:10:00Z", true).await;
    fire("2026-12-01T12:00:00Z", true).await;
    fire("2026-12-01T12:00:01Z", false).await;
    // Down over the next 09:00, up at 09:20: within the hour of grace, fired once, late.
    fire("2026-12-02T09:20:00Z", true).await;
    assert_eq!(
        batches(&store, id).await,
        [
            ("2026-12-01T09:00:00Z".into(), "loaded".into(), 3),
            ("2026-12-02T09:00:00Z".into(), "loaded".into(), 3),
        ],
        "each run once: without a dedupe key every run sends to everyone its source has"
    );
    assert_eq!(store.counts(id).await.unwrap().queued, 6);
}

#[tokio::test]
async fn a_run_missed_beyond_the_grace_is_skipped_and_the_skip_is_recorded() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let file = scheduled_file(dir.path(), "0 9 * * *", "grace = \"30m\"\n", &[1]);
    let id = registered(&store, &sim, &file, utc("2026-12-01T08:00:00Z")).await;
    let token = sim.client().token_fingerprint();
    // Nothing ran from 08:00 until 11:00 two days later: both runs are skipped, once each.
    let now = utc("2026-12-02T11:00:00Z");
    fire_schedules(&store, &sim.client(), &token, now, true)
        .await
        .unwrap();
    fire_schedules(&store, &sim.client(), &token, now + 1000, false)
        .await
        .unwrap();
    let rows = store.batches(id).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let reason = rows[0].reason.clone().unwrap();
    assert_eq!(rows[0].state, campaign::queue::BatchState::Skipped);
    assert!(
        reason.contains("skipped 2 runs (2026-12-01 09:00 GMT to 2026-12-02 09:00 GMT)")
            && reason.contains("more than 30m past"),
        "{reason}"
    );
    assert_eq!(
        store.counts(id).await.unwrap().total,
        0,
        "nothing sent late"
    );
    let next = store.schedules(None).await.unwrap()[0].next_run_at;
    assert_eq!(campaign::clock::rfc3339_secs(next), "2026-12-03T09:00:00Z");
}

#[tokio::test]
async fn with_a_dedupe_key_a_recipient_of_an_earlier_batch_is_not_sent_again_within_the_window() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    // The store's clock stands at each firing, as a worker's would: batches are queued then.
    let clock = campaign::clock::ManualClock::at(utc("2026-12-01T08:00:00Z"));
    let store = store_in(dir.path()).await.with_clock(clock.clone());
    let extra = "dedupe_key = \"{phone}\"\ndedupe_window = \"7d\"\n";
    let file = scheduled_file(dir.path(), "0 9 * * *", extra, &[1, 2]);
    let id = registered(&store, &sim, &file, utc("2026-12-01T08:00:00Z")).await;
    let token = sim.client().token_fingerprint();
    let fire = |now: &str| {
        let now = utc(now);
        clock.set(now);
        let (store, client, token) = (store.clone(), sim.client(), token.clone());
        async move {
            fire_schedules(&store, &client, &token, now, false)
                .await
                .unwrap()
        }
    };
    fire("2026-12-01T09:00:00Z").await;
    // The next day the source has a third number: only that one is new.
    scheduled_file(dir.path(), "0 9 * * *", extra, &[1, 2, 3]);
    fire("2026-12-02T09:00:00Z").await;
    // A week on (the runs between missed, and skipped): batch 1 was queued eight days ago,
    // out of the window, batch 2 seven, within it.
    fire("2026-12-09T09:00:00Z").await;
    let sizes: Vec<i64> = batches(&store, id).await.into_iter().map(|b| b.2).collect();
    assert_eq!(
        sizes,
        [2, 1, 0, 2],
        "the last batch: the two of batch 1 (out of the window), not batch 2's"
    );
    let summary: String = sqlx::query_scalar("SELECT load_summary FROM batches WHERE id = 2")
        .fetch_one(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["earlier_batch"], 2, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_run_fires_its_run_once_however_often_cron_starts_it() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A daily run at this very minute (UTC): the run cron would start this for.
    let now = chrono::Utc::now();
    let pattern = format!("{} {} * * *", now.format("%M"), now.format("%H"));
    scheduled_in(d, &pattern, "UTC", "", &[1, 2]);
    let run = || crate::helpers::campaign_ok(d, &sim, &["run", "daily.toml", "--wait", "20s"]);
    let first = run();
    assert!(first.contains("fires as batch 1"), "{first}");
    let second = run();
    assert!(
        second.contains("already fired as batch 1; sending what it has queued"),
        "{second}"
    );
    assert_eq!(
        crate::helpers::phones_sent(&sim, "+44").len(),
        2,
        "each number once"
    );
    let list = campaign_cmd(d, &["schedule", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["schedule"], pattern.as_str());
    assert_eq!(list[0]["batches"][0]["messages"], 2);
    let tomorrow = (now + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:00Z")
        .to_string();
    assert_eq!(list[0]["next_runs"][0], tomorrow.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_fires_a_due_schedule_and_sends_its_batch() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scheduled_file(d, "0 9 * * *", "", &[4, 5]);
    crate::helpers::token_file(d, "token", crate::helpers::TOKEN);
    let add = campaign_cmd(
        d,
        &["schedule", "add", "daily.toml", "--token-file", "token"],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    assert!(String::from_utf8_lossy(&add.stdout).contains("next runs:"));
    // Its next run came while nothing ran, a moment ago.
    let store = store_in(d).await;
    sqlx::query("UPDATE schedules SET next_run_at = ?")
        .bind(campaign::clock::now_ms() - 1000)
        .execute(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    let worker = TestWorker::spawn(d, &sim, &[]).await;
    wait_for("the batch to be sent", || async {
        (crate::helpers::phones_sent(&sim, "+44").len() == 2).then_some(())
    })
    .await;
    assert!(
        worker.log().contains("scheduled run fired"),
        "{}",
        worker.log()
    );
    assert!(worker.stop().success());
    let status = campaign_cmd(d, &["status", "daily"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("batch     1"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn schedules_that_cannot_be_what_the_operator_meant_are_refused_at_validate_and_add() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::helpers::token_file(d, "token", crate::helpers::TOKEN);
    for (schedule, said) in [
        ("*/5 * * * * *", "6 fields (a sixth field would be seconds"),
        ("0 0 31 2 *", "'0 0 31 2 *' never fires"),
    ] {
        scheduled_file(d, schedule, "", &[1]);
        for args in [
            &["validate", "daily.toml"][..],
            &["schedule", "add", "daily.toml", "--token-file", "token"],
        ] {
            let out = campaign_cmd(d, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} took {schedule}");
            assert!(stderr.contains(said), "{args:?}: {stderr}");
        }
    }
    let list = campaign_cmd(d, &["schedule", "list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("1970"));
}
