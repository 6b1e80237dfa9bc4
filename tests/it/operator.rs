//! What the operator sees (issue 10): campaigns by name, and looking without creating.

use crate::helpers::{
    SMS_FLAGS, campaign_cmd, recipients_csv, spawn_campaign, spawn_sim, uk_mobile,
};

/// Runs campaign "customers" of two numbers to the end; the one ending in 9 fails (ack -1),
/// so `retry --failed` has something to queue.
fn customers_sent(d: &std::path::Path, sim: &crate::helpers::TestSim) {
    recipients_csv(d, "customers.csv", &[1, 9].map(uk_mobile));
    let run = [
        &["run", "customers.csv"][..],
        &SMS_FLAGS,
        &["--wait", "20s"],
    ]
    .concat();
    let out = spawn_campaign(d, sim, &run).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn looking_in_an_empty_folder_creates_no_database_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["status"][..],
        &["list"],
        &["status", "--json"],
        &["list", "--json"],
    ] {
        let out = campaign_cmd(d, args);
        assert!(out.status.success(), "{args:?}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("no campaigns here") || said.trim() == "[]",
            "{args:?}: {said}"
        );
    }
    let out = campaign_cmd(d, &["report", "spring", "--csv", "r.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no database campaign.db"));
    assert!(!d.join("campaign.db").exists(), "nothing was created");
    assert!(!d.join("r.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_report_and_retry_take_a_campaign_by_name() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    customers_sent(d, &sim);
    let status = campaign_cmd(d, &["status", "customers", "--json"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["name"], "customers");
    let report = campaign_cmd(d, &["report", "customers", "--csv", "r.csv"]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(d.join("r.csv").exists());
    let report = campaign_cmd(d, &["report", "customers", "--csv", "r2.csv", "--json"]);
    let written: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(written["csv"]["rows"], 2, "{written}");
    let retry = campaign_cmd(d, &["retry", "customers", "--failed", "--json"]);
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    let queued: serde_json::Value = serde_json::from_slice(&retry.stdout).unwrap();
    assert_eq!(queued["failed"], 1, "{queued}");
    // With --json, an error is JSON too, with the exit code.
    let unknown = campaign_cmd(d, &["status", "autumn", "--json"]);
    assert_eq!(unknown.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&unknown.stderr).unwrap();
    assert_eq!(error["code"], 1, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("no campaign \"autumn\"")
    );
    let table = String::from_utf8_lossy(&campaign_cmd(d, &["status"]).stdout).into_owned();
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("state") && header.contains("created") && header.contains("sent/total"),
        "a header, dates and progress: {table}"
    );
    let unknown = campaign_cmd(d, &["status", "autumn"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no campaign \"autumn\""));
}

#[test]
fn an_sms_placeholder_that_renders_empty_rejects_its_row_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("c.csv"),
        "phone,name\n+447911000001,Ann\n+447911000002,\n+447911000003,  \n",
    )
    .unwrap();
    let validate = |extra: &[&str]| {
        let out = campaign_cmd(d, &[&["validate", "c.csv"][..], &SMS_FLAGS, extra].concat());
        assert!(out.status.success());
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let said = validate(&[]);
    assert!(said.contains("valid 1"), "{said}");
    assert!(
        said.contains("rejected line 3, field name: {name} is empty")
            && said.contains("rejected line 4, field name")
            && said.contains("--allow-empty"),
        "{said}"
    );
    let said = validate(&["--allow-empty"]);
    assert!(said.contains("valid 3"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_and_the_rejects_file_read_back_into_the_tool() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Line 3 has no name, so it is rejected (its SMS would have a gap); line 4's name would be
    // a formula in a spreadsheet.
    std::fs::write(
        d.join("c.csv"),
        "phone,name\n+447911000001,Ann\n+447911000002,\n+447911000003,=HYPERLINK(\"x\")\n",
    )
    .unwrap();
    let run = [
        &["run", "c.csv", "--no-wait", "--rejects", "rejects.csv"][..],
        &SMS_FLAGS,
    ]
    .concat();
    let out = spawn_campaign(d, &sim, &run).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = campaign_cmd(d, &["report", "c", "--csv", "report.csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(d.join("report.csv")).unwrap();
    assert!(
        !report.contains(",'+44"),
        "phones are written as they are: {report}"
    );

    // `suppress import` takes the report, and a file marked as earlier versions wrote it.
    let out = campaign_cmd(d, &["suppress", "import", "report.csv"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("2 numbers suppressed, 0 rows rejected"),
        "{said}"
    );
    std::fs::write(d.join("old.csv"), "line,phone\n2,'+447911000009\n").unwrap();
    let out = campaign_cmd(d, &["suppress", "import", "old.csv"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("1 numbers suppressed, 0 rows rejected"),
        "{said}"
    );

    // The rejects file, corrected, is a source: the formula keeps its mark in the file and
    // loses it when read back.
    let rejects = std::fs::read_to_string(d.join("rejects.csv")).unwrap();
    assert!(
        rejects.starts_with("line,field,reason,phone,name"),
        "{rejects}"
    );
    std::fs::write(
        d.join("fixed.csv"),
        rejects.replace("+447911000002,", "+447911000002,Bob"),
    )
    .unwrap();
    let out = campaign_cmd(d, &[&["validate", "fixed.csv"][..], &SMS_FLAGS].concat());
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("valid 1") && said.contains("Hi Bob"),
        "{said}"
    );
}

#[test]
fn semicolon_and_tab_files_are_read_and_a_wrong_delimiter_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // What Excel writes in much of Europe: semicolons, a BOM, CRLF, a quoted ';' in a value.
    std::fs::write(
        d.join("semi.csv"),
        "\u{feff}phone;name;order_id\r\n+447911000001;\"Ann; Jr\";ORD-1\r\n+447911000002;Bob;ORD-2\r\n",
    )
    .unwrap();
    std::fs::write(d.join("tabs.csv"), "phone\tname\n+447911000001\tAnn\n").unwrap();
    let validate = |file: &str, extra: &[&str]| {
        let out = campaign_cmd(d, &[&["validate", file][..], &SMS_FLAGS, extra].concat());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, said) = validate("semi.csv", &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("valid 2") && said.contains("Hi Ann; Jr"),
        "{said}"
    );
    let (code, said) = validate("tabs.csv", &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("valid 1"), "{said}");
    let (code, said) = validate("semi.csv", &["--delimiter", ","]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("pass --delimiter ';'"), "{said}");
    let (code, said) = validate("semi.csv", &["--delimiter", "::"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("give one character"), "{said}");
}

#[test]
fn completions_and_the_manual_page_come_from_the_same_definitions_as_help() {
    let dir = tempfile::tempdir().unwrap();
    let bash = campaign_cmd(dir.path(), &["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(
        script.contains("_campaign") && script.contains("worker"),
        "{script}"
    );
    let man = campaign_cmd(dir.path(), &["man"]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.contains(".TH campaign 1") && page.contains("worker"),
        "{page}"
    );
    let wrong = campaign_cmd(dir.path(), &["completions", "nosh"]);
    assert_eq!(wrong.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_campaign_name_goes_on_as_it_is_stored() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    customers_sent(d, &sim);
    let out = campaign_cmd(d, &["retry", "customers", "--failed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(d.join("customers.csv")).unwrap();

    // No flags, no file: the stored campaign goes on.
    let out = spawn_campaign(d, &sim, &["run", "customers", "--no-wait"])
        .wait_with_output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("going on as it is stored, with 1 message(s) queued"),
        "{said}"
    );
    let sends = crate::helpers::sends_per_phone(&sim);
    assert_eq!(sends[&uk_mobile(9)], 2, "sent again after retry: {sends:?}");
    assert_eq!(sends[&uk_mobile(1)], 1, "{sends:?}");

    let out = campaign_cmd(d, &["run", "customers", "--message", "other"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drop --message"));
}

#[test]
fn a_variable_that_is_set_is_not_shown_in_usage_as_a_flag_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .arg("run")
        .current_dir(dir.path())
        .env("CONVRS_API_URL", "https://api.example.com")
        .env("CAMPAIGN_DB", "x.db")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("Usage: campaign run <SOURCE>"), "{said}");
    assert!(
        !said.contains("--api-url") && !said.contains("--db"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_control_characters_in_values_are_shown_escaped_and_json_stays_json() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A name that would clear the screen and retitle the window, a phone that would move the
    // cursor, a bidi override: from the file, into previews, rejects and status.
    let csv = "phone,name\n+447911000001,\"Ann\u{1b}]0;pwned\u{7}\u{1b}[2J\"\n\u{1b}[1A+4479,Bob\u{202e}\n";
    std::fs::write(d.join("c.csv"), csv).unwrap();
    let hostile = |out: &[u8]| {
        let text = String::from_utf8_lossy(out);
        text.contains('\u{1b}') || text.contains('\u{7}') || text.contains('\u{202e}')
    };
    let validate = campaign_cmd(d, &[&["validate", "c.csv"][..], &SMS_FLAGS].concat());
    let said = String::from_utf8_lossy(&validate.stdout);
    assert!(validate.status.success());
    assert!(!hostile(&validate.stdout), "{said:?}");
    assert!(said.contains("Hi Ann\\x1b]0;pwned\\x07\\x1b[2J"), "{said}");
    assert!(said.contains("\\x1b[1A+4479"), "{said}");
    let json = campaign_cmd(
        d,
        &[&["validate", "c.csv", "--json"][..], &SMS_FLAGS].concat(),
    );
    assert!(!hostile(&json.stdout));
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["rejected"], 1, "{parsed}");
    // A file name is a value too.
    let missing = campaign_cmd(
        d,
        &[&["validate", "gone\u{1b}[31m.csv"][..], &SMS_FLAGS].concat(),
    );
    assert!(!missing.status.success());
    assert!(
        !hostile(&missing.stderr),
        "{:?}",
        String::from_utf8_lossy(&missing.stderr)
    );
    // Sent, then shown by status and list.
    let run = [&["run", "c.csv", "--no-wait"][..], &SMS_FLAGS].concat();
    crate::helpers::campaign_ok(d, &sim, &run);
    for args in [
        &["status", "c"][..],
        &["list"],
        &["report", "c", "--csv", "r.csv"],
    ] {
        let out = campaign_cmd(d, args);
        assert!(out.status.success(), "{args:?}");
        assert!(!hostile(&out.stdout) && !hostile(&out.stderr), "{args:?}");
    }
}

#[test]
fn the_help_and_the_systemd_unit_say_what_is_true_and_keep_the_password_out() {
    let help = campaign_cmd(std::path::Path::new("."), &["status", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("postgres://"), "{help}");
    assert!(!help.contains("not supported"), "{help}");
    let unit = std::fs::read_to_string("deploy/campaign-worker.service").unwrap();
    let settings: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        settings.contains(&"EnvironmentFile=/etc/campaign/worker.env"),
        "{unit}"
    );
    assert!(
        !settings.iter().any(|l| l.starts_with("Environment=")),
        "a unit is readable by every user: settings go in the 0600 EnvironmentFile"
    );
    assert!(unit.contains("install -m 0600 -o root /dev/null /etc/campaign/worker.env"));
}

#[test]
fn the_rejects_file_follows_the_inputs_delimiter_and_bom_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Excel's "CSV UTF-8" in a semicolon locale: a BOM, semicolons, a name with an accent.
    std::fs::write(
        d.join("semi.csv"),
        "\u{feff}phone;name\r\n+447911000001;Zoë\r\n12345;Bad\r\n",
    )
    .unwrap();
    let rejects = |file: &str| {
        let args = [
            &["validate", file][..],
            &SMS_FLAGS,
            &["--rejects", "rejects.csv"],
        ]
        .concat();
        let out = campaign_cmd(d, &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(d.join("rejects.csv")).unwrap()
    };
    let written = rejects("semi.csv");
    let text = String::from_utf8(written).unwrap();
    assert!(
        text.starts_with("\u{feff}line;field;reason;phone;name\n"),
        "{text:?}"
    );
    assert!(text.contains("\n3;phone;"), "{text:?}");
    // Corrected in place, the rejects file is itself a source: same dialect, same columns.
    std::fs::copy(d.join("rejects.csv"), d.join("fixed.csv")).unwrap();
    let again = String::from_utf8(rejects("fixed.csv")).unwrap();
    assert!(again.starts_with("\u{feff}line;field;reason;"), "{again:?}");
    // Unless told otherwise.
    let args = [
        &["validate", "semi.csv"][..],
        &SMS_FLAGS,
        &["--rejects", "rejects.csv", "--no-bom"],
    ]
    .concat();
    assert!(campaign_cmd(d, &args).status.success());
    let bare = std::fs::read_to_string(d.join("rejects.csv")).unwrap();
    assert!(bare.starts_with("line;field;reason;"), "{bare:?}");
}
