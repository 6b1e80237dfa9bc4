//! The send path's promises on the paths operators walk: redirects, echoing servers, outages,
//! deferred and ambiguous answers, failed writes, lost leases. Each test pins one bug.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use campaign::convrs::{Client, ClientConfig};
use campaign::dispatch::{self, DispatchConfig, Stop};
use campaign::engine::{self, RunEnd, RunOptions};
use campaign::queue::{CampaignId, Store, StoreError, StoreOptions};
use secrecy::SecretString;

use crate::helpers::{
    SMS_FLAGS, TOKEN, TestSim, lease, queue, recipients_csv, sms_def, sms_dispatch, spawn_sim,
    store_in, uk_mobile, wait_for,
};

fn sms(rate: u32, in_flight: usize, max_attempts: i64) -> DispatchConfig {
    sms_dispatch(rate, in_flight, max_attempts, Duration::from_secs(1))
}

fn no_wait(reconcile_after: Duration) -> RunOptions {
    RunOptions {
        wait: None,
        reconcile_after,
        ..Default::default()
    }
}

async fn sms_campaign(
    sim: &TestSim,
    dir: &std::path::Path,
    phones: &[String],
) -> (Store, CampaignId) {
    let store = store_in(dir).await;
    let def = sms_def(recipients_csv(dir, "c.csv", phones));
    let id = queue(&store, sim, &def).await.campaign.unwrap();
    (store, id)
}

/// Serves `app` on a loopback port; returns its URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn client(url: &str) -> Client {
    Client::new(&ClientConfig::new(url), SecretString::from(TOKEN)).unwrap()
}

/// Every byte of the database's files (the database, its WAL and shared memory).
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    ["campaign.db", "campaign.db-wal", "campaign.db-shm"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

type Dispatching = tokio::task::JoinHandle<Result<Option<Stop>, StoreError>>;

/// A dispatch in the background, one request at a time with every message claimed at once,
/// once its first send has reached the simulator.
async fn sending_one_at_a_time(
    sim: &TestSim,
    store: &Store,
    id: CampaignId,
) -> (Dispatching, Arc<campaign::queue::Lease>) {
    let lease = lease(store, id).await;
    let running = {
        let (store, client, lease) = (store.clone(), sim.client(), lease.clone());
        tokio::spawn(async move {
            let config = sms(1000, 1, 5);
            dispatch::dispatch(&store, &client, &lease, &config, &Default::default()).await
        })
    };
    wait_for("a first send", || async {
        (!sim.ledger().is_empty()).then_some(())
    })
    .await;
    (running, lease)
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_pauses_the_campaign_naming_the_target() {
    for status in [301u16, 302, 307, 308] {
        let sim = spawn_sim(|_| {}).await;
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = sms_campaign(&sim, dir.path(), &[uk_mobile(1), uk_mobile(2)]).await;
        let target = sim.url();
        let redirect = {
            let target = target.clone();
            axum::Router::new().fallback(move || {
                let target = target.clone();
                async move {
                    let status = StatusCode::from_u16(status).unwrap();
                    (status, [(header::LOCATION, target)]).into_response()
                }
            })
        };
        let url = serve(redirect).await;
        let report = engine::run_campaign(
            &store,
            &client(&url),
            id,
            &sms(10, 2, 5),
            &no_wait(Duration::from_secs(1)),
            &Default::default(),
        )
        .await
        .unwrap();
        let RunEnd::Stopped(Stop::Campaign(reason)) = &report.end else {
            panic!("HTTP {status}: {report:?}")
        };
        assert!(
            reason.contains(&target) && reason.contains("use that URL"),
            "HTTP {status}: {reason}"
        );
        assert!(sim.ledger().is_empty(), "HTTP {status}: nothing sent there");
        let counts = store.counts(id).await.unwrap();
        assert_eq!((counts.queued, counts.sent), (2, 0), "HTTP {status}");
    }
}

#[tokio::test]
async fn the_token_never_reaches_the_database_even_when_the_api_echoes_it_back() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let phones: Vec<String> = (1..=4).map(uk_mobile).collect();
    let (store, id) = sms_campaign(&sim, dir.path(), &phones).await;
    // Answers alternate: HTTP 500 echoing the request as text, then an API error echoing it.
    let calls = Arc::new(AtomicUsize::new(0));
    let echo = axum::Router::new().fallback(move |body: String| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n.is_multiple_of(2) {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("bad request: {body}"),
                )
                    .into_response()
            } else {
                let answer = serde_json::json!({"ok": 0, "errorCode": 1004, "error": body});
                axum::Json(answer).into_response()
            }
        }
    });
    let url = serve(echo).await;
    let report = engine::run_campaign(
        &store,
        &client(&url),
        id,
        &sms(10, 1, 5),
        &no_wait(Duration::from_secs(1)),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(matches!(report.end, RunEnd::Stopped(_)), "{report:?}");
    let overview = campaign::report::Overview::of(&store, id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        overview
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("[secret removed]"),
        "the echo is kept, without the token: {overview:?}"
    );
    campaign::report::write_csv(&store, id, &dir.path().join("r.csv"), Default::default())
        .await
        .unwrap();
    drop(store);
    assert!(
        !contains(&database_bytes(dir.path()), TOKEN),
        "the database holds the token"
    );
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(!csv.contains(TOKEN), "{csv}");
}

/// `text` with every character as a JSON `\uXXXX` escape.
fn json_escaped(text: &str) -> String {
    text.chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

/// `text` with every byte percent-encoded.
fn percent(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_echoed_plain_json_escaped_or_percent_encoded_reach_no_store_report_or_output() {
    const HOOK: &str = "hook-secret-0123456789abcdef";
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let phones: Vec<String> = (1..=7).map(uk_mobile).collect();
    let store = store_in(d).await;
    let def =
        crate::helpers::whatsapp_def(recipients_csv(d, "c.csv", &phones), "order_confirmation");
    let id = queue(&store, &sim, &def).await.campaign.unwrap();
    // Each answer echoes the request (token and webhook header) in another form; the last
    // stops the campaign with HTTP 400 and the request percent-encoded in its text.
    let calls = Arc::new(AtomicUsize::new(0));
    let echo = axum::Router::new().fallback(move |body: String| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let json = |error: String, desc: String| {
                let answer = format!(
                    r#"{{"ok":0,"errorCode":3002,"error":"{error}","whatsappErrorCode":131026,"whatsappErrorDesc":"{desc}"}}"#
                );
                ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
            };
            let plain = serde_json::to_string(&body).unwrap();
            let plain = plain.trim_matches('"').to_string();
            match n {
                0 => json(plain, "desc".into()),
                1 => json("echo".into(), plain),
                2 => json(json_escaped(&body), "desc".into()),
                3 => json("echo".into(), json_escaped(&body)),
                4 => json(percent(&body), "desc".into()),
                5 => json(format!("{}{}", &plain[..10], json_escaped(&plain[10..])), "d".into()),
                _ => (StatusCode::BAD_REQUEST, format!("bad: {}", percent(&body))).into_response(),
            }
        }
    });
    let url = serve(echo).await;
    let config = DispatchConfig {
        command: "SendWhatsAppTemplate",
        callback: Some(campaign::convrs::CallbackTarget {
            url: "http://127.0.0.1:9/callback".into(),
            secret: SecretString::from(HOOK),
        }),
        ..sms(10, 1, 5)
    };
    let report = engine::run_campaign(
        &store,
        &client(&url),
        id,
        &config,
        &no_wait(Duration::from_secs(1)),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(matches!(report.end, RunEnd::Stopped(_)), "{report:?}");
    let counts = store.counts(id).await.unwrap();
    assert_eq!(
        counts.failed, 6,
        "six answers failed their message: {counts:?}"
    );
    drop(store);
    let out =
        crate::helpers::campaign_cmd(d, &["report", "1", "--csv", "r.csv", "--html", "r.html"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = crate::helpers::campaign_cmd(d, &["status", "1"]);
    let status_json = crate::helpers::campaign_cmd(d, &["status", "1", "--json"]);
    let mut seen = vec![
        ("the database", database_bytes(d)),
        ("the CSV report", std::fs::read(d.join("r.csv")).unwrap()),
        ("the HTML report", std::fs::read(d.join("r.html")).unwrap()),
    ];
    for (what, out) in [("status", status), ("status --json", status_json)] {
        seen.push((what, [out.stdout, out.stderr].concat()));
    }
    let text = String::from_utf8_lossy(&seen[3].1).into_owned();
    assert!(
        text.contains("[secret removed]"),
        "the echoes are kept, cleaned: {text}"
    );
    for secret in [TOKEN, HOOK] {
        for form in [secret.to_string(), json_escaped(secret), percent(secret)] {
            for (what, bytes) in &seen {
                assert!(!contains(bytes, &form), "{what} holds {form}");
            }
        }
    }
}

#[tokio::test]
async fn a_message_deferred_by_the_api_does_not_hold_the_run() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    // A number ending in 2001: "user is chatting to an agent", try again in 15 minutes.
    let phones = vec![uk_mobile(1), "+447911002001".to_string(), uk_mobile(2)];
    let (store, id) = sms_campaign(&sim, dir.path(), &phones).await;
    let run = async {
        let client = sim.client();
        let (config, opts) = (sms(10, 2, 5), no_wait(Duration::from_secs(1)));
        engine::run_campaign(&store, &client, id, &config, &opts, &Default::default()).await
    };
    let report = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ends instead of waiting 15 minutes")
        .unwrap();
    assert_eq!(report.end, RunEnd::Sent);
    assert_eq!(report.deferred.len(), 1, "{report:?}");
    let deferred = &report.deferred[0];
    assert_eq!(deferred.count, 1);
    assert!(deferred.reason.contains("2001"), "{deferred:?}");
    assert!(
        deferred.first_at > dispatch::now_ms() + 10 * 60_000,
        "{deferred:?}"
    );
    let overview = campaign::report::Overview::of(&store, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(overview.state, "deferred");
    assert_eq!(overview.deferred, report.deferred, "status shows them");
    assert_eq!(crate::helpers::reached(&store.counts(id).await.unwrap()), 2);
}

#[tokio::test]
async fn ambiguous_answers_use_up_attempts_and_then_leave_the_message_uncertain() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    // A number ending in 2004: "internal error", never processed; the conversation stays empty.
    let (store, id) = sms_campaign(&sim, dir.path(), &["+447911002004".to_string()]).await;
    let client = sim.client_with(|c| c.timeout = Duration::from_millis(100));
    let run = async {
        let (config, opts) = (sms(10, 1, 3), no_wait(Duration::from_millis(200)));
        engine::run_campaign(&store, &client, id, &config, &opts, &Default::default()).await
    };
    let report = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ends instead of sending again forever")
        .unwrap();
    assert_eq!(report.end, RunEnd::Sent);
    assert_eq!(
        report.reconciled.requeued, 2,
        "sent again twice: {report:?}"
    );
    let counts = store.counts(id).await.unwrap();
    assert_eq!(counts.uncertain, 1, "{counts:?}");
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts")
        .fetch_one(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn a_failed_outcome_write_stops_sending_at_once() {
    let sim = spawn_sim(|c| c.latency = Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let phones: Vec<String> = (1..=40).map(uk_mobile).collect();
    let (loaded, id) = sms_campaign(&sim, dir.path(), &phones).await;
    drop(loaded);
    let db = dir.path().join("campaign.db");
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let store = Store::open_with(db.to_str().unwrap(), &options)
        .await
        .unwrap();
    // One at a time, all 40 claimed at once (a claim batch is a tenth of the rate).
    let (running, _) = sending_one_at_a_time(&sim, &store, id).await;
    // Another process holds the write lock for longer than the dispatcher waits for it.
    let other = Store::open(db.to_str().unwrap()).await.unwrap();
    let raw = crate::helpers::raw(&other).await;
    let mut blocker = raw.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("UPDATE settings SET value = value")
        .execute(&mut *blocker)
        .await
        .unwrap();
    wait_for("the dispatcher to give up", || async {
        running.is_finished().then_some(())
    })
    .await;
    blocker.rollback().await.unwrap();
    let result = running.await.unwrap();
    assert!(matches!(result, Err(StoreError::Sql(_))), "{result:?}");
    let sent = sim.ledger().len();
    assert!(
        sent < 10,
        "{sent} of 40 sent although nothing could be recorded"
    );
}

#[tokio::test]
async fn a_send_is_not_made_once_the_lease_is_lost_even_after_it_was_claimed() {
    let sim = spawn_sim(|c| c.latency = Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let phones: Vec<String> = (1..=20).map(uk_mobile).collect();
    let (store, id) = sms_campaign(&sim, dir.path(), &phones).await;
    let (running, lease) = sending_one_at_a_time(&sim, &store, id).await;
    // As the renewal does when it finds the lease taken, or as a process that stalled past it
    // finds on waking: everything already claimed must stay unsent.
    lease.lose();
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::LeaseLost(c)) if c == id),
        "{result:?}"
    );
    let sent = sim.ledger().len();
    let counts = store.counts(id).await.unwrap();
    assert!(sent <= 2, "{sent} sent after the lease was lost");
    assert_eq!(counts.sent as usize, sent, "{counts:?}");
    assert_eq!(counts.sending, 0, "{counts:?}");
}

#[tokio::test]
async fn a_claim_checks_the_lease_in_its_own_transaction() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = sms_campaign(&sim, dir.path(), &[uk_mobile(1)]).await;
    let ours = lease(&store, id).await;
    // Another process takes the campaign over after our lease expired.
    let later = dispatch::now_ms() + 2 * 3600 * 1000;
    store
        .acquire_lease(id, "pid 1@elsewhere", later, later + 60_000)
        .await
        .unwrap()
        .unwrap();
    let due = store.due(id, i64::MAX, 10).await.unwrap();
    let ids: Vec<i64> = due.iter().map(|d| d.0).collect();
    let claimed = store.claim(&ours, &ids).await;
    assert!(
        matches!(claimed, Err(StoreError::LeaseLost(_))),
        "{claimed:?}"
    );
    assert_eq!(store.counts(id).await.unwrap().queued, 1);
}

#[test]
fn an_unreachable_api_pauses_the_campaign_and_keeps_every_message_queued() {
    let dir = tempfile::tempdir().unwrap();
    recipients_csv(
        dir.path(),
        "c.csv",
        &(1..=8).map(uk_mobile).collect::<Vec<_>>(),
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(["run", "c.csv", "--channel", "sms", "--bot", "3941"])
        .args(["--message", "Hi {name}", "--no-wait"])
        .current_dir(dir.path())
        .env("CONVRS_TOKEN", TOKEN)
        .env("CONVRS_API_URL", &url)
        .env_remove("CAMPAIGN_DB")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("could not be reached"), "{stderr}");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(["status", "1", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["state"], "paused", "{status}");
    assert_eq!(status["counts"]["queued"], 8, "{status}");
    assert_eq!(status["counts"]["failed"], 0, "{status}");
}

#[tokio::test]
async fn two_processes_opening_a_new_database_at_once_both_succeed() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        let db = db.to_str().unwrap();
        let (a, b) = tokio::join!(Store::open(db), Store::open(db));
        a.unwrap();
        b.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_holding_numbers_or_secrets_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.csv"), "phone,name\n+447911000001,Ann\nnope,Bob\n").unwrap();
    // A report file that exists already, readable by all, is made owner-only too.
    std::fs::write(d.join("r.html"), "").unwrap();
    std::fs::set_permissions(d.join("r.html"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let sms = SMS_FLAGS;
    let steps: [&[&str]; 3] = [
        &["run", "c.csv", "--no-wait", "--rejects", "rejects.csv"],
        &["report", "1", "--csv", "r.csv"],
        &["report", "1", "--html", "r.html"],
    ];
    for (i, args) in steps.iter().enumerate() {
        let args = if i == 0 {
            [*args, &sms[..]].concat()
        } else {
            args.to_vec()
        };
        let out = crate::helpers::spawn_campaign(d, &sim, &args)
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut checked = vec![];
    for file in [
        "campaign.db",
        "campaign.db-wal",
        "campaign.db-shm",
        "rejects.csv",
        "r.csv",
        "r.html",
    ] {
        let Ok(meta) = std::fs::metadata(d.join(file)) else {
            continue;
        };
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        checked.push(file);
    }
    assert!(checked.len() >= 4, "{checked:?}");
    let ledger = std::fs::metadata(&sim.ledger).unwrap();
    assert_eq!(
        ledger.permissions().mode() & 0o777,
        0o600,
        "the simulator's ledger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_or_database_others_may_read_is_refused_with_the_chmod_to_run() {
    use std::os::unix::fs::PermissionsExt;
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mode = |file: &str, mode: u32| {
        std::fs::set_permissions(d.join(file), std::fs::Permissions::from_mode(mode)).unwrap()
    };
    std::fs::write(d.join("token"), TOKEN).unwrap();
    mode("token", 0o644);
    recipients_csv(d, "c.csv", &[uk_mobile(1)]);
    let url = sim.url();
    let run = |extra: &[&str]| {
        let args = [
            &["run", "c.csv", "--no-wait", "--api-url", &url][..],
            &SMS_FLAGS,
            extra,
        ]
        .concat();
        crate::helpers::campaign_cmd(d, &args)
    };
    let out = run(&["--token-file", "token"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("chmod 600 'token'") && said.contains("mode 0644"),
        "{said}"
    );
    assert!(sim.ledger().is_empty(), "nothing was sent");
    mode("token", 0o600);
    let out = run(&["--token-file", "token"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A database copied with the wrong mode: refused until fixed.
    mode("campaign.db", 0o644);
    let out = crate::helpers::campaign_cmd(d, &["status"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("chmod 600 'campaign.db'"), "{said}");
    mode("campaign.db", 0o600);
    let out = crate::helpers::campaign_cmd(d, &["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_rejects_never_write_through_a_link_someone_placed() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.csv"), "phone,name\n+447911000001,Ann\nnope,Bob\n").unwrap();
    std::fs::write(d.join("precious"), "keep me").unwrap();
    std::os::unix::fs::symlink(d.join("precious"), d.join("rejects.csv")).unwrap();
    std::os::unix::fs::symlink(d.join("precious"), d.join("r.csv")).unwrap();
    std::fs::hard_link(d.join("precious"), d.join("r.html")).unwrap();
    let args = [
        &["run", "c.csv", "--no-wait", "--rejects", "rejects.csv"][..],
        &SMS_FLAGS,
    ]
    .concat();
    let out = crate::helpers::spawn_campaign(d, &sim, &args)
        .wait_with_output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("rejects.csv is a symbolic link"), "{said}");
    let args = [&["run", "c.csv", "--no-wait"][..], &SMS_FLAGS].concat();
    crate::helpers::campaign_ok(d, &sim, &args);
    for (flag, file, why) in [
        ("--csv", "r.csv", "is a symbolic link"),
        ("--html", "r.html", "another name links to it"),
    ] {
        let out = crate::helpers::campaign_cmd(d, &["report", "1", flag, file]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && said.contains(why),
            "{file}: {said}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(d.join("precious")).unwrap(),
        "keep me"
    );
}

#[tokio::test]
async fn a_rehearsal_and_real_sending_never_share_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("campaign.db");
    let db = db.to_str().unwrap();
    let as_purpose = |purpose| StoreOptions {
        purpose,
        ..Default::default()
    };
    drop(
        Store::open_with(db, &as_purpose(campaign::queue::Purpose::Rehearsal))
            .await
            .unwrap(),
    );
    let real = Store::open_with(db, &as_purpose(campaign::queue::Purpose::Real)).await;
    let err = real.expect_err("a rehearsal database is refused for real sends");
    assert!(err.to_string().contains("rehearsal"), "{err}");
    Store::open(db)
        .await
        .expect("status and reports read either kind");
}
