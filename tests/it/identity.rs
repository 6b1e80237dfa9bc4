//! What makes a run the same campaign: its name and settings, not where the file lives or a
//! password; a changed setting stops the run until the operator chooses; a rehearsal never
//! touches real sending.

use serde_json::Value;

use crate::helpers::{
    SMS_FLAGS, TOKEN, TestSim, campaign_cmd, pg_execute, recipients_csv, sends_per_phone,
    spawn_campaign, spawn_sim, uk_mobile,
};

/// Runs `campaign run FILE SMS_FLAGS... --no-wait extra` in `dir` against `sim`; returns the
/// exit code and
/// what it printed (stdout, then stderr).
fn run(dir: &std::path::Path, sim: &TestSim, file: &str, extra: &[&str]) -> (i32, String) {
    let args = [&["run", file][..], &SMS_FLAGS, &["--no-wait"], extra].concat();
    let out = spawn_campaign(dir, sim, &args).wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), printed)
}

fn status(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = campaign_cmd(dir, &[&["status"][..], args, &["--json"]].concat());
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_flag_stops_the_run_and_only_an_explicit_choice_sends_again() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let phones: Vec<String> = (1..=3).map(uk_mobile).collect();
    recipients_csv(d, "customers.csv", &phones);
    assert_eq!(run(d, &sim, "customers.csv", &["--region", "GB"]).0, 0);
    assert_eq!(sim.ledger().len(), 3);

    // The same file without --region: nothing is sent, the campaign and the change are named.
    let (code, stderr) = run(d, &sim, "customers.csv", &[]);
    assert_eq!(code, 1, "{stderr}");
    for needed in [
        "campaign 1 \"customers\"",
        "region: \"GB\" → (none)",
        "--resume",
        "--new",
    ] {
        assert!(stderr.contains(needed), "{needed}: {stderr}");
    }
    assert_eq!(sim.ledger().len(), 3, "nobody messaged again");

    // The file moved to another folder is the same campaign: resumed, nobody sent again.
    std::fs::create_dir(d.join("moved")).unwrap();
    std::fs::rename(d.join("customers.csv"), d.join("moved/customers.csv")).unwrap();
    let (code, stderr) = run(d, &sim, "moved/customers.csv", &["--region", "GB"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        status(d, &[]).as_array().map(Vec::len),
        Some(1),
        "one campaign"
    );
    assert_eq!(sim.ledger().len(), 3);

    // --new starts campaign 2, which skips everyone campaign 1 reached.
    let (code, stderr) = run(d, &sim, "moved/customers.csv", &["--new"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sim.ledger().len(), 3, "already reached: skipped");
    let second = status(d, &["2"]);
    assert_eq!(second["counts"]["cancelled"], 3, "{second}");
    assert!(
        second["failures"]
            .to_string()
            .contains("already reached by campaign 1")
            || stderr.contains("an earlier campaign of this name reached them"),
        "{second} {stderr}"
    );

    // --resume goes on with campaign 2 under yet other settings; --new --include-reached is
    // the operator's decision to send to everyone again.
    let (code, stderr) = run(
        d,
        &sim,
        "moved/customers.csv",
        &["--resume", "--region", "GB"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sim.ledger().len(), 3);
    let (code, stderr) = run(
        d,
        &sim,
        "moved/customers.csv",
        &["--new", "--include-reached"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(sends_per_phone(&sim).values().all(|n| *n == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_leaves_real_campaigns_suppressions_and_templates_alone() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A number ending in 0 is "not on WhatsApp" in the simulator: it would be suppressed.
    let phones = vec![uk_mobile(1), uk_mobile(10)];
    recipients_csv(d, "c.csv", &phones);
    let whatsapp = [
        "--bot",
        "3941",
        "--template",
        "order_confirmation",
        "--language",
        "en",
        "--params",
        "name,order",
        "--wait",
        "30s",
    ];
    let rehearsal = campaign_cmd(d, &[&["run", "c.csv", "--sim"][..], &whatsapp].concat());
    assert!(
        rehearsal.status.success(),
        "{}",
        String::from_utf8_lossy(&rehearsal.stderr)
    );
    assert!(d.join("campaign.sim.db").exists());
    assert!(
        !d.join("campaign.db").exists(),
        "the real database is untouched"
    );

    // The real run sends to both: the rehearsal neither finished the campaign nor suppressed.
    let out = spawn_campaign(
        d,
        &sim,
        &[&["run", "c.csv", "--no-wait"][..], &whatsapp[..8]].concat(),
    )
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sends_per_phone(&sim).len(), 2);

    // And a rehearsal database is never used for real sends.
    let out = spawn_campaign(
        d,
        &sim,
        &[
            &["run", "c.csv", "--db", "campaign.sim.db"][..],
            &whatsapp[..8],
        ]
        .concat(),
    )
    .wait_with_output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rehearsal"), "{stderr}");
    assert_eq!(sends_per_phone(&sim).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_sources_password_is_stored_nowhere_and_changing_it_keeps_the_campaign() {
    let Some(url) = crate::helpers::postgres() else {
        return;
    };
    let id = std::process::id();
    let (table, reader) = (format!("people_{id}"), format!("people_reader_{id}"));
    let statements = [
        format!("DROP TABLE IF EXISTS {table}"),
        format!("DROP ROLE IF EXISTS {reader}"),
        format!("CREATE TABLE {table} (mobile text, name text)"),
        format!("INSERT INTO {table} VALUES ('+447911000001', 'Ann'), ('+447911000002', 'Bob')"),
        format!("CREATE ROLE {reader} LOGIN"),
        format!("GRANT SELECT ON {table} TO {reader}"),
    ];
    pg_execute(&url, &statements).await;
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let host = url.rsplit_once('@').map_or(url.as_str(), |(_, h)| h);
    for password in ["first-Pa55word", "second-Pa55word"] {
        let toml = format!(
            "name = \"people\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{name}}\"\nphone_column = \"mobile\"\n[sql]\nurl = \"postgres://{reader}:{password}@{host}\"\nquery = \"SELECT mobile, name FROM {table}\"\n"
        );
        std::fs::write(d.join("people.toml"), toml).unwrap();
        let out = spawn_campaign(d, &sim, &["run", "people.toml", "--no-wait"])
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        status(d, &[]).as_array().map(Vec::len),
        Some(1),
        "one campaign"
    );
    assert!(sends_per_phone(&sim).values().all(|n| *n == 1));
    let stored: Vec<u8> = ["campaign.db", "campaign.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(d.join(f)).ok())
        .flatten()
        .collect();
    for secret in ["first-Pa55word", "second-Pa55word", TOKEN] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the database"
        );
    }
    pg_execute(
        &url,
        &[format!("DROP TABLE {table}"), format!("DROP ROLE {reader}")],
    )
    .await;
}
