//! The text channel (issue 22, item 1): SendTextMessage inside the 24-hour window the
//! recipient's last message opened, the window checked at load, the mid found in the
//! conversation.

use campaign::campaign::definition::CampaignFile;
use campaign::campaign::{self as camp, LoadOptions};
use campaign::convrs::wire::User;
use campaign::queue::{Effect, HearRules, Heard, InboundMessage, InboundSource};
use serde_json::Value;

use crate::helpers::{TestSim, accepted_to, campaign_cmd, campaign_ok, spawn_sim};

/// Four WhatsApp users of bot 3941: Ann, Bob, Cy, Di (`3941-wa3-4479110000NN`).
fn users() -> Vec<User> {
    ["Ann", "Bob", "Cy", "Di"]
        .iter()
        .enumerate()
        .map(|(i, name)| User {
            uid: uid(i + 1),
            name: (*name).into(),
            phone: format!("+4479110000{:02}", i + 1),
            bot: "WA3".into(),
            bot_id: 3941,
            created: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        })
        .collect()
}

fn uid(n: usize) -> String {
    format!("3941-wa3-4479110000{n:02}")
}

/// The user wrote to us `ago` ago.
async fn wrote(sim: &TestSim, n: usize, ago: chrono::TimeDelta) {
    let dt = (chrono::Utc::now() - ago).to_rfc3339();
    let answer = sim
        .call(
            "SimClientMessage",
            serde_json::json!({"uid": uid(n), "message": "where is my order?", "dt": dt}),
        )
        .await;
    assert_eq!(answer["ok"], 1, "{answer}");
}

/// A text campaign file over the four users, by uid.
fn text_campaign(dir: &std::path::Path) {
    let rows: String = users()
        .iter()
        .map(|u| format!("{},{}\r\n", u.uid, u.name))
        .collect();
    std::fs::write(dir.join("r.csv"), format!("uid,name\r\n{rows}")).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "channel = \"text\"\nbot_id = 3941\ncsv = \"r.csv\"\nmessage = \"Hi {name}, your order shipped\"\n",
    )
    .unwrap();
}

/// The store in `dir` on a manual clock, and the text campaign file's definition.
async fn clocked(
    dir: &std::path::Path,
) -> (
    campaign::queue::Store,
    std::sync::Arc<campaign::clock::ManualClock>,
    campaign::campaign::definition::Definition,
) {
    let clock = campaign::clock::ManualClock::now();
    let store = crate::helpers::store_in(dir)
        .await
        .with_clock(clock.clone());
    let def = CampaignFile::read(&dir.join("c.toml"))
        .unwrap()
        .with(CampaignFile::default())
        .unwrap();
    (store, clock, def)
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_goes_only_to_whom_wrote_within_24_hours_and_its_mid_is_found_in_the_conversation() {
    let sim = spawn_sim(|c| c.users = users()).await;
    let minutes = chrono::TimeDelta::minutes;
    wrote(&sim, 1, minutes(60)).await;
    wrote(&sim, 2, minutes(25 * 60)).await;
    // Cy never wrote; Di wrote 23 h 55 min ago: inside 24 hours, not inside the 10-minute margin.
    wrote(&sim, 4, minutes(23 * 60 + 55)).await;
    let dir = tempfile::tempdir().unwrap();
    text_campaign(dir.path());
    let validate = String::from_utf8_lossy(
        &crate::helpers::spawn_campaign(dir.path(), &sim, &["validate", "c.toml"])
            .wait_with_output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        validate.contains("24-hour window: 1 recipient inside it now")
            && validate.contains("3 outside it"),
        "{validate}"
    );
    campaign_ok(
        dir.path(),
        &sim,
        &["run", "c.toml", "--wait", "30s", "--poll-first", "1s"],
    );
    let sent: Vec<_> = accepted_to(&sim, "+44")
        .into_iter()
        .map(|e| (e.cmd, e.phone, e.message))
        .collect();
    assert_eq!(
        sent,
        [(
            "SendTextMessage".to_string(),
            "+447911000001".to_string(),
            Some("Hi Ann, your order shipped".to_string())
        )]
    );
    let status = json(&campaign_cmd(dir.path(), &["status", "c", "--json"]));
    // `ok: 1` without a mid was taken as sent; the mid found in Ann's conversation was then
    // polled to delivered.
    assert_eq!(status["funnel"]["delivered"], 1, "{status}");
    assert_eq!(status["untracked"], 0, "{status}");
    let store = crate::helpers::store_in(dir.path()).await;
    let id = campaign::queue::CampaignId(status["id"].as_i64().unwrap());
    let rejects = store.rejects(id).await.unwrap();
    // Taken as sent from its answer, not reconciled as an ambiguous one.
    let ann = store.lookup("+447911000001").await.unwrap();
    assert_eq!(
        (ann.messages[0].attempts, ann.messages[0].error.as_deref()),
        (1, None),
        "{:?}",
        ann.messages
    );
    let reasons: Vec<(&str, &str)> = rejects
        .iter()
        .map(|r| (r.field.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().all(|(field, _)| *field == "uid"),
        "{reasons:?}"
    );
    assert!(
        reasons[0].1.contains("last wrote to us at") && reasons[0].1.contains("template"),
        "{reasons:?}"
    );
    assert!(reasons[1].1.contains("never wrote to us"), "{reasons:?}");
    assert!(reasons[2].1.contains("10 min margin"), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_table_opens_the_window_and_each_message_expires_when_it_closes() {
    // The API never heard from Cy, but the receiver did: the inbound table is read first.
    let sim = spawn_sim(|c| c.users = users()).await;
    let dir = tempfile::tempdir().unwrap();
    text_campaign(dir.path());
    let (store, _clock, def) = clocked(dir.path()).await;
    let heard_at = store.now_ms() - 3_600_000;
    let said = InboundMessage {
        mid: "in-1",
        uid: &uid(3),
        phone: Some("+447911000003"),
        text: "hello?",
        dt_ms: heard_at,
        source: InboundSource::Event,
        verdict: Heard::Other,
    };
    store
        .hear_inbound(&said, Effect::None, &HearRules::default())
        .await
        .unwrap();
    let loaded = camp::load(&def, &store, Some(&sim.client()), &LoadOptions::default())
        .await
        .unwrap();
    let window = loaded.summary.text_window.unwrap();
    assert_eq!((window.open, window.closed), (1, 3), "{window:?}");
    let closes = heard_at + 24 * 3_600_000 - 10 * 60_000;
    assert_eq!(window.first_close_ms, Some(closes));
    let id = loaded.campaign.unwrap();
    // A minute before the window closes it is still queued; at its close it expires.
    store.expire_due(Some(id), closes - 60_000).await.unwrap();
    assert_eq!(store.counts(id).await.unwrap().queued, 1);
    store.expire_due(Some(id), closes).await.unwrap();
    let counts = store.counts(id).await.unwrap();
    assert_eq!((counts.queued, counts.expired), (0, 1), "{counts:?}");
    let story = store.lookup("+447911000003").await.unwrap();
    let why = story.messages[0].error.clone().unwrap_or_default();
    assert!(
        why.contains("24-hour window") && why.contains("closed"),
        "{why}"
    );
    assert!(accepted_to(&sim, "+44").is_empty());
}

#[test]
fn every_example_campaign_file_reads_and_builds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("campaigns");
    let mut built = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            CampaignFile::read(&path)
                .and_then(|f| f.with(CampaignFile::default()))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            built += 1;
        }
    }
    assert!(built >= 9, "{built} campaign files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_whose_conversation_never_shows_it_is_left_untracked_after_three_reads() {
    use campaign::queue::Outcome;
    use campaign::tracking::PollSchedule;
    use campaign::tracking::poller::poll_due;
    let sim = spawn_sim(|c| c.users = users()).await;
    wrote(&sim, 1, chrono::TimeDelta::minutes(5)).await;
    let dir = tempfile::tempdir().unwrap();
    text_campaign(dir.path());
    let (store, clock, def) = clocked(dir.path()).await;
    let client = sim.client();
    let id = camp::load(&def, &store, Some(&client), &LoadOptions::default())
        .await
        .unwrap()
        .campaign
        .unwrap();
    // Taken as sent without a mid, but (unlike a real send) nothing reached Ann's
    // conversation: only her own message is there.
    let lease = crate::helpers::lease(&store, id).await;
    let due: Vec<i64> = store
        .due(id, i64::MAX, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.0)
        .collect();
    let claims = store.claim(&lease, &due).await.unwrap();
    assert_eq!(claims.len(), 1);
    let sent = Outcome::SentUnidentified {
        uid: uid(1),
        poll_at: store.now_ms(),
    };
    assert!(store.finish(&claims[0], &sent).await.unwrap());
    let schedule = PollSchedule::default();
    let limiter = schedule.limiter();
    let cancel = tokio_util::sync::CancellationToken::new();
    for read in 0..3 {
        assert_eq!(store.untracked(id).await.unwrap(), 0, "before read {read}");
        poll_due(&store, &client, id, &schedule, &[&limiter], &cancel)
            .await
            .unwrap();
        clock.advance(schedule.after(read + 1));
    }
    assert_eq!(store.untracked(id).await.unwrap(), 1);
    let story = store.lookup("+447911000001").await.unwrap();
    let why = story.messages[0].error.clone().unwrap_or_default();
    assert!(
        why.starts_with("untracked:") && why.contains("3 reads"),
        "{why}"
    );
    assert_eq!(story.messages[0].state, campaign::queue::MessageState::Sent);
    // The report says so too.
    let page = dir.path().join("r.html");
    campaign::report::write_html(&store, id, &page)
        .await
        .unwrap();
    let page = std::fs::read_to_string(page).unwrap();
    assert!(
        page.contains("1 text was accepted without a message id"),
        "{page}"
    );
    // Nothing follows: no more reads, and a run waiting for delivery does not wait for it.
    assert_eq!(store.next_poll(id).await.unwrap(), None);
    assert_eq!(store.undelivered(id).await.unwrap(), 0);
}
