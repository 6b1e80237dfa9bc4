//! Shared test helpers: a simulator on a loopback port with its own ledger, a client for it,
//! a callback sink, and waiting on conditions instead of sleeping.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use campaign::convrs::{Client, ClientConfig};
use campaign::sim::{self, RunningSim, SimConfig, ledger::LedgerEntry};
use secrecy::SecretString;
use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789";

pub struct TestSim {
    pub running: RunningSim,
    pub ledger: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestSim {
    pub fn url(&self) -> String {
        self.running.url()
    }

    pub fn client(&self) -> Client {
        self.client_with(|_| {})
    }

    pub fn client_with(&self, tweak: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut config = ClientConfig::new(self.url());
        tweak(&mut config);
        Client::new(&config, SecretString::from(TOKEN)).unwrap()
    }

    pub fn ledger(&self) -> Vec<LedgerEntry> {
        sim::ledger::read(&self.ledger).unwrap_or_default()
    }

    /// Posts `body` as it is and returns the JSON answer.
    pub async fn raw(&self, body: impl Into<reqwest::Body>) -> Value {
        let response = campaign::convrs::client::http_builder()
            .build()
            .unwrap()
            .post(self.url())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// Posts `fields` with the test token and `cmd`.
    pub async fn call(&self, cmd: &str, mut fields: Value) -> Value {
        fields["token"] = TOKEN.into();
        fields["cmd"] = cmd.into();
        self.raw(fields.to_string()).await
    }
}

/// A simulator on 127.0.0.1:0 accepting `TOKEN`, with acks every 10 ms and a ledger file.
pub async fn spawn_sim(tweak: impl FnOnce(&mut SimConfig)) -> TestSim {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let mut config = SimConfig {
        tokens: vec![TOKEN.into()],
        ack_delay: Duration::from_millis(10),
        ledger: Some(ledger.clone()),
        ..SimConfig::default()
    };
    tweak(&mut config);
    let running = sim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    TestSim {
        running,
        ledger,
        _dir: dir,
    }
}

/// A distinct valid UK mobile number for each `i`.
pub fn uk_mobile(i: u32) -> String {
    format!("+447911{i:06}")
}

/// Receives callbacks on a loopback port and keeps them with their headers.
pub struct CallbackSink {
    pub url: String,
    received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl CallbackSink {
    pub async fn spawn() -> Self {
        let received: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
        let store = received.clone();
        let app = axum::Router::new().fallback(axum::routing::post(
            move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push((headers, body));
                    "ok"
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        CallbackSink {
            url: format!("http://{addr}/callback"),
            received,
        }
    }

    pub fn received(&self) -> Vec<(HeaderMap, Value)> {
        self.received.lock().unwrap().clone()
    }
}

/// Polls `check` until it returns `Some`, failing the test after a generous deadline.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the `campaign` binary with `args` in `dir` (its database is `dir/campaign.db`).
pub fn campaign_cmd(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(args)
        .current_dir(dir)
        .env_remove("CONVRS_TOKEN")
        .env_remove("CAMPAIGN_DB")
        .output()
        .unwrap()
}

/// Starts the `campaign` binary in `dir` against `sim` (token in the environment).
pub fn spawn_campaign(dir: &std::path::Path, sim: &TestSim, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(args)
        .current_dir(dir)
        .env("CONVRS_TOKEN", TOKEN)
        .env("CONVRS_API_URL", sim.url())
        .env_remove("CAMPAIGN_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the `campaign` binary in `dir` against `sim` to its end; it must succeed. Its stderr.
pub fn campaign_ok(dir: &std::path::Path, sim: &TestSim, args: &[&str]) -> String {
    let out = spawn_campaign(dir, sim, args).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    stderr
}

/// The numbers starting with `prefix` the simulator accepted sends to, in order.
pub fn phones_sent(sim: &TestSim, prefix: &str) -> Vec<String> {
    accepted_to(sim, prefix)
        .into_iter()
        .map(|e| e.phone)
        .collect()
}

/// Sends `signal` (e.g. "-KILL", "-INT") to a child process.
pub fn signal(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// How many accepted sends the ledger holds per phone number.
pub fn sends_per_phone(sim: &TestSim) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for e in sim.ledger().into_iter().filter(|e| e.event == "accepted") {
        *counts.entry(e.phone).or_default() += 1;
    }
    counts
}

/// Writes `phones` to `dir/file` as `phone,name,order,key` (key: the row number, so a number
/// may appear more than once) and returns the path.
pub fn recipients_csv(dir: &std::path::Path, file: &str, phones: &[String]) -> std::path::PathBuf {
    let path = dir.join(file);
    let rows: String = phones
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{p},Name{i},O-{i},k{i}\n"))
        .collect();
    std::fs::write(&path, format!("phone,name,order,key\n{rows}")).unwrap();
    path
}

/// A WhatsApp campaign of `template` (`order_confirmation` takes name and order, the promo
/// templates take name), one message per row.
pub fn whatsapp_def(
    csv: std::path::PathBuf,
    template: &str,
) -> campaign::campaign::definition::Definition {
    let params = if template == "order_confirmation" {
        vec!["name".into(), "order".into()]
    } else {
        vec!["name".into()]
    };
    campaign::campaign::definition::CampaignFile {
        bot_id: Some(3941),
        template: Some(template.into()),
        language: Some("en".into()),
        params: Some(params),
        dedupe_key: Some("{key}".into()),
        csv: Some(csv),
        ..Default::default()
    }
    .with(Default::default())
    .unwrap()
}

/// An SMS campaign saying "Hi {name}".
pub fn sms_def(csv: std::path::PathBuf) -> campaign::campaign::definition::Definition {
    campaign::campaign::definition::CampaignFile {
        bot_id: Some(3941),
        channel: Some(campaign::campaign::definition::Channel::Sms),
        message: Some("Hi {name}".into()),
        csv: Some(csv),
        ..Default::default()
    }
    .with(Default::default())
    .unwrap()
}

/// Loads `def` into `store` (the simulator provides the template) and returns its campaign.
pub async fn queue(
    store: &campaign::queue::Store,
    sim: &TestSim,
    def: &campaign::campaign::definition::Definition,
) -> campaign::campaign::Loaded {
    let options = campaign::campaign::LoadOptions::default();
    campaign::campaign::load(def, store, Some(&sim.client()), &options)
        .await
        .unwrap()
}

/// A store in `dir/campaign.db` (where the `campaign` binary run in `dir` finds it too).
pub async fn store_in(dir: &std::path::Path) -> campaign::queue::Store {
    campaign::queue::Store::open(dir.join("campaign.db").to_str().unwrap())
        .await
        .unwrap()
}

/// A connection of the test's own to a store's SQLite database, for what the store has no
/// call for (reading columns, writing back times).
pub async fn raw(store: &campaign::queue::Store) -> sqlx::SqlitePool {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(store.location()).unwrap();
    sqlx::SqlitePool::connect_with(options).await.unwrap()
}

/// The PostgreSQL server for tests: `TEST_DATABASE_URL` (set by .ci/run, which also starts the
/// server), else this machine kind's local server.
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The PostgreSQL server's URL when it answers. When it does not, a test that needs it is
/// skipped with a loud message on a developer's machine, and fails in CI (`CI=true`).
pub fn postgres() -> Option<String> {
    let url = test_database_url();
    let address = url::Url::parse(&url).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some((host, u.port().unwrap_or(5432)))
    });
    let reachable = address.is_some_and(|(host, port)| {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .into_iter()
            .flatten()
            .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    });
    if reachable {
        return Some(url);
    }
    missing(&format!(
        "PostgreSQL does not answer at {url} (TEST_DATABASE_URL). Start it: \
         pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or run .ci/run"
    ))
}

/// What a test does when a part it needs (PostgreSQL, Chromium) is missing: in CI it fails;
/// elsewhere it says loudly that it skips.
pub fn missing<T>(what: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}");
    }
    // Straight to the terminal: the test harness keeps what `eprintln!` says from a test
    // that passes.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\n*** SKIPPED: {what}\n*** (with CI=true this is a failure)\n\n").as_bytes(),
    );
    None
}

/// The campaign lease that a dispatch needs, taken as a run would (for an hour).
pub async fn lease(
    store: &campaign::queue::Store,
    id: campaign::queue::CampaignId,
) -> std::sync::Arc<campaign::queue::Lease> {
    let lease = store
        .take_lease(
            id,
            &campaign::queue::this_process(),
            Duration::from_secs(3600),
        )
        .await
        .unwrap()
        .unwrap();
    std::sync::Arc::new(lease)
}

/// Runs `statements` on the PostgreSQL server at `url`.
pub async fn pg_execute(url: &str, statements: &[String]) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// Messages the API accepted, whatever ack they have reached since (acks are polled while
/// sending goes on): sent, delivered, read or replied.
pub fn reached(counts: &campaign::queue::Counts) -> i64 {
    counts.sent + counts.delivered + counts.read + counts.replied
}

/// `campaign run` flags of an SMS campaign from bot 3941 saying "Hi {name}".
pub const SMS_FLAGS: [&str; 6] = [
    "--channel",
    "sms",
    "--bot",
    "3941",
    "--message",
    "Hi {name}",
];

/// A dispatch of SMS at `rate` a second, `in_flight` at once, each message polled first after
/// `first_poll`.
pub fn sms_dispatch(
    rate: u32,
    in_flight: usize,
    max_attempts: i64,
    first_poll: Duration,
) -> campaign::dispatch::DispatchConfig {
    campaign::dispatch::DispatchConfig {
        rate,
        number_rate: 1,
        max_attempts,
        in_flight,
        command: "SendSMSMessage",
        callback: None,
        first_poll,
        defer_after: Duration::from_secs(60),
    }
}

/// A `campaign worker` process in `dir` against `sim`, its stderr kept as it comes.
pub struct TestWorker {
    child: Option<std::process::Child>,
    /// `http://127.0.0.1:PORT`, where it serves /healthz and /metrics.
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl TestWorker {
    /// Starts it (`--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --poll-first 1s` and
    /// `extra`) and returns once it says where it listens.
    pub async fn spawn(dir: &std::path::Path, sim: &TestSim, extra: &[&str]) -> TestWorker {
        use std::io::BufRead;
        let args = [
            &[
                "worker",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--poll-first",
                "1s",
            ][..],
            extra,
        ]
        .concat();
        let mut child = spawn_campaign(dir, sim, &args);
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<String>> = Arc::default();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = wait_for("the worker to listen", || {
            let log = log.lock().unwrap().clone();
            async move {
                let (_, rest) = log.split_once("/metrics on ")?;
                Some(rest.lines().next()?.trim().to_string())
            }
        })
        .await;
        TestWorker {
            child: Some(child),
            url,
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// GET `path` from it: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// SIGKILL: it dies at once, whatever it had in flight.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        signal(&child, "-KILL");
        let _ = child.wait();
    }

    /// SIGTERM, and its exit status once it has drained.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(&child, "-TERM");
        child.wait().unwrap()
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The accepted sends in the simulator's ledger to numbers starting with `prefix`.
pub fn accepted_to(sim: &TestSim, prefix: &str) -> Vec<LedgerEntry> {
    sim.ledger()
        .into_iter()
        .filter(|e| e.event == "accepted" && e.phone.starts_with(prefix))
        .collect()
}

/// A lease owner that is another live process on this host (pid 1), as after a takeover.
pub fn another_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    format!("pid 1@{}", host.trim())
}

/// Writes `token` to `dir/name`, readable by its owner only (others may not read a token file),
/// and returns the path.
pub fn token_file(dir: &std::path::Path, name: &str, token: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, token).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The most sends any token had accepted in any one second (a sliding window), per token.
pub fn busiest_second(sim: &TestSim) -> std::collections::BTreeMap<String, usize> {
    let mut times: std::collections::BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> =
        Default::default();
    for e in sim.ledger().iter().filter(|e| e.event == "accepted") {
        let at = chrono::DateTime::parse_from_rfc3339(&e.time)
            .unwrap()
            .with_timezone(&chrono::Utc);
        times.entry(e.token.clone()).or_default().push(at);
    }
    times
        .into_iter()
        .map(|(token, mut at)| {
            at.sort();
            let most = (0..at.len())
                .map(|i| {
                    at[i..]
                        .iter()
                        .take_while(|t| **t - at[i] < chrono::TimeDelta::seconds(1))
                        .count()
                })
                .max()
                .unwrap_or(0);
            (token, most)
        })
        .collect()
}

/// `dir/r.csv`: Ann and Bob (`uk_mobile(1)`, `uk_mobile(2)`), with a third column and its two
/// values when given.
pub fn ann_and_bob(dir: &std::path::Path, third: Option<(&str, [&str; 2])>) {
    let (head, [a, b]) = match third {
        Some((name, [a, b])) => (format!(",{name}"), [format!(",{a}"), format!(",{b}")]),
        None => (String::new(), [String::new(), String::new()]),
    };
    let csv = format!(
        "phone,name{head}\n{},Ann{a}\n{},Bob{b}\n",
        uk_mobile(1),
        uk_mobile(2)
    );
    std::fs::write(dir.join("r.csv"), csv).unwrap();
}
