//! How each accepted message's acks unfold, chosen from the number so tests can predict them,
//! and the callbacks that report every ack change to the sender's `webhookURL`.
//!
//! | last digit | WhatsApp acks          | SMS acks   |
//! |------------|------------------------|------------|
//! | 0          | 0, -2 (not on WhatsApp) | 0, 1, 2    |
//! | 7          | 0, 1, 2 (never read)   | 0, 1, 2    |
//! | 8          | 0, 1, 2, 3, 10 (reply) | 0, 1, 2    |
//! | 9          | 0, 1, -1 (error)       | 0, 1, -1   |
//! | other      | 0, 1, 2, 3             | 0, 1, 2    |

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::convrs::wire::Callback;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    WhatsApp,
    Sms,
}

/// The acks a message to `digits` goes through, in order.
pub fn plan(channel: Channel, digits: &str) -> &'static [i64] {
    let last = digits.bytes().last().unwrap_or(b'1');
    match (channel, last) {
        (Channel::WhatsApp, b'0') => &[0, -2],
        (Channel::WhatsApp, b'7') => &[0, 1, 2],
        (Channel::WhatsApp, b'8') => &[0, 1, 2, 3, 10],
        (_, b'9') => &[0, 1, -1],
        (Channel::WhatsApp, _) => &[0, 1, 2, 3],
        (Channel::Sms, _) => &[0, 1, 2],
    }
}

/// The ack at `elapsed` after acceptance, one step every `step`.
pub fn current(plan: &[i64], elapsed: Duration, step: Duration) -> i64 {
    let index = if step.is_zero() {
        plan.len() - 1
    } else {
        (elapsed.as_nanos() / step.as_nanos()) as usize
    };
    plan[index.min(plan.len() - 1)]
}

/// Where and how to report one message's acks.
#[derive(Debug, Clone)]
pub struct CallbackTarget {
    pub url: String,
    pub payload: Option<Value>,
    pub headers: HeaderMap,
}

/// Reads `webhookHeaders`: strings `"Name: value"`, objects `{"name": N, "value": V}` or
/// single-entry objects `{"Name": "value"}`. Returns the first entry it cannot read.
pub fn parse_headers(value: Option<&Value>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    let Some(value) = value else { return Ok(map) };
    let items = value.as_array().ok_or("webhookHeaders must be an array")?;
    for item in items {
        let (name, val) = match item {
            Value::String(s) => s
                .split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string())),
            Value::Object(o) => match (
                o.get("name").and_then(Value::as_str),
                o.get("value").and_then(Value::as_str),
            ) {
                (Some(n), Some(v)) => Some((n.to_string(), v.to_string())),
                _ if o.len() == 1 => o
                    .iter()
                    .next()
                    .and_then(|(n, v)| v.as_str().map(|v| (n.clone(), v.to_string()))),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| format!("cannot read webhook header {item}"))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name {name:?}"))?;
        let val =
            HeaderValue::from_str(&val).map_err(|_| format!("bad header value for {name}"))?;
        map.append(name, val);
    }
    Ok(map)
}

/// Posts every ack of `plan` to the target, one every `step`, in order. A failed post is tried
/// three times, then given up (the sender can still poll GetMessageDetails).
pub async fn deliver(
    http: reqwest::Client,
    target: CallbackTarget,
    base: Callback,
    plan: &'static [i64],
    step: Duration,
) {
    let start = tokio::time::Instant::now();
    for (i, ack) in plan.iter().enumerate() {
        tokio::time::sleep_until(start + step * i as u32).await;
        let body = Callback {
            ack: *ack,
            timestamp: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            webhook_payload: target.payload.clone(),
            ..base.clone()
        };
        for attempt in 0..3u32 {
            let sent = http
                .post(&target.url)
                .headers(target.headers.clone())
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() || r.status().is_client_error() => break,
                other => {
                    tracing::debug!(mid = %body.mid, attempt, result = ?other.map(|r| r.status()), "callback not accepted");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plans_follow_the_last_digit() {
        assert_eq!(plan(Channel::WhatsApp, "447700900120"), &[0, -2]);
        assert_eq!(plan(Channel::WhatsApp, "447700900128"), &[0, 1, 2, 3, 10]);
        assert_eq!(plan(Channel::Sms, "447700900120"), &[0, 1, 2]);
        assert_eq!(plan(Channel::Sms, "447700900129"), &[0, 1, -1]);
    }

    #[test]
    fn the_current_ack_moves_one_step_per_delay_and_stops_at_the_end() {
        let p = plan(Channel::WhatsApp, "1");
        let step = Duration::from_millis(100);
        assert_eq!(current(p, Duration::ZERO, step), 0);
        assert_eq!(current(p, Duration::from_millis(250), step), 2);
        assert_eq!(current(p, Duration::from_secs(9), step), 3);
        assert_eq!(current(p, Duration::ZERO, Duration::ZERO), 3);
    }

    #[test]
    fn webhook_headers_are_read_in_three_shapes() {
        let h = parse_headers(Some(
            &json!(["X-A: 1", {"name": "X-B", "value": "2"}, {"X-C": "3"}]),
        ))
        .unwrap();
        assert_eq!(
            (
                h["x-a"].to_str().unwrap(),
                h["x-b"].to_str().unwrap(),
                h["x-c"].to_str().unwrap()
            ),
            ("1", "2", "3")
        );
        assert!(parse_headers(Some(&json!([42]))).is_err());
        assert!(parse_headers(Some(&json!("X-A: 1"))).is_err());
    }
}
