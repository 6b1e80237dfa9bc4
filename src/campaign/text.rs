//! A text campaign's rows: SendTextMessage sends a free-form text to a Convrs user (by uid),
//! which WhatsApp allows only within 24 hours of the user's last message (error 131047
//! outside it). The recipient is the row's uid (`uid_column`), else the WhatsApp user of the
//! row's number (`<bot>-wa3-<digits>`, as the document's examples build it).

use serde::Serialize;

use super::definition::{DefinitionError, MessageSpec};
use super::render::Pattern;
use crate::convrs::wire::SendTextMessage;
use crate::phone::{PhoneNumber, Region};

/// The most characters SendTextMessage takes in `message`.
const MAX_MESSAGE: usize = 2000;

/// The margin kept before the window closes, unless the campaign file sets `window_margin`.
pub const DEFAULT_MARGIN_MS: i64 = 10 * 60_000;

/// How long a user's message keeps the window open (WhatsApp's customer service window).
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// A text campaign's message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextSpec {
    pub text: String,
    /// The uid column as the operator named it (`None`: `uid` if there is one).
    pub uid_column: Option<String>,
    pub allow_empty: bool,
    /// Sends stop this long before the window closes.
    pub margin_ms: i64,
}

/// A text campaign's message from the campaign file's keys (or flags).
pub fn message(
    text: Option<String>,
    uid_column: Option<String>,
    margin: Option<String>,
    allow_empty: Option<bool>,
) -> Result<MessageSpec, DefinitionError> {
    let invalid = |m: String| DefinitionError::Invalid(m);
    let text = text.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        invalid("no message: a text campaign sends --message TEXT (message = \"...\")".into())
    })?;
    let margin_ms = match margin {
        None => DEFAULT_MARGIN_MS,
        Some(m) => {
            let ms = crate::duration::parse(&m)
                .map_err(|e| invalid(format!("window_margin: {e}")))?
                .as_millis() as i64;
            if ms >= WINDOW_MS {
                return Err(invalid(format!(
                    "window_margin '{m}' leaves nothing of the 24-hour window: give less than 24h (10m by default)"
                )));
            }
            ms
        }
    };
    Ok(MessageSpec::Text(TextSpec {
        text,
        uid_column,
        allow_empty: allow_empty.unwrap_or(false),
        margin_ms,
    }))
}

/// Where a row's recipient is read from.
#[derive(Debug)]
enum To {
    /// The uid column's index and name.
    Uid(usize, String),
    /// The phone column's index: the WhatsApp user of the number.
    Phone(usize),
}

/// A text campaign's message, its placeholders and recipient resolved against the columns.
#[derive(Debug)]
pub struct TextBody {
    pattern: Pattern,
    allow_empty: bool,
    to: To,
    bot_id: i64,
    region: Option<Region>,
}

/// One row's text: its recipient (uid, and the number it carries if any), the frozen
/// request, and what the recipient reads.
#[derive(Debug)]
pub struct RenderedText {
    pub uid: String,
    pub phone: Option<PhoneNumber>,
    pub payload: String,
    pub text: String,
}

impl TextBody {
    /// `phone` is the phone column's index (and the note on how it was found) or why there is
    /// none; it is needed only when there is no uid column.
    pub fn new(
        spec: &TextSpec,
        columns: &[String],
        phone: Result<(usize, Option<String>), String>,
        bot_id: i64,
        region: Option<Region>,
    ) -> Result<(Self, Vec<String>), String> {
        let pattern =
            Pattern::resolve(&spec.text, columns).map_err(|e| format!("--message: {e}"))?;
        let wanted = spec.uid_column.as_deref().unwrap_or("uid");
        let uid = columns.iter().position(|c| c == wanted);
        let (to, notes) = match (uid, &spec.uid_column, phone) {
            (Some(i), _, _) => (To::Uid(i, wanted.to_string()), vec![]),
            (None, Some(named), _) => {
                let fix = |c: &str| {
                    format!(
                        "pass --uid-column '{c}' (or uid_column = \"{c}\" in the campaign file)"
                    )
                };
                let i = super::columns::find(columns, named, "the uid", &fix).map_err(|e| {
                    format!(
                        "{e}; name the column of uids with --uid-column (uid_column in the \
                         campaign file), or leave it out to send to the WhatsApp users of the \
                         phone numbers"
                    )
                })?;
                (To::Uid(i, named.clone()), vec![])
            }
            (None, None, Ok((i, note))) => (
                To::Phone(i),
                std::iter::once(format!(
                    "there is no column 'uid': each text goes to the WhatsApp user of the row's \
                     number ({bot_id}-wa3-<digits>); --uid-column names a column of uids"
                ))
                .chain(note)
                .collect(),
            ),
            (None, None, Err(e)) => {
                return Err(format!(
                    "a text campaign sends to a Convrs user: give a column 'uid' (or name one with \
                     --uid-column), or a phone column for WhatsApp users; {e}"
                ));
            }
        };
        Ok((
            TextBody {
                pattern,
                allow_empty: spec.allow_empty,
                to,
                bot_id,
                region,
            },
            notes,
        ))
    }

    /// The row's recipient and text, or the field and reason it is rejected for.
    pub fn render(
        &self,
        columns: &[String],
        values: &[String],
    ) -> Result<RenderedText, (String, String)> {
        let (uid, phone) = match &self.to {
            To::Uid(i, name) => {
                let uid = values[*i].trim();
                if uid.is_empty() || uid.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err((
                        name.clone(),
                        format!(
                            "'{}' is not a Convrs uid (such as 3941-wa3-447911123456)",
                            values[*i]
                        ),
                    ));
                }
                (uid.to_string(), crate::convrs::phone_of_uid(uid))
            }
            To::Phone(i) => {
                let phone = PhoneNumber::parse(&values[*i], self.region)
                    .map_err(|e| (columns[*i].clone(), format!("'{}': {e}", values[*i])))?;
                let uid = crate::convrs::uid_of_number(self.bot_id, "wa3", phone.as_str());
                (uid, Some(phone))
            }
        };
        if !self.allow_empty
            && let Some(column) = self.pattern.empty_placeholder(values)
        {
            return Err((
                column.to_string(),
                format!(
                    "{{{column}}} is empty, so the text would have a gap; fill it in, or pass \
                     --allow-empty (allow_empty = true in a campaign file) to send it so"
                ),
            ));
        }
        let text = self.pattern.render(values);
        if text.trim().is_empty() {
            return Err(("message".into(), "the message is empty for this row".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_MESSAGE {
            return Err((
                "message".into(),
                format!("the message has {chars} characters; the limit is {MAX_MESSAGE}"),
            ));
        }
        let request = SendTextMessage {
            uid: uid.clone(),
            message: text.clone(),
        };
        Ok(RenderedText {
            uid,
            phone,
            payload: serde_json::to_string(&request).expect("requests serialise"),
            text,
        })
    }

    /// Whether the recipient is read as a uid (else as a number).
    pub fn reads_uids(&self) -> bool {
        matches!(self.to, To::Uid(..))
    }

    /// The column the recipient is read from (where a window reject is pinned).
    pub fn recipient_column<'a>(&'a self, columns: &'a [String]) -> &'a str {
        match &self.to {
            To::Uid(_, name) => name,
            To::Phone(i) => &columns[*i],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uid_column: Option<&str>) -> TextSpec {
        TextSpec {
            text: "Hi {name}, your order shipped".into(),
            uid_column: uid_column.map(str::to_string),
            allow_empty: false,
            margin_ms: DEFAULT_MARGIN_MS,
        }
    }

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_uid_column_is_the_recipient_and_its_number_the_key() {
        let cols = columns(&["uid", "name"]);
        let (body, notes) =
            TextBody::new(&spec(None), &cols, Err("no phone".into()), 3941, None).unwrap();
        assert!(notes.is_empty());
        let row = body
            .render(&cols, &columns(&["3941-wa3-447911123456", "Ann"]))
            .unwrap();
        assert_eq!(row.uid, "3941-wa3-447911123456");
        assert_eq!(row.phone.unwrap().as_str(), "+447911123456");
        let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({"uid": "3941-wa3-447911123456", "message": "Hi Ann, your order shipped"})
        );
        let telegram = body
            .render(&cols, &columns(&["73-tel-615940546", "Bo"]))
            .unwrap();
        assert!(telegram.phone.is_none());
        let (field, why) = body.render(&cols, &columns(&["  ", "Cy"])).unwrap_err();
        assert_eq!(field, "uid");
        assert!(why.contains("not a Convrs uid"), "{why}");
    }

    #[test]
    fn without_a_uid_column_the_number_makes_the_whatsapp_uid() {
        let cols = columns(&["phone", "name"]);
        let (body, notes) = TextBody::new(&spec(None), &cols, Ok((0, None)), 3941, None).unwrap();
        assert!(notes[0].contains("3941-wa3-"), "{notes:?}");
        let row = body
            .render(&cols, &columns(&["+447911123456", "Ann"]))
            .unwrap();
        assert_eq!(row.uid, "3941-wa3-447911123456");
        let err = TextBody::new(&spec(Some("user")), &cols, Ok((0, None)), 3941, None).unwrap_err();
        assert!(err.contains("--uid-column"), "{err}");
        let err = TextBody::new(
            &spec(None),
            &columns(&["name"]),
            Err("no phone".into()),
            1,
            None,
        )
        .unwrap_err();
        assert!(err.contains("'uid'") && err.contains("no phone"), "{err}");
    }
}
