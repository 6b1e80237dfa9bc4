//! Loading campaigns: CSV, SQL and Convrs-user sources, checks, dedupe, suppression, dry runs.

use campaign::campaign::definition::{CampaignFile, Channel, Definition};
use campaign::campaign::{self as camp, LoadOptions};
use campaign::queue::Store;
use serde_json::{Value, json};

use crate::helpers::{campaign_cmd, pg_execute, spawn_sim, uk_mobile};

fn whatsapp_def(csv: &std::path::Path) -> Definition {
    CampaignFile {
        bot_id: Some(3941),
        template: Some("order_confirmation".into()),
        language: Some("en".into()),
        params: Some(vec!["name".into(), "order".into()]),
        region: Some("GB".into()),
        csv: Some(csv.into()),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap()
}

const MIXED: &str = "\u{feff}phone,name,order\n\
07911 123451,Ann,O-1\n\
+44 7911 123452,Bob,O-2\n\
0044 (7911) 123.453,Cy,O-3\n\
447911123454,Di,O-4\n\
07911 123451,Ann again,O-5\n\
12345,Bad,O-6\n\
07911 123456,,O-7\n\
07911 123457,Tab\there,O-8\n\
07911 123458,Dan\n\
+44 20 7946 0958,Landline,O-9\n";

#[tokio::test]
async fn validate_json_counts_every_row_and_names_each_rejects_line_and_field() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.csv"), MIXED).unwrap();
    // Cache the template through the simulator, as a first --sim run would.
    let store = Store::open(dir.path().join("campaign.db").to_str().unwrap())
        .await
        .unwrap();
    camp::template(
        &store,
        Some(&sim.client()),
        &whatsapp_def(&dir.path().join("c.csv")),
    )
    .await
    .unwrap();
    let out = campaign_cmd(
        dir.path(),
        &[
            "validate",
            "c.csv",
            "--bot",
            "3941",
            "--template",
            "order_confirmation",
            "--language",
            "en",
            "--params",
            "name,order",
            "--region",
            "GB",
            "--json",
            "--rejects",
            "rejects.csv",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            summary["rows"].clone(),
            summary["valid"].clone(),
            summary["rejected"].clone(),
            summary["duplicates"].clone(),
            summary["suppressed"].clone()
        ),
        (json!(10), json!(4), json!(5), json!(1), json!(0))
    );
    // Ann again (line 6) repeats Ann (line 2): listed with both lines.
    assert_eq!(summary["duplicate_lines"], json!([{ "line": 6, "of": 2 }]));
    let rejects: Vec<(u64, String)> = summary["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejects,
        [
            (7, "phone".into()),
            (8, "name".into()),
            (9, "name".into()),
            (10, "".into()),
            (11, "phone".into())
        ]
    );
    let written = std::fs::read_to_string(dir.path().join("rejects.csv")).unwrap();
    assert_eq!(written.lines().count(), 6, "{written}");
    assert!(
        written.contains("'+44 20 7946 0958"),
        "formula-like cells are neutralised: {written}"
    );
}

#[tokio::test]
async fn loading_the_same_source_twice_adds_nothing() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, MIXED).unwrap();
    let store = Store::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    let def = whatsapp_def(&csv);
    let first = camp::load(&def, &store, Some(&sim.client()), &LoadOptions::default())
        .await
        .unwrap();
    let id = first.campaign.unwrap();
    assert_eq!(first.summary.already_queued, Some(0));
    assert_eq!(store.message_count(id).await.unwrap(), 4);
    let second = camp::load(&def, &store, None, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        second.campaign,
        Some(id),
        "the same definition resumes the same campaign"
    );
    assert_eq!(second.summary.already_queued, Some(4));
    assert!(
        second.summary.unchanged,
        "an unchanged file is not read again"
    );
    assert_eq!(
        second.summary.rejects, first.summary.rejects,
        "its rejects come from the store"
    );
    assert_eq!(second.summary.rejected, 5);
    assert_eq!(store.message_count(id).await.unwrap(), 4);
    // A changed file is read again: known rows add nothing, the new one is queued.
    std::fs::write(&csv, format!("{MIXED}07911 123499,Zed,O-99\n")).unwrap();
    let third = camp::load(&def, &store, None, &LoadOptions::default())
        .await
        .unwrap();
    assert!(!third.summary.unchanged);
    assert_eq!(
        (third.summary.valid, third.summary.already_queued),
        (5, Some(4))
    );
    assert_eq!(store.message_count(id).await.unwrap(), 5);
    let fresh = camp::load(
        &def,
        &store,
        None,
        &LoadOptions {
            new: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_ne!(fresh.campaign, Some(id));
}

#[tokio::test]
async fn suppressed_numbers_are_counted_and_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    std::fs::write(
        &csv,
        format!("phone,name\n{},Ann\n{},Bob\n", uk_mobile(1), uk_mobile(2)),
    )
    .unwrap();
    let store = Store::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    store
        .suppress(&uk_mobile(2), "asked to stop", "operator")
        .await
        .unwrap();
    let def = CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi {name}".into()),
        csv: Some(csv),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap();
    let loaded = camp::load(&def, &store, None, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!((loaded.summary.valid, loaded.summary.suppressed), (1, 1));
    assert_eq!(
        store.message_count(loaded.campaign.unwrap()).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn sms_segments_and_encodings_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.csv"),
        format!("phone,name\n{},Ann\n{},Zoë ✓\n", uk_mobile(1), uk_mobile(2)),
    )
    .unwrap();
    let long = format!("Hi {{name}} {}", "x".repeat(160));
    let out = campaign_cmd(
        dir.path(),
        &[
            "validate",
            "s.csv",
            "--channel",
            "sms",
            "--bot",
            "3941",
            "--message",
            &long,
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary["sms"],
        json!({"segments": 2 + 3, "gsm7": 1, "ucs2": 1})
    );
}

#[tokio::test]
async fn a_sql_source_is_read_from_a_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let crm = dir.path().join("crm.db");
    let url = format!("sqlite://{}?mode=rwc", crm.display());
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE customers (id INTEGER, mobile TEXT, first TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO customers VALUES (1, '07911123451', 'Ann'), (2, 'nope', 'Bob'), (3, '07911123453', 'Cy')")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let toml = format!(
        "name = \"crm\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{first}}\"\nphone_column = \"mobile\"\nregion = \"GB\"\ndedupe_key = \"customer-{{id}}\"\n[sql]\nurl = \"sqlite://{}\"\nquery = \"SELECT id, mobile, first FROM customers ORDER BY id\"\n",
        crm.display()
    );
    std::fs::write(dir.path().join("crm.toml"), toml).unwrap();
    let out = campaign_cmd(dir.path(), &["validate", "crm.toml", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["valid"].clone(), summary["rejected"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(summary["rejects"][0]["line"], 3);
    let broken = campaign_cmd(
        dir.path(),
        &[
            "validate",
            "crm.toml",
            "--json",
            "--phone-column",
            "mobile",
            "--message",
            "Hi {nope}",
        ],
    );
    assert!(!broken.status.success());
    assert!(String::from_utf8_lossy(&broken.stderr).contains("{nope}"));
    let failing = std::fs::read_to_string(dir.path().join("crm.toml"))
        .unwrap()
        .replace("FROM customers", "FROM no_such_table");
    std::fs::write(dir.path().join("failing.toml"), failing).unwrap();
    let out = campaign_cmd(dir.path(), &["validate", "failing.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SQL source") && stderr.contains("no_such_table"),
        "{stderr}"
    );
}

#[tokio::test]
async fn convrs_users_with_a_phone_are_a_source() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    for i in 1..=3 {
        let answer = sim
            .call(
                "SendSMSMessage",
                json!({"botID": 3941, "phone": uk_mobile(i), "message": "hi"}),
            )
            .await;
        assert_eq!(answer["ok"], 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    let def = CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hello {uid}".into()),
        convrs_users: Some(campaign::campaign::definition::UsersSource {
            bot_id: 3941,
            created_after: Some("2020-01-01".into()),
        }),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap();
    let loaded = camp::load(
        &def,
        &store,
        Some(&sim.client()),
        &LoadOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(loaded.summary.valid, 3);
    assert_eq!(
        loaded.summary.previews[0].text,
        "Hello 3941-cms-447911000001"
    );
}

#[tokio::test]
async fn bad_files_fail_with_the_file_line_and_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sms = |file: &str| {
        campaign_cmd(
            d,
            &[
                "validate",
                file,
                "--channel",
                "sms",
                "--bot",
                "3941",
                "--message",
                "Hi",
                "--json",
            ],
        )
    };
    let err = |out: std::process::Output| {
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(err(sms("missing.csv")).contains("missing.csv"));
    std::fs::write(d.join("empty.csv"), "").unwrap();
    assert!(err(sms("empty.csv")).contains("is empty"));
    std::fs::write(d.join("nophone.csv"), "contact,name\n1,2\n").unwrap();
    let e = err(sms("nophone.csv"));
    assert!(e.contains("'phone'") && e.contains("contact, name"), "{e}");
    // A spreadsheet's phone column by another common name is found, and the run says which.
    std::fs::write(
        d.join("mobile.csv"),
        format!("Name,Mobile\nAnn,{}\n", uk_mobile(1)),
    )
    .unwrap();
    let out = campaign_cmd(
        d,
        &[
            "validate",
            "mobile.csv",
            "--channel",
            "sms",
            "--bot",
            "3941",
            "--message",
            "Hi",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && shown.contains("valid 1")
            && shown.contains("the phone numbers are read from column 'Mobile'"),
        "{shown}"
    );
    std::fs::write(
        d.join("bad.toml"),
        "bot_id = 3941\ncsv = \"x.csv\"\nchanel = \"sms\"\n",
    )
    .unwrap();
    assert!(err(campaign_cmd(d, &["validate", "bad.toml"])).contains("chanel"));

    let mut latin1 = format!("phone,name\n{},Ann\n", uk_mobile(1)).into_bytes();
    latin1.extend(format!("{},Jos", uk_mobile(2)).as_bytes());
    latin1.extend([0xe9, b'\n']);
    latin1.extend(format!("{},{}\n", uk_mobile(3), "y".repeat(70 * 1024)).as_bytes());
    std::fs::write(d.join("mixed.csv"), latin1).unwrap();
    let out = sms("mixed.csv");
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["rejects"][0]["line"], 3);
    assert_eq!(summary["rejects"][0]["field"], "name");
    assert!(
        summary["rejects"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("UTF-8")
    );
    assert_eq!(summary["rejects"][1]["line"], 4);
    assert!(
        summary["rejects"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("64 KiB")
    );
}

#[tokio::test]
async fn the_suppression_list_is_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        campaign_cmd(
            d,
            &[
                "suppress",
                "add",
                "07911 123451",
                "--region",
                "GB",
                "--reason",
                "complaint"
            ]
        )
        .status
        .success()
    );
    std::fs::write(
        d.join("optouts.csv"),
        "phone\n+447911123452\nnot a number\n",
    )
    .unwrap();
    let import = campaign_cmd(d, &["suppress", "import", "optouts.csv"]);
    assert!(String::from_utf8_lossy(&import.stderr).contains("line 3"));
    let list: Value =
        serde_json::from_slice(&campaign_cmd(d, &["suppress", "list", "--json"]).stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["reason"], "complaint");
    assert!(
        campaign_cmd(d, &["suppress", "remove", "+447911123451"])
            .status
            .success()
    );
    assert!(
        !campaign_cmd(d, &["suppress", "remove", "+447911123451"])
            .status
            .success()
    );
}

#[tokio::test]
async fn a_source_that_cannot_be_read_leaves_no_campaign_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    let missing = CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi".into()),
        csv: Some(dir.path().join("missing.csv")),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap();
    assert!(
        camp::load(&missing, &store, None, &LoadOptions::default())
            .await
            .is_err()
    );
    std::fs::write(dir.path().join("nophone.csv"), "contact\n1\n").unwrap();
    let no_phone = CampaignFile {
        csv: Some(dir.path().join("nophone.csv")),
        ..Default::default()
    }
    .with(CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(
        camp::load(&no_phone, &store, None, &LoadOptions::default())
            .await
            .is_err()
    );
    assert!(store.campaigns().await.unwrap().is_empty());
}

/// `url` as the role `user` (the test server trusts local connections).
fn as_role(url: &str, user: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("postgres://{user}:any-password@{host}")
}

#[tokio::test]
async fn a_sql_source_is_read_from_postgresql_by_a_read_only_role_only() {
    let Some(url) = crate::helpers::postgres() else {
        return;
    };
    let id = std::process::id();
    let (table, reader, writer) = (
        format!("customers_{id}"),
        format!("campaign_reader_{id}"),
        format!("campaign_writer_{id}"),
    );
    let (sneaky, program) = (
        format!("campaign_sneaky_{id}"),
        format!("campaign_prog_{id}"),
    );
    pg_execute(
        &url,
        &[
            format!("DROP TABLE IF EXISTS {table}"),
            format!("DROP SEQUENCE IF EXISTS {table}_seq"),
            format!("DROP ROLE IF EXISTS {reader}"),
            format!("DROP ROLE IF EXISTS {writer}"),
            format!("DROP ROLE IF EXISTS {sneaky}"),
            format!("DROP ROLE IF EXISTS {program}"),
            "CREATE EXTENSION IF NOT EXISTS dblink".to_string(),
            format!("CREATE TABLE {table} (id integer, mobile text, first text, due date)"),
            format!("CREATE SEQUENCE {table}_seq"),
            format!(
                "INSERT INTO {table} VALUES (1, '07911123451', 'Ann', '2026-12-01'), (2, 'nope', 'Bob', NULL), (3, '+447911123453', 'Cy', '2026-12-02')"
            ),
            format!("CREATE ROLE {reader} LOGIN"),
            format!("GRANT SELECT ON {table} TO {reader}"),
            format!("CREATE ROLE {writer} LOGIN"),
            format!("GRANT SELECT, INSERT ON {table} TO {writer}"),
            // Reads only (inheriting nothing), but may become a superuser with SET ROLE.
            format!("CREATE ROLE {sneaky} LOGIN NOINHERIT"),
            format!("GRANT SELECT ON {table} TO {sneaky}"),
            format!("GRANT postgres TO {sneaky}"),
            // Reads only, but may run programs on the server (COPY TO PROGRAM).
            format!("CREATE ROLE {program} LOGIN"),
            format!("GRANT SELECT ON {table} TO {program}"),
            format!("GRANT pg_execute_server_program TO {program}"),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let campaign = |name: &str, url: &str, select: &str, extra: &str| {
        let toml = format!(
            "channel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{first}}, see you on {{due}}\"\nphone_column = \"mobile\"\nregion = \"GB\"\n[sql]\nurl = \"{url}\"\nquery = \"SELECT {select}id, mobile, first, due FROM {table} ORDER BY id;\"\n{extra}"
        );
        std::fs::write(dir.path().join(name), toml).unwrap();
    };
    let validate = |name: &str| campaign_cmd(dir.path(), &["validate", name, "--json"]);

    campaign("reader.toml", &as_role(&url, &reader), "", "");
    let out = validate("reader.toml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["valid"].clone(), summary["rejected"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(summary["rejects"][0]["line"], 3);

    // A superuser, a role that may change a table, run programs or become a superuser, is
    // refused without the explicit flag.
    let become_super = format!("{sneaky} can become postgres, which is a superuser");
    for (file, role, why) in [
        ("super.toml", as_role(&url, "postgres"), "superuser"),
        ("writer.toml", as_role(&url, &writer), "may change tables"),
        ("sneaky.toml", as_role(&url, &sneaky), become_super.as_str()),
        (
            "program.toml",
            as_role(&url, &program),
            "may write server files or run programs",
        ),
    ] {
        campaign(file, &role, "", "");
        let out = validate(file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}");
        assert!(
            stderr.contains(why) && stderr.contains("read-only role"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("any-password"),
            "no password in messages: {stderr}"
        );
    }
    campaign(
        "super.toml",
        &as_role(&url, "postgres"),
        "",
        "allow_writable = true\n",
    );
    assert!(validate("super.toml").status.success());

    // Even allowed, the session is read-only: nextval (which writes the sequence) fails.
    let nextval = format!("nextval('{table}_seq') AS n, ");
    campaign(
        "nextval.toml",
        &as_role(&url, "postgres"),
        &nextval,
        "allow_writable = true\n",
    );
    let out = validate("nextval.toml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("read-only transaction"), "{stderr}");

    // The read-only role cannot write through a connection of its own (dblink), nor turn the
    // transaction read-write, nor run a second statement.
    let db = url.rsplit('/').next().unwrap().to_string();
    let escapes = [
        format!("dblink_exec('dbname={db}', 'INSERT INTO {table} VALUES (9)') AS x, "),
        "set_config('transaction_read_only', 'off', true) AS x, ".to_string(),
    ];
    for (i, select) in escapes.iter().enumerate() {
        let file = format!("escape{i}.toml");
        campaign(&file, &as_role(&url, &reader), select, "");
        let out = validate(&file);
        assert!(!out.status.success(), "{select} ran");
    }
    campaign("two.toml", &as_role(&url, &reader), "", "");
    let two = std::fs::read_to_string(dir.path().join("two.toml"))
        .unwrap()
        .replace("ORDER BY id;", &format!("ORDER BY id; DELETE FROM {table}"));
    std::fs::write(dir.path().join("two.toml"), two).unwrap();
    let out = validate("two.toml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("more than one statement"), "{stderr}");
    let rows: i64 = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(rows, 3, "nothing was written");
    pg_execute(
        &url,
        &[
            format!("DROP TABLE {table}"),
            format!("DROP SEQUENCE {table}_seq"),
            format!("DROP ROLE {reader}"),
            format!("DROP ROLE {writer}"),
            format!("DROP ROLE {sneaky}"),
            format!("DROP ROLE {program}"),
        ],
    )
    .await;
}

#[test]
fn a_sqlite_source_cannot_write_not_even_with_vacuum_into() {
    let dir = tempfile::tempdir().unwrap();
    let crm = dir.path().join("crm.db");
    std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(["status", "--db", crm.to_str().unwrap()])
        .output()
        .unwrap();
    let copy = dir.path().join("copy.db");
    for query in [
        format!("VACUUM INTO '{}'", copy.display()),
        "SELECT 1 AS phone; DELETE FROM settings".to_string(),
        "PRAGMA user_version = 7".to_string(),
    ] {
        let toml = format!(
            "channel = \"sms\"\nbot_id = 3941\nmessage = \"Hi\"\n[sql]\nurl = \"sqlite://{}\"\nquery = \"{query}\"\n",
            crm.display()
        );
        std::fs::write(dir.path().join("w.toml"), toml).unwrap();
        let out = campaign_cmd(dir.path(), &["validate", "w.toml"]);
        assert!(!out.status.success(), "{query}");
        assert!(!copy.exists(), "{query} wrote a file");
        if query.contains(';') {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("more than one statement"), "{stderr}");
        }
    }
}

#[tokio::test]
async fn reject_lines_are_the_files_own_lines_with_lf_crlf_and_mixed_endings() {
    let sim = spawn_sim(|_| {}).await;
    let lines: Vec<&str> = MIXED.lines().collect();
    type Ending = fn(usize) -> &'static str;
    let endings: [(&str, Ending); 3] = [
        ("LF", |_| "\n"),
        ("CRLF", |_| "\r\n"),
        ("mixed", |i| ["\r\n", "\n", "\r"][i % 3]),
    ];
    for (name, ending) in endings {
        let dir = tempfile::tempdir().unwrap();
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{l}{}", ending(i)))
            .collect();
        std::fs::write(dir.path().join("c.csv"), text).unwrap();
        let store = Store::open(dir.path().join("campaign.db").to_str().unwrap())
            .await
            .unwrap();
        let def = whatsapp_def(&dir.path().join("c.csv"));
        let loaded = camp::load(&def, &store, Some(&sim.client()), &LoadOptions::default())
            .await
            .unwrap();
        let seen: Vec<u64> = loaded.summary.rejects.iter().map(|r| r.line).collect();
        assert_eq!(seen, [7, 8, 9, 10, 11], "{name}");
        let stored: Vec<u64> = store
            .rejects(loaded.campaign.unwrap())
            .await
            .unwrap()
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(stored, [7, 8, 9, 10, 11], "{name}: every reject is kept");
        let queued: Vec<i64> = sqlx::query_scalar("SELECT line FROM messages ORDER BY line")
            .fetch_all(&crate::helpers::raw(&store).await)
            .await
            .unwrap();
        assert_eq!(queued, [2, 3, 4, 5], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_byte_in_a_csv_rejects_its_row_on_both_engines() {
    // PostgreSQL refuses a NUL in text: the row used to abort the load, the campaign left
    // `loading`.
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("nul.csv"),
        "phone,name\n+447911000001,Ann\n+447911000002,B\0b\n\u{0}447911000003,Cy\n",
    )
    .unwrap();
    let Some(pg) = crate::contract::fresh_pg_database().await else {
        return;
    };
    let sqlite = d.join("c.db").to_str().unwrap().to_string();
    for db in [&sqlite, &pg] {
        let args = [
            &["run", "nul.csv", "--no-wait", "--json", "--db", db][..],
            &crate::helpers::SMS_FLAGS,
        ]
        .concat();
        let out = crate::helpers::spawn_campaign(d, &sim, &args)
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["state"], "sent", "{db}: {status}");
        assert_eq!(status["load"]["rejected"], 2, "{db}: {status}");
        assert_eq!(status["counts"]["total"], 1, "{db}: {status}");
    }
    crate::contract::drop_pg_database(&pg).await;
}

#[test]
fn an_unterminated_quote_in_a_huge_csv_fails_at_once_naming_the_line_where_it_began() {
    let dir = tempfile::tempdir().unwrap();
    // Quoted fields across lines and with quotes inside are fine; line 6's is never closed.
    let mut csv =
        String::from("phone,name\r\n+447911000001,Ann\r\n+447911000002,\"Bob\r\nthe second\"\r\n");
    csv.push_str("+447911000003,\"Cy, \"\"the third\"\"\"\r\n+447911000004,\"never closed\r\n");
    // 20 MB of rows after it, every one swallowed by that field before.
    let row = "+447911000005,Dee\r\n";
    csv.push_str(&row.repeat(20_000_000 / row.len()));
    std::fs::write(dir.path().join("big.csv"), csv).unwrap();
    let args = [&["validate", "big.csv"][..], &crate::helpers::SMS_FLAGS].concat();
    let out = campaign_cmd(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("big.csv, line 6: a quoted field starts on this line and is never closed"),
        "{stderr}"
    );
}

/// After a load the planner knows how many messages the campaign has queued, so a claim of a
/// few ids looks them up by key: without statistics SQLite guessed ten rows for any key of the
/// claim index and walked every queued message of the campaign for each claim (a resumed
/// million-message campaign waited 0.4 s for its first send).
#[tokio::test]
async fn after_a_load_a_claims_ids_are_looked_up_by_key_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let sim = spawn_sim(|_| {}).await;
    let phones: Vec<String> = (0..300).map(uk_mobile).collect();
    let csv = crate::helpers::recipients_csv(dir.path(), "r.csv", &phones);
    let loaded = crate::helpers::queue(&store, &sim, &crate::helpers::sms_def(csv)).await;
    let campaign = loaded.campaign.unwrap();
    let pool = crate::helpers::raw(&store).await;
    let mut claim = sqlx::query_as::<_, (i64, i64, i64, String)>(
        "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE state = 'queued' AND campaign_id = ?
         AND id IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(campaign.0);
    for id in 1..=10 {
        claim = claim.bind(id);
    }
    let plan = claim.fetch_all(&pool).await.unwrap();
    assert!(
        plan.iter().any(|step| step.3.contains("PRIMARY KEY")),
        "{plan:?}"
    );
}
