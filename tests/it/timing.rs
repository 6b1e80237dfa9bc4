//! When messages may go (issue 11): expiry after downtime; time is set by the test (messages
//! queued "hours ago" are written so), none is slept through.

use crate::helpers::{accepted_to, campaign_cmd, spawn_campaign, spawn_sim, store_in, uk_mobile};

const HOUR: i64 = 3_600_000;

/// An SMS campaign file `c.toml` over `c.csv` with `phones` and the `extra` keys.
fn campaign_file(dir: &std::path::Path, extra: &str, phones: &[u32]) {
    let rows: String = phones
        .iter()
        .map(|i| format!("{},N{i}\n", uk_mobile(*i)))
        .collect();
    std::fs::write(dir.join("c.csv"), format!("phone,name\n{rows}")).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "name = \"reminders\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{name}}\"\ncsv = \"c.csv\"\n{extra}"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_older_than_max_age_expire_instead_of_going_out_late() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    campaign_file(d, "max_age = \"6h\"\n", &[1, 2, 3]);
    let store = store_in(d).await;
    let def = campaign::campaign::definition::CampaignFile::read(&d.join("c.toml"))
        .unwrap()
        .with(Default::default())
        .unwrap();
    let id = crate::helpers::queue(&store, &sim, &def)
        .await
        .campaign
        .unwrap();
    let (queued, expires): (i64, i64) =
        sqlx::query_as("SELECT queued_ms, expires_ms FROM messages WHERE line = 2")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        expires - queued,
        6 * HOUR,
        "max_age from when it was queued"
    );
    // Two of them were queued seven hours ago, before the downtime.
    let now = campaign::clock::now_ms();
    sqlx::query("UPDATE messages SET queued_ms = ?, expires_ms = ? WHERE line IN (2, 3)")
        .bind(now - 7 * HOUR)
        .bind(now - HOUR)
        .execute(store.pool())
        .await
        .unwrap();
    let out = spawn_campaign(
        d,
        &sim,
        &["run", "reminders", "--wait", "20s", "--poll-first", "1s"],
    )
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<String> = accepted_to(&sim, "+44")
        .into_iter()
        .map(|e| e.phone)
        .collect();
    assert_eq!(sent, [uk_mobile(3)], "only the one still in time (line 4)");
    let counts = store.counts(id).await.unwrap();
    assert_eq!(counts.expired, 2, "{counts:?}");
    let status = campaign_cmd(d, &["status", "reminders"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("expired 2"));
}
