//! What comes back from the API: an answer, or a `CallError` that says what came back and
//! whether the request may have reached the server, without the secrets the client sent.

use serde_json::Value;

use super::codes::ErrorCode;
use super::scrub::Scrubber;
use super::wire::Answer;

/// The largest answer body we read; anything bigger is refused as unexpected.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Why a call did not return a successful answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The request never reached the server (connection refused, DNS, connect timeout).
    #[error("could not reach the Convrs API, nothing was sent: {detail}")]
    NotSent { detail: String },
    /// The request may have been processed (timeout or connection lost after it was written).
    #[error("the request may have reached the Convrs API but no answer came back: {detail}")]
    MaybeSent { detail: String },
    /// The API URL answered with a redirect. It is never followed: the request (with the
    /// token) is not sent anywhere else, and nothing was processed.
    #[error(
        "the API URL answered HTTP {status}, a redirect to {location}; nothing was sent there. \
         If that is the right endpoint, use that URL (--api-url or CONVRS_API_URL)"
    )]
    Redirect { status: u16, location: String },
    /// An HTTP error status without a JSON answer.
    #[error("the Convrs API answered HTTP {status} without a JSON body: {body}")]
    Http { status: u16, body: String },
    /// The API answered `ok: 0`.
    #[error("the Convrs API refused the request: {code}: {message}{}", whatsapp_suffix(.whatsapp))]
    Api {
        code: ErrorCode,
        message: String,
        whatsapp: Option<(i64, String)>,
    },
    /// An answer we cannot read: not JSON, or JSON of the wrong shape.
    #[error("unexpected answer from the Convrs API: {detail}")]
    Unexpected { detail: String },
}

fn whatsapp_suffix(wa: &Option<(i64, String)>) -> String {
    wa.as_ref()
        .map(|(code, desc)| format!(" (WhatsApp {code}: {desc})"))
        .unwrap_or_default()
}

/// The most of any text from the API that is kept (in errors, and so in the database).
pub const MAX_TEXT_CHARS: usize = 1024;

/// `text` cut to `MAX_TEXT_CHARS` characters.
pub(super) fn cap(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

pub(super) fn transport_error(err: reqwest::Error) -> CallError {
    let detail = error_chain(&err);
    if err.is_connect() {
        CallError::NotSent { detail }
    } else {
        CallError::MaybeSent { detail }
    }
}

pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

pub(super) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| CallError::MaybeSent {
        detail: format!(
            "connection lost while reading the answer: {}",
            error_chain(&e)
        ),
    })? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CallError::Unexpected {
                detail: format!("answer larger than {MAX_ANSWER_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An answer of HTTP `status` with `body`, as the client reads it: the answer if `ok` is 1,
/// else the error it makes, with none of `secrets` in either (for fuzzing the answer reader).
pub fn read_answer(status: u16, body: &[u8], secrets: &[&str]) -> Result<Answer, CallError> {
    interpret(status, body, &Scrubber::new(secrets.iter().copied()))
}

/// Turns a status and body into an answer or an error that says what came back, without the
/// secrets `scrub` knows: from the raw text, and from every string its JSON decodes to.
pub(super) fn interpret(status: u16, body: &[u8], scrub: &Scrubber) -> Result<Answer, CallError> {
    let shown = || snippet(&scrub.text(&String::from_utf8_lossy(body)));
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        let body = shown();
        return Err(if (200..300).contains(&status) {
            CallError::Unexpected {
                detail: format!("HTTP {status} with a body that is not JSON: {body}"),
            }
        } else {
            CallError::Http { status, body }
        });
    };
    scrub.value(&mut value);
    let answer: Answer = serde_json::from_value(value).map_err(|e| CallError::Unexpected {
        detail: format!(
            "HTTP {status}, JSON without the expected fields ({e}): {}",
            shown()
        ),
    })?;
    if answer.ok == 1 {
        return Ok(answer);
    }
    let Some(code) = answer.error_code else {
        return Err(CallError::Unexpected {
            detail: format!(
                "HTTP {status}, ok={} without errorCode: {}",
                answer.ok,
                shown()
            ),
        });
    };
    let whatsapp = answer
        .whatsapp_error_code
        .map(|c| (c, answer.whatsapp_error_desc.clone().unwrap_or_default()));
    Err(CallError::Api {
        code: ErrorCode::from_code(code),
        message: cap(&answer.error.unwrap_or_default()),
        whatsapp: whatsapp.map(|(c, desc)| (c, cap(&desc))),
    })
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &str,
) -> Result<T, CallError> {
    serde_json::from_value(value).map_err(|e| CallError::Unexpected {
        detail: format!("{what} has an unexpected shape: {e}"),
    })
}

/// The first 200 characters of a body, for error messages.
fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    if s.trim().is_empty() {
        "(empty)".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Scrubber<'static> {
        Scrubber::new([])
    }

    #[test]
    fn non_json_answers_say_what_came_back() {
        let err = interpret(502, b"<html>Bad Gateway</html>", &none()).unwrap_err();
        assert_eq!(
            err,
            CallError::Http {
                status: 502,
                body: "<html>Bad Gateway</html>".into()
            }
        );
        let err = interpret(200, b"", &none()).unwrap_err();
        assert!(err.to_string().contains("(empty)"), "{err}");
        let err = interpret(200, br#"{"ok":"yes"}"#, &none()).unwrap_err();
        assert!(matches!(err, CallError::Unexpected { .. }), "{err:?}");
    }

    #[test]
    fn error_answers_keep_the_whatsapp_code() {
        let err = interpret(200, br#"{"ok":0,"errorCode":3002,"error":"WhatsApp error","whatsappErrorCode":132015,"whatsappErrorDesc":"paused"}"#, &none()).unwrap_err();
        assert_eq!(
            err,
            CallError::Api {
                code: ErrorCode::WhatsAppApiError,
                message: "WhatsApp error".into(),
                whatsapp: Some((132015, "paused".into()))
            }
        );
        assert!(err.to_string().contains("132015"));
    }
}
