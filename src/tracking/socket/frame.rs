//! What the server's frames say.

use serde_json::Value;

/// What a frame from the server is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame {
    Connected,
    /// An error answer (`ok: 0`) with this code.
    Error(i64),
    /// An event (`cmd` starting `on`).
    Event,
    /// The heartbeat's answer, or anything else.
    Other,
}

pub(super) fn read_frame(text: &[u8]) -> Frame {
    let Ok(Value::Object(frame)) = serde_json::from_slice::<Value>(text) else {
        return Frame::Other;
    };
    let cmd = frame.get("cmd").and_then(Value::as_str).unwrap_or_default();
    if frame.get("ok").and_then(Value::as_i64) == Some(0) {
        return Frame::Error(frame.get("errorCode").and_then(Value::as_i64).unwrap_or(0));
    }
    match cmd {
        "connected" => Frame::Connected,
        c if c.starts_with("on") => Frame::Event,
        _ => Frame::Other,
    }
}

/// An error's text as logged and shown: one line, at most 200 characters.
pub(super) fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    crate::terminal::safe(&line.chars().take(200).collect::<String>()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_told_apart() {
        assert_eq!(
            read_frame(br#"{"cmd":"connected","ok":1}"#),
            Frame::Connected
        );
        assert_eq!(
            read_frame(br#"{"cmd":"connect","ok":0,"errorCode":1019}"#),
            Frame::Error(1019)
        );
        assert_eq!(
            read_frame(br#"{"cmd":"onUserConversation","ok":1,"uid":"u","data":[]}"#),
            Frame::Event
        );
        assert_eq!(read_frame(br#"{"cmd":"heartbeat","ok":1}"#), Frame::Other);
        assert_eq!(read_frame(b"garbage"), Frame::Other);
    }
}
