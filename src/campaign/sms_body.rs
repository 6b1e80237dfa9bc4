//! An SMS campaign's text for each row: its `{column}` placeholders filled, checked (no gap
//! unless allowed, not empty, at most 2000 characters), its encoding and segments, and what
//! smart encoding does to it.

use super::render::Pattern;
use super::sms::{self, Encoding, SmartEffect, SmsInfo};
use crate::convrs::wire::SendSmsMessage;
use crate::phone::PhoneNumber;

/// One row's SMS: its request (JSON, without token), its text, encoding and segments, and
/// what smart encoding did or would do.
pub struct RenderedSms {
    pub payload: String,
    pub text: String,
    pub info: SmsInfo,
    pub smart: Option<SmartEffect>,
}

/// The text with its placeholders resolved to columns.
#[derive(Debug)]
pub struct SmsBody {
    pattern: Pattern,
    allow_empty: bool,
    smart_encoding: bool,
}

impl SmsBody {
    pub fn new(
        text: &str,
        allow_empty: bool,
        smart_encoding: bool,
        columns: &[String],
    ) -> Result<Self, String> {
        Ok(SmsBody {
            pattern: Pattern::resolve(text, columns).map_err(|e| format!("--message: {e}"))?,
            allow_empty,
            smart_encoding,
        })
    }

    /// One row's SMS, or the field at fault and why.
    pub fn render(
        &self,
        (bot_id, agent_email): (i64, Option<&String>),
        phone: &PhoneNumber,
        values: &[String],
    ) -> Result<RenderedSms, (String, String)> {
        if !self.allow_empty
            && let Some(column) = self.pattern.empty_placeholder(values)
        {
            return Err((
                column.to_string(),
                format!(
                    "{{{column}}} is empty, so the SMS would have a gap; fill it in, or \
                     pass --allow-empty (allow_empty = true in a campaign file) to send it so"
                ),
            ));
        }
        let (text, info, smart) = smart_encode(self.pattern.render(values), self.smart_encoding);
        let message = || "message".to_string();
        if text.trim().is_empty() {
            return Err((message(), "the message is empty for this row".into()));
        }
        let chars = text.chars().count();
        if chars > 2000 {
            return Err((
                message(),
                format!("the message has {chars} characters; the limit is 2000"),
            ));
        }
        let request = SendSmsMessage {
            bot_id,
            phone: phone.to_string(),
            message: text.clone(),
            agent_email: agent_email.cloned(),
        };
        Ok(RenderedSms {
            payload: serde_json::to_string(&request).expect("requests serialise"),
            text,
            info,
            smart,
        })
    }
}

/// A rendered SMS as it is sent, its encoding and segments, and what smart encoding did (`on`)
/// or would do to it: only a UCS-2 text that its look-alikes make GSM-7 is changed.
fn smart_encode(text: String, on: bool) -> (String, SmsInfo, Option<SmartEffect>) {
    let info = sms::analyse(&text);
    if info.encoding == Encoding::Gsm7 {
        return (text, info, None);
    }
    let Some(changed) = super::smart::transliterate(&text) else {
        return (text, info, None);
    };
    let smart = sms::analyse(&changed);
    let effect = SmartEffect {
        applied: on,
        segments_saved: info.segments.saturating_sub(smart.segments),
    };
    if on {
        (changed, smart, Some(effect))
    } else {
        (text, info, Some(effect))
    }
}
