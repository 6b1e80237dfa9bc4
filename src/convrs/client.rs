//! The HTTP client: one JSON POST per call, no hidden retries, and errors that say whether the
//! request may have reached the server. The token is exposed in one place: `envelope`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

pub use super::answer::{CallError, MAX_TEXT_CHARS, read_answer};
use super::answer::{cap, decode, interpret, read_capped, transport_error};
use super::scrub::Scrubber;
use super::wire::{self, Answer, Command};

/// Where and how to reach the API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoint: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Take a plain `http://` endpoint that is not on this machine (the token would cross the
    /// network readable by anyone on the way).
    pub allow_insecure_http: bool,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            allow_insecure_http: false,
        }
    }
}

/// A Convrs API client bound to one token. `Debug` shows the endpoint (credentials and secret
/// parameters left out), never the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    token: SecretString,
    observer: Option<Arc<dyn Observe>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &crate::redact::url(self.endpoint.as_str()))
            .field("token", &self.token_fingerprint())
            .finish_non_exhaustive()
    }
}

/// Told of every call the client makes (for metrics and health): the command, how long it
/// took, and what came of it.
pub trait Observe: Send + Sync + std::fmt::Debug {
    fn call(&self, cmd: &str, took: Duration, result: &Result<Answer, CallError>);
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("invalid API URL '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The endpoint of `config`, if it is one the token may be sent to: an https URL, or http on
/// this machine (the simulator), or anywhere when the operator allowed it.
fn endpoint(config: &ClientConfig) -> Result<reqwest::Url, ClientBuildError> {
    let bad = |reason: String| ClientBuildError::BadUrl {
        url: crate::redact::url(&config.endpoint),
        reason,
    };
    if !config.endpoint.contains("://") {
        let shown = crate::redact::url(&config.endpoint);
        return Err(bad(format!(
            "it has no scheme: write it as https://{shown}"
        )));
    }
    let endpoint = reqwest::Url::parse(&config.endpoint).map_err(|e| bad(e.to_string()))?;
    match endpoint.scheme() {
        "https" => Ok(endpoint),
        "http" if config.allow_insecure_http || is_loopback(&endpoint) => Ok(endpoint),
        "http" => Err(bad(
            "plain http would send the token unencrypted across the network: use the https URL \
             shown under Integrations > Convrs API (or pass --allow-insecure-http if this \
             network is yours and you accept that)"
                .into(),
        )),
        _ => Err(bad(
            "the scheme must be https (or http on this machine)".into()
        )),
    }
}

/// Whether the URL's host is this machine: `localhost` or a loopback address.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Client {
    pub fn new(config: &ClientConfig, token: SecretString) -> Result<Self, ClientBuildError> {
        let endpoint = endpoint(config)?;
        let http = http_builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .build()?;
        Ok(Client {
            http,
            endpoint,
            token,
            observer: None,
        })
    }

    /// This client, telling `observer` of every call.
    pub fn observed(mut self, observer: Arc<dyn Observe>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Sends one command and returns its answer if `ok` is 1.
    #[tracing::instrument(skip_all, fields(cmd = C::CMD))]
    pub async fn call<C: Command>(&self, command: &C) -> Result<Answer, CallError> {
        self.post(C::CMD, command, &[]).await
    }

    /// One POST of `cmd` with `body`'s fields; the answer if `ok` is 1. `hidden` are secrets
    /// the body carries besides the token (a webhook header's value), removed from the answer
    /// as the token is.
    async fn post<B: Serialize>(
        &self,
        cmd: &str,
        body: &B,
        hidden: &[&str],
    ) -> Result<Answer, CallError> {
        let started = std::time::Instant::now();
        let result = self.post_unobserved(cmd, body, hidden).await;
        if let Some(observer) = &self.observer {
            observer.call(cmd, started.elapsed(), &result);
        }
        result
    }

    async fn post_unobserved<B: Serialize>(
        &self,
        cmd: &str,
        body: &B,
        hidden: &[&str],
    ) -> Result<Answer, CallError> {
        // A server may echo the request back, secrets included: they are removed before any of
        // the answer can reach an error, a log or the database.
        let scrub = Scrubber::new(std::iter::once(self.token()).chain(hidden.iter().copied()));
        let response = self
            .http
            .post(self.endpoint.clone())
            .json(&self.envelope(cmd, body))
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_else(|| "(no Location header)".into());
            return Err(CallError::Redirect {
                status,
                location: cap(&crate::redact::url(&scrub.text(&location))),
            });
        }
        let body = read_capped(response).await?;
        interpret(status, &body, &scrub)
    }

    fn token(&self) -> &str {
        expose(&self.token)
    }

    /// The WebSocket's first frame: `{"cmd":"connect","token":...}` (the document's "Connect
    /// via Websocket"). It holds the token: send it, never show it.
    pub fn connect_frame(&self) -> String {
        serde_json::json!({ "cmd": "connect", "token": self.token() }).to_string()
    }

    /// A fingerprint of the token (`fp:` and 8 hex digits), to tell tokens apart in the store.
    pub fn token_fingerprint(&self) -> String {
        token_fingerprint(&self.token)
    }

    /// The request body: the command's fields plus `token` and `cmd`.
    fn envelope<'a, B: Serialize>(&'a self, cmd: &'a str, body: &'a B) -> Envelope<'a, B> {
        Envelope {
            token: self.token(),
            cmd,
            body,
        }
    }

    /// POSTs `body` (a JSON object of the command's fields, without token) as `cmd`. The values
    /// of its `webhookHeaders` are secrets (the callback secret), kept out of the answer.
    pub(super) async fn post_value(&self, cmd: &str, body: &Value) -> Result<Answer, CallError> {
        let hidden = header_values(body);
        let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
        self.post(cmd, body, &hidden).await
    }

    pub async fn get_message_details(&self, mid: &str) -> Result<wire::MessageDetails, CallError> {
        let answer = self
            .call(&wire::GetMessageDetails {
                mid: mid.to_string(),
            })
            .await?;
        let ack = answer.ack.ok_or_else(|| CallError::Unexpected {
            detail: "GetMessageDetails answer has no ack".into(),
        })?;
        Ok(wire::MessageDetails {
            uid: answer.uid,
            bot_id: answer.bot_id,
            ack,
        })
    }

    pub async fn get_whatsapp_template(
        &self,
        req: &wire::GetWhatsAppTemplate,
    ) -> Result<wire::Template, CallError> {
        let answer = self.call(req).await?;
        // The document puts the template in `template`; accept `data` as well.
        let value = answer.template.or(answer.data).unwrap_or(Value::Null);
        decode(value, "GetWhatsAppTemplate template")
    }

    pub async fn get_conversation(
        &self,
        uid: &str,
    ) -> Result<Vec<wire::ConversationMessage>, CallError> {
        let answer = self
            .call(&wire::GetConversation {
                uid: uid.to_string(),
            })
            .await?;
        decode(
            answer.data.unwrap_or(Value::Array(vec![])),
            "GetConversation data",
        )
    }

    pub async fn get_user(&self, uid: &str) -> Result<wire::User, CallError> {
        let answer = self
            .call(&wire::GetUser {
                uid: uid.to_string(),
            })
            .await?;
        decode(answer.data.unwrap_or(Value::Null), "GetUser data")
    }

    pub async fn get_users(&self, filter: &wire::GetUsers) -> Result<Vec<wire::User>, CallError> {
        let answer = self.call(filter).await?;
        decode(answer.data.unwrap_or(Value::Array(vec![])), "GetUsers data")
    }
}

/// The only place the token is exposed: for the request envelope and the fingerprint.
fn expose(token: &SecretString) -> &str {
    token.expose_secret()
}

/// A fingerprint of a token (`fp:` and 8 hex digits): tells tokens apart, cannot be reversed.
pub fn token_fingerprint(token: &SecretString) -> String {
    crate::fingerprint::token(expose(token))
}

/// A reqwest builder with the process-wide TLS provider installed (ring, shared with sqlx).
/// Every HTTP client of this crate starts here, and none follows redirects: a redirect would
/// re-send the request, token included, wherever it points.
pub fn http_builder() -> reqwest::ClientBuilder {
    // A second install fails harmlessly: the provider is already there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}

/// The values of a request's `webhookHeaders`, in each form the document's servers take:
/// `"Name: value"`, `{"name": .., "value": ..}` or `{"Name": "value"}`.
fn header_values(body: &Value) -> Vec<String> {
    let Some(headers) = body.get("webhookHeaders").and_then(Value::as_array) else {
        return vec![];
    };
    let mut values = vec![];
    for header in headers {
        match header {
            Value::String(line) => {
                if let Some((_, value)) = line.split_once(':') {
                    values.push(value.trim().to_string());
                }
            }
            Value::Object(fields) => match fields.get("value").and_then(Value::as_str) {
                Some(value) => values.push(value.to_string()),
                None => values.extend(fields.values().filter_map(Value::as_str).map(String::from)),
            },
            _ => {}
        }
    }
    values
}

#[derive(Serialize)]
struct Envelope<'a, C> {
    token: &'a str,
    cmd: &'a str,
    #[serde(flatten)]
    body: &'a C,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_not_in_debug_output() {
        let client = Client::new(
            &ClientConfig::new("http://127.0.0.1:9"),
            SecretString::from("tok-SECRET-123"),
        )
        .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("tok-SECRET-123"), "{debug}");
        assert!(debug.contains("127.0.0.1"));
    }

    #[test]
    fn plain_http_is_refused_unless_on_this_machine_or_allowed() {
        let token = || SecretString::from("t");
        for local in [
            "http://127.0.0.1:8089/",
            "http://localhost/",
            "http://[::1]:9/",
        ] {
            assert!(
                Client::new(&ClientConfig::new(local), token()).is_ok(),
                "{local}"
            );
        }
        let remote = ClientConfig::new("http://user:pw@api.convrs.example/?token=x");
        let err = Client::new(&remote, token()).unwrap_err().to_string();
        assert!(err.contains("--allow-insecure-http"), "{err}");
        assert!(!err.contains("pw@") && !err.contains("token=x"), "{err}");
        let allowed = ClientConfig {
            allow_insecure_http: true,
            ..remote
        };
        assert!(Client::new(&allowed, token()).is_ok());
    }

    #[test]
    fn a_bad_url_is_refused_with_the_url_named() {
        let err = Client::new(&ClientConfig::new("ftp://x"), SecretString::from("t")).unwrap_err();
        assert!(err.to_string().contains("ftp://x"));
        let err = Client::new(
            &ClientConfig::new("api.convrs.example"),
            SecretString::from("t"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no scheme: write it as https://api.convrs.example"),
            "{err}"
        );
    }
}
