//! What an uncertain message looks like in its recipient's conversation if it reached the API:
//! the user it went to and the whole text they see, rendered again from its stored request.

use std::collections::HashMap;

use serde_json::Value;

use crate::campaign::identity::Settings;
use crate::convrs::uid_of_number;
use crate::convrs::wire::{SendMessage, Template, render_body};
use crate::queue::{Store, StoreError, Uncertain};

/// What a message that reached the API looks like in the conversation.
#[derive(Debug)]
pub(super) struct Expected {
    pub(super) uid: String,
    /// The whole text the recipient sees: the template body with its parameters, or the SMS.
    pub(super) text: String,
    /// Whether a conversation without it proves it was not sent. Not for a route: the document
    /// does not say a route's flow shows the text it was handed, or anything, in the
    /// conversation, so only finding the text decides.
    pub(super) absence_decides: bool,
}

/// Template bodies by (bot, name, language), from the store's cache; `None` when not cached.
pub(super) type Templates = HashMap<(i64, String, String), Option<String>>;

pub(super) async fn expectation(
    u: &Uncertain,
    command: &str,
    templates: &mut Templates,
    store: &Store,
) -> Result<Option<Expected>, StoreError> {
    let Ok(payload) = serde_json::from_str::<Value>(&u.payload) else {
        return Ok(None);
    };
    // A text names its user: the conversation shows it as it shows an SMS, by its text.
    if command == "SendTextMessage" {
        let field = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
        return Ok(field("uid")
            .zip(field("message"))
            .map(|(uid, text)| Expected {
                uid,
                text,
                absence_decides: true,
            }));
    }
    let (Some(bot), Some(phone)) = (
        payload.get("botID").and_then(Value::as_i64),
        payload.get("phone").and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    if command == "SendSMSMessage" {
        return Ok(text("message").map(|text| Expected {
            uid: uid_of_number(bot, "cms", phone),
            text,
            absence_decides: true,
        }));
    }
    let (Some(name), Some(language)) = (text("templateName"), text("language")) else {
        return Ok(None);
    };
    let key = (bot, name, language);
    if !templates.contains_key(&key) {
        let cached = store.cached_template(bot, &key.1, &key.2).await?;
        let body = cached
            .and_then(|json| serde_json::from_str::<Template>(&json).ok())
            .map(|t| t.body_text().to_string());
        templates.insert(key.clone(), body);
    }
    // Without the body there is nothing that proves this message over any other: undecided.
    let Some(Some(body)) = templates.get(&key) else {
        return Ok(None);
    };
    let params: Vec<String> = payload
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Expected {
        uid: uid_of_number(bot, "wa3", phone),
        text: render_body(body, &params),
        absence_decides: true,
    }))
}

/// A route send's conversation, when the campaign names the channel the route answers on; it
/// is proven only by its text (a route without one shows nothing of ours to match, so an
/// ambiguous answer stays uncertain).
pub(super) fn route_expectation(u: &Uncertain, settings: &Settings) -> Option<Expected> {
    let payload: SendMessage = serde_json::from_str(&u.payload).ok()?;
    Some(Expected {
        uid: settings.route_uid(&payload.phone)?,
        text: payload.message?,
        absence_decides: false,
    })
}
