//! `campaign sim`: a Convrs API simulator that follows `convrs-api.txt`, served over real HTTP.
//!
//! One POST endpoint (any path) takes `{"token", "cmd", ...}` and answers as the document says,
//! including its error codes. On top: sliding-window rate limits, predictable acks
//! (see `acks`), delivery callbacks, fault injection and a JSON-lines ledger.

mod acks;
mod commands;
pub mod ledger;
mod listening;
mod request;
mod sending;
mod socket;
mod state;
pub mod templates;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use acks::{Channel, plan as ack_plan};
pub use state::{Bot, EarlierSend, default_bots};
pub use templates::TemplateDef;

use crate::convrs::ErrorCode;

/// Everything `campaign sim` can be told.
#[derive(Clone)]
pub struct SimConfig {
    /// Tokens the simulator accepts.
    pub tokens: Vec<String>,
    /// Sends per token in any one-second window (0: no limit).
    pub token_rate: u32,
    /// Sends per phone number in any one-second window (0: no limit).
    pub number_rate: u32,
    /// Added to every answer.
    pub latency: Duration,
    /// Probability (0..=1) that a request meets a fault.
    pub fault_rate: f64,
    /// Which faults to inject (empty: all three).
    pub faults: Vec<Fault>,
    /// How long a "slow answer" fault waits.
    pub slow: Duration,
    /// Time between two acks of one message.
    pub ack_delay: Duration,
    pub templates: Vec<TemplateDef>,
    pub bots: Vec<Bot>,
    pub ledger: Option<PathBuf>,
    /// Seed for fault injection, so a failing run can be repeated.
    pub seed: u64,
    /// Routes SendMessage knows.
    pub routes: Vec<String>,
    /// How a template send shows in GetConversation. The API document does not say; real
    /// servers differ, and reconciliation must not depend on it.
    pub template_shown: TemplateShown,
    /// Where events (onUserConversation, onUserDisable, onUserEnable) are posted, if anywhere.
    pub events_url: Option<String>,
    /// What a recipient whose message reaches ack 10 replies.
    pub reply_text: String,
    /// Users that exist from the start (tests: GetUsers beyond one answer).
    pub users: Vec<crate::convrs::wire::User>,
    /// Messages earlier simulators took, remembered from the start (a rehearsal's database).
    pub earlier: Vec<EarlierSend>,
}

/// How a template message is shown in the conversation (`--template-shown`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TemplateShown {
    /// The body with its parameters, as our own rendering.
    #[default]
    Body,
    /// The template's name before the body: `[order_confirmation] Hi Ann...`.
    NamePrefixed,
    /// A header line, then the body.
    WithHeader,
    /// Only the parameters, comma-separated.
    ParamsOnly,
}

impl std::str::FromStr for TemplateShown {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "body" => Ok(TemplateShown::Body),
            "name" => Ok(TemplateShown::NamePrefixed),
            "header" => Ok(TemplateShown::WithHeader),
            "params" => Ok(TemplateShown::ParamsOnly),
            other => Err(format!(
                "'{other}' is not a way to show templates: use body, name, header or params"
            )),
        }
    }
}

impl TemplateShown {
    /// The conversation text of template `name` rendered as `body` with `params`.
    pub fn text(self, name: &str, body: &str, params: &[String]) -> String {
        match self {
            TemplateShown::Body => body.to_string(),
            TemplateShown::NamePrefixed => format!("[{name}] {body}"),
            TemplateShown::WithHeader => format!("Your message\n{body}"),
            TemplateShown::ParamsOnly => params.join(", "),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("token_rate", &self.token_rate)
            .field("number_rate", &self.number_rate)
            .field("fault_rate", &self.fault_rate)
            .field("ack_delay", &self.ack_delay)
            .field("earlier", &self.earlier.len())
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tokens: vec!["sim-token".into()],
            token_rate: 10,
            number_rate: 1,
            latency: Duration::ZERO,
            fault_rate: 0.0,
            faults: vec![],
            slow: Duration::from_secs(3),
            ack_delay: Duration::from_millis(500),
            templates: templates::builtin(),
            bots: default_bots(),
            ledger: None,
            seed: 1,
            routes: vec!["welcome".into()],
            template_shown: TemplateShown::Body,
            events_url: None,
            reply_text: "Thanks!".into(),
            users: vec![],
            earlier: vec![],
        }
    }
}

/// The simulator's shared state.
pub struct Sim {
    config: SimConfig,
    state: Mutex<state::SimState>,
    /// The open WebSockets.
    sockets: Mutex<socket::Sockets>,
    ledger: Option<ledger::Ledger>,
    /// For callbacks.
    http: reqwest::Client,
    rng: Mutex<u64>,
}

/// A simulator running in this process (for `run --sim` and tests).
pub struct RunningSim {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningSim {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Binds `listen` (port 0 picks a free port) and serves until `stop`.
pub async fn start(listen: SocketAddr, config: SimConfig) -> std::io::Result<RunningSim> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let app = router(config)?;
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    });
    Ok(RunningSim {
        addr,
        shutdown,
        task,
    })
}

/// The axum app for `config`.
pub fn router(config: SimConfig) -> std::io::Result<Router> {
    let ledger = config
        .ledger
        .as_deref()
        .map(ledger::Ledger::open)
        .transpose()?;
    let http = crate::convrs::client::http_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    let mut state = state::SimState::with_users(&config.users);
    state.remember(&config.earlier, &config.bots);
    let sim = Arc::new(Sim {
        state: Mutex::new(state),
        rng: Mutex::new(config.seed),
        config,
        sockets: Default::default(),
        ledger,
        http,
    });
    Ok(Router::new()
        .fallback(axum::routing::post(handle).get(socket::upgrade))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(sim))
}

/// A failure the simulator can inject (`--faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 503 with a plain-text body, before anything is processed.
    Unavailable,
    /// The request is processed, then the connection breaks before the answer arrives.
    DropAfter,
    /// The answer comes after `slow`.
    Slow,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "503" | "unavailable" => Ok(Fault::Unavailable),
            "drop" => Ok(Fault::DropAfter),
            "slow" => Ok(Fault::Slow),
            other => Err(format!("unknown fault '{other}': use 503, drop or slow")),
        }
    }
}

async fn handle(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    if !sim.config.latency.is_zero() {
        tokio::time::sleep(sim.config.latency).await;
    }
    let fault = sim.roll_fault();
    match fault {
        Some(Fault::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        Some(Fault::Slow) => tokio::time::sleep(sim.config.slow).await,
        _ => {}
    }
    let answer = sim.answer(&body);
    if fault == Some(Fault::DropAfter) {
        // The request was processed; the connection breaks before the answer arrives.
        let broken = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("simulated connection drop"))
        });
        return Response::new(Body::from_stream(broken));
    }
    axum::Json(answer).into_response()
}

impl Sim {
    fn roll_fault(&self) -> Option<Fault> {
        if self.config.fault_rate <= 0.0 {
            return None;
        }
        let r = self.next_random();
        let p = (r >> 11) as f64 / (1u64 << 53) as f64;
        if p >= self.config.fault_rate {
            return None;
        }
        const ALL: [Fault; 3] = [Fault::Unavailable, Fault::DropAfter, Fault::Slow];
        let kinds = if self.config.faults.is_empty() {
            &ALL[..]
        } else {
            &self.config.faults[..]
        };
        Some(kinds[(r % kinds.len() as u64) as usize])
    }

    /// splitmix64: small, seeded and good enough for fault injection.
    fn next_random(&self) -> u64 {
        let mut s = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Parses, authenticates and runs one request; always returns the document's JSON.
    fn answer(&self, body: &[u8]) -> Value {
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
            return refusal(None, request::Refusal::code(ErrorCode::InvalidJson));
        };
        let cmd = request
            .get("cmd")
            .and_then(Value::as_str)
            .map(str::to_string);
        let token = match request.get("token").and_then(Value::as_str) {
            None | Some("") => {
                return refusal(
                    cmd.as_deref(),
                    request::Refusal::code(ErrorCode::MissingToken),
                );
            }
            Some(t) if !self.config.tokens.iter().any(|known| known == t) => {
                return refusal(
                    cmd.as_deref(),
                    request::Refusal::code(ErrorCode::InvalidToken),
                );
            }
            Some(t) => t,
        };
        let Some(cmd) = cmd else {
            return refusal(None, request::Refusal::code(ErrorCode::UnknownCommand));
        };
        match commands::run(self, token, &cmd, &request) {
            Ok(fields) => {
                let mut out = Map::new();
                out.insert("ok".into(), json!(1));
                out.insert("cmd".into(), json!(cmd));
                out.extend(fields);
                Value::Object(out)
            }
            Err(r) => refusal(Some(&cmd), r),
        }
    }
}

fn refusal(cmd: Option<&str>, r: request::Refusal) -> Value {
    let code = ErrorCode::from_code(r.code);
    let mut out = json!({ "ok": 0, "error": code.meaning(), "errorCode": r.code });
    if let Some(cmd) = cmd {
        out["cmd"] = json!(cmd);
    }
    if let Some(wa) = r.whatsapp {
        out["error"] = json!("WhatsApp error");
        out["whatsappErrorCode"] = json!(wa);
        out["whatsappErrorDesc"] = json!(crate::convrs::codes::whatsapp::describe(wa));
    }
    out
}

impl Sim {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, state::SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn sockets(&self) -> std::sync::MutexGuard<'_, socket::Sockets> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A command sent over a WebSocket: as over POST, with the socket's token.
    fn answer_on_socket(&self, token: &str, frame: &[u8]) -> Value {
        let mut request = match serde_json::from_slice::<Value>(frame) {
            Ok(Value::Object(request)) => request,
            _ => return refusal(None, request::Refusal::code(ErrorCode::InvalidJson)),
        };
        request.insert("token".into(), json!(token));
        self.answer(Value::Object(request).to_string().as_bytes())
    }

    pub(super) fn log(&self, entry: &ledger::LedgerEntry) {
        if let Some(ledger) = &self.ledger {
            ledger.append(entry);
        }
    }
}
