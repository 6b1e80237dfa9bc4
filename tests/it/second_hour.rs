//! The operator's second hour (issue 23): `send-test` (one message of a campaign to test
//! recipients, through the same verdicts, not part of the campaign), `run --at` (a one-off send
//! at a time), `status --watch` (the campaign as it moves).

use serde_json::Value;

use crate::helpers::{accepted_to, ann_and_bob, campaign_ok, spawn_campaign, spawn_sim, uk_mobile};

fn sms_campaign(dir: &std::path::Path) {
    ann_and_bob(dir, None);
    std::fs::write(
        dir.join("c.toml"),
        "channel = \"sms\"\nbot_id = 3941\ncsv = \"r.csv\"\nmessage = \"Hi {name}, see you soon\"\n",
    )
    .unwrap();
}

fn send_test(dir: &std::path::Path, sim: &crate::helpers::TestSim, args: &[&str]) -> (bool, Value) {
    let out = spawn_campaign(
        dir,
        sim,
        &[&["send-test", "c.toml", "--json", "--follow", "0s"], args].concat(),
    )
    .wait_with_output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.success(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_send_renders_the_chosen_row_for_each_test_number_and_is_not_part_of_the_campaign() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    let dir = tempfile::tempdir().unwrap();
    sms_campaign(dir.path());
    let me = uk_mobile(90);
    // Bob's row (line 3), his name replaced, to a test number and to Ann's own number.
    let (ok, tested) = send_test(
        dir.path(),
        &sim,
        &[
            "--to",
            &format!("{me},{}", uk_mobile(1)),
            "--row",
            "3",
            "--set",
            "name=Tester",
        ],
    );
    assert!(ok, "{tested}");
    let sent: Vec<_> = accepted_to(&sim, "+44")
        .into_iter()
        .map(|e| (e.phone, e.message))
        .collect();
    let text = Some("Hi Tester, see you soon".to_string());
    assert_eq!(sent, [(me.clone(), text.clone()), (uk_mobile(1), text)]);
    assert_eq!(tested[0]["line"], 3);
    assert!(tested[0]["mid"].is_string(), "{tested}");
    // Nothing of it is in the campaign: the run sends to Ann and Bob as if no test had been.
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "2s"]);
    let mut run: Vec<_> = accepted_to(&sim, "+44")
        .into_iter()
        .skip(2)
        .map(|e| e.message.unwrap())
        .collect();
    run.sort();
    assert_eq!(run, ["Hi Ann, see you soon", "Hi Bob, see you soon"]);
    // A stored campaign, by name: its message of line 3 as it was frozen, to the test number.
    let out = spawn_campaign(
        dir.path(),
        &sim,
        &[
            "send-test",
            "c",
            "--to",
            &me,
            "--row",
            "3",
            "--json",
            "--follow",
            "0s",
        ],
    )
    .wait_with_output()
    .unwrap();
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{stored}");
    assert_eq!(stored[0]["text"], "Hi Bob, see you soon", "{stored}");
    let last = accepted_to(&sim, "+44").pop().unwrap();
    assert_eq!(
        (last.phone, last.message.as_deref()),
        (me.clone(), Some("Hi Bob, see you soon"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_send_refuses_a_suppressed_or_invalid_number_and_says_why() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    sms_campaign(dir.path());
    campaign_ok(dir.path(), &sim, &["suppress", "add", &uk_mobile(5)]);
    let (ok, tested) = send_test(
        dir.path(),
        &sim,
        &["--to", &format!("{},12345", uk_mobile(5))],
    );
    assert!(!ok, "{tested}");
    let outcomes: Vec<&str> = tested
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes[0].contains("suppression list"), "{outcomes:?}");
    assert!(
        outcomes[1].contains("field phone") && outcomes[1].contains("5 digits"),
        "{outcomes:?}"
    );
    assert!(accepted_to(&sim, "+44").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_at_queues_a_one_off_send_that_the_worker_sends_at_its_time_and_not_before() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    let dir = tempfile::tempdir().unwrap();
    sms_campaign(dir.path());
    // A time in the past is refused before anything is loaded.
    let out = spawn_campaign(
        dir.path(),
        &sim,
        &["run", "c.toml", "--at", "2020-01-01 09:00"],
    )
    .wait_with_output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("is in the past"),
        "{stderr}"
    );
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(3);
    let at_text = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let said = campaign_ok(dir.path(), &sim, &["run", "c.toml", "--at", &at_text]);
    assert!(said.contains("2 message(s) held until"), "{said}");
    let status = crate::helpers::campaign_cmd(dir.path(), &["status", "c", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["deferred"][0]["count"], 2, "{status}");
    assert_eq!(
        status["deferred"][0]["first_at"],
        at.timestamp_millis() / 1000 * 1000,
        "{status}"
    );
    let worker = crate::helpers::TestWorker::spawn(dir.path(), &sim, &[]).await;
    let sent = crate::helpers::wait_for("the worker to send at --at", || async {
        let sent = accepted_to(&sim, "+44");
        (sent.len() == 2).then_some(sent)
    })
    .await;
    worker.stop();
    for entry in sent {
        let when = chrono::DateTime::parse_from_rfc3339(&entry.time).unwrap();
        assert!(
            when.timestamp_millis() >= at.timestamp_millis() / 1000 * 1000,
            "{} before {at_text}",
            entry.time
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_prints_a_line_when_something_changes_and_ends_with_the_campaign() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    let dir = tempfile::tempdir().unwrap();
    sms_campaign(dir.path());
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    // Not a terminal (a pipe): plain lines; the campaign is finished, so it ends at once.
    let out =
        crate::helpers::campaign_cmd(dir.path(), &["status", "c", "--watch", "--every", "1s"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 1, "{shown}");
    assert!(
        lines[0].contains("campaign 1 finished: 2/2 done") && lines[0].contains("time left done"),
        "{shown}"
    );
    assert!(
        !shown.contains('\x1b'),
        "no terminal codes in a pipe: {shown:?}"
    );
    let refused = crate::helpers::campaign_cmd(dir.path(), &["status", "--watch"]);
    assert!(!refused.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_live_page_shows_campaigns_tokens_and_reloads_itself_in_a_browser() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    let dir = tempfile::tempdir().unwrap();
    sms_campaign(dir.path());
    let worker = crate::helpers::TestWorker::spawn(dir.path(), &sim, &[]).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--detach"]);
    // The API takes a send before the worker records it: wait for the page to show both.
    let page = crate::helpers::wait_for("the page to show both sent", || async {
        let (code, page) = worker.get("/").await;
        assert_eq!(code, 200, "{page}");
        page.contains("</progress> 2/2").then_some(page)
    })
    .await;
    worker.stop();
    let path = dir.path().join("live.html");
    std::fs::write(&path, &page).unwrap();
    let Some(shown) = crate::browser::render(&path) else {
        return;
    };
    assert!(shown.console.is_empty(), "{:?}", shown.console);
    let dom = &shown.dom;
    assert!(dom.contains("http-equiv=\"refresh\""), "{dom}");
    assert!(dom.contains("<td>c</td>"), "the campaign by name: {dom}");
    assert!(
        dom.contains("<progress value=\"2\" max=\"2\"></progress> 2/2"),
        "{dom}"
    );
    assert!(
        dom.contains("held by this worker") && dom.contains("of 10/s"),
        "{dom}"
    );
}

#[test]
fn where_only_rehearsals_ran_the_commands_say_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    sms_campaign(dir.path());
    let out = crate::helpers::campaign_cmd(dir.path(), &["run", "c.toml", "--sim", "--wait", "1s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = crate::helpers::campaign_cmd(dir.path(), &["report", "c", "--html", "r.html"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("add --db campaign.sim.db to look at them"),
        "{said}"
    );
    let out = crate::helpers::campaign_cmd(
        dir.path(),
        &["report", "c", "--html", "r.html", "--db", "campaign.sim.db"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // The price hint is the operator's: said here, not written on the manager's page.
    assert!(said.contains("no cost on the report: add price"), "{said}");
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(!page.contains("price = {"));
}

#[test]
fn track_where_nothing_ran_says_so_and_leaves_no_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    for (args, said) in [
        (
            &["track", "--sim"][..],
            "no rehearsals here: there is no database campaign.sim.db",
        ),
        (
            &["track"][..],
            "no campaigns here: there is no database campaign.db",
        ),
    ] {
        let out = crate::helpers::campaign_cmd(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipients_csv_opens_in_the_spreadsheet_the_source_came_from_with_its_columns() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    let dir = tempfile::tempdir().unwrap();
    // Excel in a `;` locale, saved as "CSV UTF-8": a BOM, semicolons, CRLF.
    let csv = format!(
        "\u{feff}phone;name;city\r\n{};Zoë;Zürich\r\n{};Bob;Lyon\r\n",
        uk_mobile(1),
        uk_mobile(2)
    );
    std::fs::write(dir.path().join("r.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "channel = \"sms\"\nbot_id = 3941\ncsv = \"r.csv\"\nmessage = \"Hi {name}\"\n",
    )
    .unwrap();
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    let report = |args: &[&str]| {
        let out = crate::helpers::campaign_cmd(
            dir.path(),
            &[&["report", "c", "--csv", "out.csv"], args].concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            std::fs::read(dir.path().join("out.csv")).unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (bytes, said) = report(&[]);
    assert!(
        said.contains("delimiter ';', with a BOM, with the source's columns"),
        "{said}"
    );
    assert!(
        bytes.starts_with(b"\xef\xbb\xbf"),
        "a BOM, as the source had"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("line;phone;state;")
            && lines[0].contains(";read_at;replied_at;")
            && lines[0].ends_with(";source.phone;name;city"),
        "{}",
        lines[0]
    );
    let zoe = lines.iter().find(|l| l.contains("Zoë")).unwrap();
    assert!(
        zoe.ends_with(&format!(";{};Zoë;Zürich", uk_mobile(1))),
        "{zoe}"
    );
    // No time is earlier than the one before it: queued, sent, delivered, read, replied.
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(';').collect();
        let times: Vec<&str> = cells[8..13]
            .iter()
            .copied()
            .filter(|t| !t.is_empty())
            .collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "{line}");
    }
    // The flags say otherwise; and a source changed since it was loaded is not joined.
    let (bytes, _) = report(&["--delimiter", ",", "--no-bom"]);
    assert!(bytes.starts_with(b"line,phone,state,"));
    std::fs::write(dir.path().join("r.csv"), "phone;name\r\n").unwrap();
    let (bytes, said) = report(&[]);
    assert!(said.contains("is no longer as it was loaded"), "{said}");
    assert!(
        String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap()
            .ends_with("opt_out_at")
    );
}

/// A WhatsApp rehearsal to three numbers (the simulator's plans: one ending in 8 replies, one
/// ending in 0 is not on WhatsApp, one ending in 7 is delivered and never read), sent without
/// waiting for acks.
fn rehearsed_without_waiting(dir: &std::path::Path) {
    std::fs::write(
        dir.join("r.csv"),
        "phone,name\n+447911000008,Ann\n+447911000010,Bob\n+447911000017,Cyd\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "channel = \"whatsapp\"\nbot_id = 3941\ncsv = \"r.csv\"\ntemplate = \"order_confirmation\"\nlanguage = \"en\"\nparams = [\"name\", \"name\"]\n",
    )
    .unwrap();
    let out = crate::helpers::campaign_cmd(
        dir,
        &[
            "run",
            "c.toml",
            "--sim",
            "--no-wait",
            "--poll-first",
            "200ms",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rehearsal's campaign's token fingerprint and counts (`list` and `status --json`).
fn rehearsal_shown(dir: &std::path::Path) -> (Value, Value) {
    let shown = |args: &[&str]| {
        let out = crate::helpers::campaign_cmd(
            dir,
            &[args, &["--json", "--db", "campaign.sim.db"]].concat(),
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    (
        shown(&["list"])[0]["token"].clone(),
        shown(&["status", "1"])["counts"].clone(),
    )
}

#[test]
fn a_rehearsal_can_be_tracked_after_its_run_by_a_simulator_that_remembers_its_sends() {
    let dir = tempfile::tempdir().unwrap();
    rehearsed_without_waiting(dir.path());
    // Its database named: the new simulator gives the acks and the reply the first would have.
    let track = crate::helpers::campaign_cmd(
        dir.path(),
        &["track", "--db", "campaign.sim.db", "--until", "2m"],
    );
    let said = String::from_utf8_lossy(&track.stderr);
    assert!(track.status.success(), "{said}");
    assert!(!said.contains("still await"), "{said}");
    let (_, counts) = rehearsal_shown(dir.path());
    assert_eq!(
        (&counts["replied"], &counts["failed"], &counts["delivered"]),
        (&1.into(), &1.into(), &1.into()),
        "{counts}"
    );
    // `--sim` finds the rehearsals' database itself.
    let again = crate::helpers::campaign_cmd(dir.path(), &["track", "--sim", "--until", "1s"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_rehearsal_resumed_keeps_its_token_and_follows_what_the_earlier_simulator_took() {
    let dir = tempfile::tempdir().unwrap();
    rehearsed_without_waiting(dir.path());
    let (first, _) = rehearsal_shown(dir.path());
    let out = crate::helpers::campaign_cmd(
        dir.path(),
        &["run", "c.toml", "--sim", "--wait", "2m", "-v"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Had the new simulator not known the old mids, it would have answered 1020 (its meaning
    // looked for: "1020" can be part of a logged duration).
    assert!(!said.contains("Unknown Message ID"), "{said}");
    let (again, counts) = rehearsal_shown(dir.path());
    assert!(first.is_string());
    assert_eq!(first, again, "one fingerprint for every rehearsal");
    assert_eq!(
        (&counts["replied"], &counts["failed"], &counts["delivered"]),
        (&1.into(), &1.into(), &1.into()),
        "{counts}"
    );
}

#[test]
fn a_test_send_from_a_short_row_says_so_and_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "phone,name\n+447911000001\n").unwrap();
    let args = [
        &["send-test", "r.csv"][..],
        &crate::helpers::SMS_FLAGS,
        &[
            "--sim",
            "--to",
            "+447911000099",
            "--set",
            "name=X",
            "--follow",
            "0s",
        ],
    ]
    .concat();
    let out = crate::helpers::campaign_cmd(dir.path(), &args);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("not sent: the row has 1 fields, the header has 2"),
        "{said}"
    );
}
