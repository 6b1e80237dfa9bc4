//! Where the event socket connects, with the document's timings, and where it stands.

use std::time::Duration;

/// Where and how the socket listens; the document's advice and the numbers by default.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    pub url: url::Url,
    pub heartbeat: Duration,
    /// No frame for this long: the connection is dead.
    pub dead_after: Duration,
    /// The first and the longest wait before reconnecting after a drop.
    pub backoff: (Duration, Duration),
    /// The wait after a 1018 (replaced by a newer connection).
    pub replaced_wait: Duration,
    /// This many 1018s within `replaced_window` stop the token's socket.
    pub replaced_limit: usize,
    pub replaced_window: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SocketUrlError {
    #[error("--events-ws '{url}' is not a URL: {error}")]
    NotUrl { url: String, error: url::ParseError },
    #[error(
        "--events-ws '{url}' must be wss:// (ws:// only on this machine): the token would cross the network unencrypted"
    )]
    Insecure { url: String },
}

impl SocketConfig {
    /// The WebSocket at `url`: `wss://`, or `ws://` on loopback.
    pub fn new(url: &str) -> Result<Self, SocketUrlError> {
        let shown = crate::redact::url(url);
        let parsed = url::Url::parse(url).map_err(|error| SocketUrlError::NotUrl {
            url: shown.clone(),
            error,
        })?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match parsed.scheme() {
            "wss" => {}
            "ws" if loopback => {}
            _ => return Err(SocketUrlError::Insecure { url: shown }),
        }
        Ok(SocketConfig {
            url: parsed,
            heartbeat: Duration::from_secs(30),
            dead_after: Duration::from_secs(75),
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            replaced_wait: Duration::from_secs(5 * 60),
            replaced_limit: 3,
            replaced_window: Duration::from_secs(30 * 60),
        })
    }
}

/// Where a token's socket stands, for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SocketState {
    Connecting,
    /// Connected since (RFC 3339).
    Connected {
        since: String,
    },
    /// Down; tries again in `retry_in_s`.
    Reconnecting {
        reason: String,
        retry_in_s: u64,
    },
    /// Stopped for good (until the worker restarts), and why.
    Stopped {
        reason: String,
    },
    /// This worker does not hold the token: another process listens for it.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wss_or_ws_on_this_machine() {
        assert!(SocketConfig::new("wss://api.example.com/ws").is_ok());
        assert!(SocketConfig::new("ws://127.0.0.1:9000/").is_ok());
        assert!(SocketConfig::new("ws://localhost:9000/").is_ok());
        let err = SocketConfig::new("ws://api.example.com/ws").unwrap_err();
        assert!(err.to_string().contains("wss://"), "{err}");
        assert!(SocketConfig::new("https://api.example.com/").is_err());
        assert!(SocketConfig::new("not a url").is_err());
    }
}
