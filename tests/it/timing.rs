//! When messages may go (issue 11): expiry after downtime; time is set by the test (messages
//! queued "hours ago" are written so), none is slept through.

use crate::helpers::{campaign_cmd, campaign_ok, phones_sent, spawn_sim, store_in, uk_mobile};

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
            .fetch_one(&crate::helpers::raw(&store).await)
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
        .execute(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    campaign_ok(
        d,
        &sim,
        &["run", "reminders", "--wait", "20s", "--poll-first", "1s"],
    );
    let sent = phones_sent(&sim, "+44");
    assert_eq!(sent, [uk_mobile(3)], "only the one still in time (line 4)");
    let counts = store.counts(id).await.unwrap();
    assert_eq!(counts.expired, 2, "{counts:?}");
    let status = campaign_cmd(d, &["status", "reminders"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("expired 2"));
}

/// A fixed-offset zone where the local time is now `local_hour` o'clock (and some minutes).
fn zone_at_local_hour(local_hour: i64) -> (String, i64) {
    use chrono::Timelike;
    let utc_hour = i64::from(chrono::Utc::now().hour());
    // Etc/GMT-N is N hours ahead of UTC (the sign is POSIX's).
    let offset = (local_hour - utc_hour + 36) % 24 - 12;
    let name = match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    (name, offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_window_holds_recipients_outside_it_and_sends_those_inside() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // US numbers have no single zone: the row's column gives it. Noon for one, 03:00 for the
    // other (offsets within UTC-12..+11, so the two are always different zones).
    let (open, _) = zone_at_local_hour(12);
    let (closed, closed_offset) = zone_at_local_hour(3);
    std::fs::write(
        d.join("c.csv"),
        format!("phone,name,tz\n+12015550123,Ann,{open}\n+14155552671,Bob,{closed}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("c.toml"),
        "name = \"windowed\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {name}\"\ncsv = \"c.csv\"\n\
         send_window = { start = \"09:00\", end = \"20:00\" }\ntimezone_column = \"tz\"\n",
    )
    .unwrap();
    let validate = campaign_cmd(d, &["validate", "c.toml"]);
    let said = String::from_utf8_lossy(&validate.stdout);
    assert!(
        said.contains("1 of the valid recipients are outside their send window now"),
        "{said}"
    );
    campaign_ok(
        d,
        &sim,
        &["run", "c.toml", "--wait", "20s", "--poll-first", "1s"],
    );
    let sent = phones_sent(&sim, "+1");
    assert_eq!(
        sent,
        ["+12015550123"],
        "the open window's recipient, at once"
    );
    let store = store_in(d).await;
    let (state, next, note): (String, i64, String) = sqlx::query_as(
        "SELECT state, next_attempt_at, error FROM messages WHERE phone = '+14155552671'",
    )
    .fetch_one(&crate::helpers::raw(&store).await)
    .await
    .unwrap();
    assert_eq!(state, "queued");
    // It waits until 09:00 in its zone: today's, since it is 03:something there.
    use chrono::Timelike;
    let zone = chrono::FixedOffset::east_opt((closed_offset * 3600) as i32).unwrap();
    let local = chrono::DateTime::from_timestamp_millis(next)
        .unwrap()
        .with_timezone(&zone);
    assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");
    assert!(
        next - campaign::clock::now_ms() <= 6 * HOUR,
        "today's opening, not tomorrow's"
    );
    assert!(
        note.starts_with("outside its send window (09:00-20:00 every day"),
        "{note}"
    );
    let status = campaign_cmd(d, &["status", "windowed"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("outside its send window"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_holds_across_two_campaigns_on_one_token() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = |name: &str, phones: &[u32]| {
        let rows: String = phones
            .iter()
            .map(|i| format!("{},N{i}\n", uk_mobile(*i)))
            .collect();
        std::fs::write(d.join(format!("{name}.csv")), format!("phone,name\n{rows}")).unwrap();
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!(
                "channel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{name}}\"\ncsv = \"{name}.csv\"\ndaily_limit = 3\n"
            ),
        )
        .unwrap();
    };
    file("first", &[1, 2]);
    // The second shares number 2 (started already: free), adds 3 (the third place) and 4.
    file("second", &[2, 3, 4]);
    for name in ["first.toml", "second.toml"] {
        campaign_ok(
            d,
            &sim,
            &["run", name, "--wait", "20s", "--poll-first", "1s"],
        );
    }
    let mut started = phones_sent(&sim, "+44");
    started.sort();
    started.dedup();
    assert_eq!(
        started,
        [1, 2, 3].map(uk_mobile),
        "three distinct recipients, not four"
    );
    let store = store_in(d).await;
    let (state, next): (String, i64) =
        sqlx::query_as("SELECT state, next_attempt_at FROM messages WHERE phone = ?")
            .bind(uk_mobile(4))
            .fetch_one(&crate::helpers::raw(&store).await)
            .await
            .unwrap();
    let first: i64 = sqlx::query_scalar("SELECT MIN(first_ms) FROM token_contacts")
        .fetch_one(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    assert_eq!(
        (state.as_str(), next),
        ("queued", first + 24 * HOUR),
        "waits for the first place to free"
    );
    let status =
        String::from_utf8_lossy(&campaign_cmd(d, &["status", "second"]).stdout).into_owned();
    assert!(
        status.contains("3 of 3 recipients started in the last 24 hours; the rest wait")
            && status.contains("daily limit of the token reached (3 recipients per 24 hours)"),
        "{status}"
    );
}
