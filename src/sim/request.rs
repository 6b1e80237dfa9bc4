//! What every simulator command shares: typed access to the request's fields, the refusal it
//! answers with (an API code, and a WhatsApp code for 3002), and the checks of the fields
//! several commands take (botID, phone, message).

use serde_json::{Map, Value};

use super::Sim;
use super::acks::Channel;
use super::state::Bot;
use super::templates::TemplateDef;
use crate::convrs::ErrorCode::{self, *};
use crate::phone::PhoneNumber;

/// An error answer: the API code and, for 3002, the WhatsApp code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: i64,
    pub whatsapp: Option<i64>,
}

impl Refusal {
    pub fn code(code: ErrorCode) -> Self {
        Refusal {
            code: code.code(),
            whatsapp: None,
        }
    }

    pub(super) fn whatsapp(code: i64) -> Self {
        Refusal {
            code: WhatsAppApiError.code(),
            whatsapp: Some(code),
        }
    }
}

impl From<ErrorCode> for Refusal {
    fn from(code: ErrorCode) -> Self {
        Refusal::code(code)
    }
}

pub(super) type Reply = Result<Map<String, Value>, Refusal>;

/// Typed access to the request's fields.
pub(super) struct Req<'a>(pub(super) &'a Map<String, Value>);

impl<'a> Req<'a> {
    /// A non-empty string field.
    pub(super) fn text(&self, key: &str) -> Option<&'a str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// An integer field, given as a number or a string of digits. `Some(None)`: present, not an integer.
    pub(super) fn int(&self, key: &str) -> Option<Option<i64>> {
        let v = self.0.get(key)?;
        if v.is_null() {
            return None;
        }
        Some(
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())),
        )
    }

    pub(super) fn uid(&self, sim: &Sim) -> Result<&'a str, Refusal> {
        let uid = self.text("uid").ok_or(MissingUid)?;
        if sim.lock().users.contains_key(uid) {
            Ok(uid)
        } else {
            Err(UnknownUser.into())
        }
    }
}

pub(super) fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub(super) fn bot<'s>(
    sim: &'s Sim,
    req: &Req,
    channel: Option<Channel>,
) -> Result<&'s Bot, Refusal> {
    let id = req
        .int("botID")
        .ok_or(MissingChatbotId)?
        .ok_or(UnknownChatbot)?;
    let bot = sim
        .config
        .bots
        .iter()
        .find(|b| b.id == id)
        .ok_or(UnknownChatbot)?;
    let fits = match channel {
        Some(Channel::WhatsApp) => bot.whatsapp,
        Some(Channel::Sms) => bot.sms,
        None => true,
    };
    if fits {
        Ok(bot)
    } else {
        Err(WrongChatbotType.into())
    }
}

pub(super) fn phone(req: &Req) -> Result<PhoneNumber, Refusal> {
    let raw = req.text("phone").ok_or(MissingPhone)?;
    PhoneNumber::parse(raw, None).map_err(|e| Refusal {
        code: e.api_code(),
        whatsapp: None,
    })
}

pub(super) fn checked_message<'a>(req: &Req<'a>) -> Result<&'a str, Refusal> {
    let message = req.text("message").ok_or(MissingMessage)?;
    if message.chars().count() > 2000 {
        return Err(MessageTooLong.into());
    }
    Ok(message)
}

/// The template a request names by `templateName` and `language`.
pub(super) fn template<'s>(sim: &'s Sim, req: &Req) -> Result<&'s TemplateDef, Refusal> {
    let name = req.text("templateName").ok_or(MissingTemplateName)?;
    let language = req.text("language").ok_or(MissingTemplateLanguage)?;
    if sim.config.templates.is_empty() {
        return Err(NoTemplates.into());
    }
    Ok(sim
        .config
        .templates
        .iter()
        .find(|t| t.name == name && t.language == language)
        .ok_or(UnknownTemplate)?)
}
