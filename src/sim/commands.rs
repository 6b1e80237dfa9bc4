//! The simulator's commands, each validating its fields in the document's terms.

use std::time::Instant;

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::acks::{self, CallbackTarget, Channel};
use super::ledger::{LedgerEntry, fingerprint};
use super::state::{Bot, ConversationEntry, SimMessage, iso};
use super::{Sim, listening};
use crate::convrs::ErrorCode::{self, *};
use crate::convrs::codes::whatsapp;
use crate::convrs::wire::Callback;
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

    fn whatsapp(code: i64) -> Self {
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

/// WhatsApp errors a send to a number ending in the code's six digits meets.
const WHATSAPP_ERROR_NUMBERS: [i64; 7] = [
    whatsapp::UNDELIVERABLE,
    whatsapp::REENGAGEMENT,
    whatsapp::SPAM_RATE_LIMIT,
    whatsapp::ECOSYSTEM_ENGAGEMENT,
    whatsapp::MARKETING_OPT_OUT,
    whatsapp::PAIR_RATE_LIMIT,
    whatsapp::RATE_LIMIT,
];

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

pub fn run(sim: &Sim, token: &str, cmd: &str, request: &Map<String, Value>) -> Reply {
    let req = Req(request);
    match cmd {
        "SendWhatsAppTemplate" => send(sim, token, &req, Channel::WhatsApp),
        "SendSMSMessage" => send(sim, token, &req, Channel::Sms),
        "GetMessageDetails" => message_details(sim, &req),
        "GetWhatsAppTemplate" => get_template(sim, &req),
        "GetConversation" => conversation(sim, &req),
        "GetUser" => {
            let uid = req.uid(sim)?;
            Ok(fields([("data", sim.lock().users[uid].to_json())]))
        }
        "GetUsers" => users(sim, &req),
        "SendTextMessage" => send_text(sim, token, &req),
        "SendMessage" => send_message(sim, token, &req),
        "SetUserData" | "SetUserName" | "SetUserEmail" | "SetUserNotes" | "SetUserPhone" => {
            set_user(sim, cmd, &req)
        }
        "GetUserTags" | "SetUserTag" | "DeleteUserTag" | "CreateUserTag" => tags(sim, cmd, &req),
        "GetConversationsFlat" | "GetOpenConversations" => Ok(fields([("data", json!([]))])),
        "SimClientMessage" => listening::client_message(sim, &req),
        // Test-only: the data SetUserData set on a user (the document's user object has none).
        "SimUserData" => {
            let uid = req.uid(sim)?;
            let data = sim.lock().users[uid].data.clone();
            Ok(fields([("data", Value::Object(data))]))
        }
        "SimUserDisable" | "SimUserEnable" => listening::user_event(sim, cmd, &req),
        "SimDropSockets" | "SimCloseSockets" => listening::sockets(sim, cmd, &req),
        "heartbeat" => Ok(fields([("data", json!({ "datetime": iso(Utc::now()) }))])),
        _ => Err(UnknownCommand.into()),
    }
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn bot<'s>(sim: &'s Sim, req: &Req, channel: Option<Channel>) -> Result<&'s Bot, Refusal> {
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

fn phone(req: &Req) -> Result<PhoneNumber, Refusal> {
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

/// What a send carries besides the number.
struct Content {
    template: Option<(String, String, Vec<String>)>,
    text: String,
}

fn template_content(sim: &Sim, req: &Req) -> Result<Content, Refusal> {
    let name = req.text("templateName").ok_or(MissingTemplateName)?;
    let language = req.text("language").ok_or(MissingTemplateLanguage)?;
    if sim.config.templates.is_empty() {
        return Err(NoTemplates.into());
    }
    let template = sim
        .config
        .templates
        .iter()
        .find(|t| t.name == name && t.language == language)
        .ok_or(UnknownTemplate)?;
    match template.status.to_ascii_uppercase().as_str() {
        "PAUSED" => return Err(Refusal::whatsapp(whatsapp::TEMPLATE_PAUSED)),
        "DISABLED" | "REJECTED" => return Err(Refusal::whatsapp(whatsapp::TEMPLATE_DISABLED)),
        _ => {}
    }
    let params = match req.0.get("parameters") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| {
                match (
                    p.get("type").and_then(Value::as_str),
                    p.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(text)) => Ok(text.to_string()),
                    _ => Err(Refusal::whatsapp(whatsapp::PARAM_FORMAT_MISMATCH)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(Refusal::whatsapp(whatsapp::PARAM_FORMAT_MISMATCH)),
    };
    if params.len() != template.parameter_count() {
        return Err(Refusal::whatsapp(whatsapp::PARAM_COUNT_MISMATCH));
    }
    if params
        .iter()
        .any(|p| p.contains(['\n', '\t']) || p.contains("     "))
    {
        return Err(Refusal::whatsapp(whatsapp::PARAM_INVALID));
    }
    let text = sim
        .config
        .template_shown
        .text(name, &template.render(&params), &params);
    Ok(Content {
        template: Some((name.into(), language.into(), params)),
        text,
    })
}

/// Numbers whose last digits name an error meet that error (see README, "The simulator").
fn scripted_error(channel: Channel, digits: &str) -> Option<Refusal> {
    let tail = |n: usize| {
        digits
            .get(digits.len().saturating_sub(n)..)
            .and_then(|s| s.parse::<i64>().ok())
    };
    if channel == Channel::WhatsApp
        && let Some(code) = tail(6).filter(|c| WHATSAPP_ERROR_NUMBERS.contains(c))
    {
        return Some(Refusal::whatsapp(code));
    }
    match (channel, tail(4)?) {
        (_, 2001) => Some(UserChattingToAgent.into()),
        // Not processed, but the answer does not say so: the sender must reconcile.
        (_, 2003) => Some(InternalTimeout.into()),
        (_, 2004) => Some(InternalError.into()),
        (_, 2006) => Some(Unsubscribed.into()),
        (Channel::Sms, 2005) => Some(SmsSendingError.into()),
        _ => None,
    }
}

fn send(sim: &Sim, token: &str, req: &Req, channel: Channel) -> Reply {
    let bot = bot(sim, req, Some(channel))?;
    let phone = phone(req)?;
    let content = match channel {
        Channel::WhatsApp => template_content(sim, req)?,
        Channel::Sms => Content {
            template: None,
            text: checked_message(req)?.to_string(),
        },
    };
    if let Some(refusal) = scripted_error(channel, phone.digits()) {
        return Err(refusal);
    }
    let cmd = match channel {
        Channel::WhatsApp => "SendWhatsAppTemplate",
        Channel::Sms => "SendSMSMessage",
    };
    let (mid, uid) = admit(sim, token, req, cmd, (bot, channel), &phone, &content)?;
    Ok(fields([
        ("phoneNumber", json!(phone.as_str())),
        ("countryIso2", json!(phone.region_code())),
        ("uid", json!(uid)),
        ("mid", json!(mid)),
    ]))
}

/// Admits one send within the token's and the number's rates (or refuses it, in the ledger),
/// then records it: the user, the conversation, the message and its acks, callbacks. Its mid
/// and the user's uid.
fn admit(
    sim: &Sim,
    token: &str,
    req: &Req,
    cmd: &str,
    (bot, channel): (&Bot, Channel),
    phone: &PhoneNumber,
    content: &Content,
) -> Result<(String, String), Refusal> {
    // The document says only that an agent the chat cannot be assigned to is refused (2002);
    // the simulator takes any address but one without an `@`.
    let agent_email = req.text("agentEmail");
    if agent_email.is_some_and(|e| !e.contains('@')) {
        return Err(InvalidAgentEmail.into());
    }
    let mut entry = LedgerEntry {
        time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        event: "accepted".into(),
        token: fingerprint(token),
        cmd: cmd.into(),
        phone: phone.as_str().into(),
        bot_id: bot.id,
        template: content.template.as_ref().map(|t| t.0.clone()),
        language: content.template.as_ref().map(|t| t.1.clone()),
        parameters: content.template.as_ref().map(|t| t.2.clone()),
        message: (cmd != "SendWhatsAppTemplate").then(|| content.text.clone()),
        route: req.text("route").map(str::to_string),
        userdata: req.0.get("userdata").cloned(),
        mid: None,
        error_code: None,
        webhook_payload: req.0.get("webhookPayload").cloned(),
        agent_email: agent_email.map(str::to_string),
    };
    let now = Instant::now();
    let mut state = sim.lock();
    let refused = if !state
        .token_windows
        .has_room(token, sim.config.token_rate, now)
    {
        Some(TokenRateLimit)
    } else if !state
        .number_windows
        .has_room(phone.as_str(), sim.config.number_rate, now)
    {
        Some(NumberRateLimit)
    } else {
        None
    };
    if let Some(code) = refused {
        drop(state);
        entry.event = "rate_limited".into();
        entry.error_code = Some(code.code());
        sim.log(&entry);
        return Err(code.into());
    }
    state.token_windows.admit(token, sim.config.token_rate, now);
    state
        .number_windows
        .admit(phone.as_str(), sim.config.number_rate, now);
    let mid = state.new_mid();
    let tag = match channel {
        Channel::WhatsApp => "wa3",
        Channel::Sms => "cms",
    };
    let uid = format!("{}-{tag}-{}", bot.id, phone.digits());
    let plan = acks::plan(channel, phone.digits());
    state.ensure_user(&uid, phone.as_str(), bot, channel);
    let platform = state.users[&uid].bot.clone();
    record(
        &mut state.conversations,
        &uid,
        &mid,
        &content.text,
        &platform,
    );
    state
        .mids_of
        .entry(uid.clone())
        .or_default()
        .push(mid.clone());
    state.messages.insert(
        mid.clone(),
        SimMessage {
            uid: uid.clone(),
            bot_id: bot.id,
            plan,
            accepted: now,
            accepted_at: Utc::now(),
        },
    );
    drop(state);
    entry.mid = Some(mid.clone());
    sim.log(&entry);
    if channel == Channel::WhatsApp
        && let Some(url) = req.text("webhookURL")
    {
        // A header we cannot read is ignored rather than failing an accepted send.
        let headers = acks::parse_headers(req.0.get("webhookHeaders")).unwrap_or_default();
        let target = CallbackTarget {
            url: url.to_string(),
            payload: req.0.get("webhookPayload").cloned(),
            headers,
        };
        let base = Callback {
            ok: 1,
            mid: mid.clone(),
            uid: uid.clone(),
            bot_id: bot.id,
            ack: 0,
            timestamp: String::new(),
            webhook_payload: None,
        };
        tokio::spawn(acks::deliver(
            sim.http.clone(),
            target,
            base,
            plan,
            sim.config.ack_delay,
        ));
    }
    Ok((mid, uid))
}

fn record(
    conversations: &mut std::collections::HashMap<String, Vec<ConversationEntry>>,
    uid: &str,
    mid: &str,
    text: &str,
    bot: &str,
) {
    conversations
        .entry(uid.to_string())
        .or_default()
        .push(ConversationEntry {
            mid: mid.to_string(),
            msg: text.to_string(),
            sender: "system",
            dt: Utc::now(),
            bot: bot.to_string(),
        });
}

fn message_details(sim: &Sim, req: &Req) -> Reply {
    let mid = req.text("mid").ok_or(UnknownMessageId)?;
    let state = sim.lock();
    let message = state.messages.get(mid).ok_or(UnknownMessageId)?;
    let ack = acks::current(
        message.plan,
        message.accepted.elapsed(),
        sim.config.ack_delay,
    );
    Ok(fields([
        ("uid", json!(message.uid)),
        ("botID", json!(message.bot_id)),
        ("ack", json!(ack)),
    ]))
}

fn get_template(sim: &Sim, req: &Req) -> Reply {
    bot(sim, req, Some(Channel::WhatsApp))?;
    let name = req.text("templateName").ok_or(MissingTemplateName)?;
    let language = req.text("language").ok_or(MissingTemplateLanguage)?;
    if sim.config.templates.is_empty() {
        return Err(NoTemplates.into());
    }
    let template = sim
        .config
        .templates
        .iter()
        .find(|t| t.name == name && t.language == language)
        .ok_or(UnknownTemplate)?;
    Ok(fields([("template", template.to_json())]))
}

fn conversation(sim: &Sim, req: &Req) -> Reply {
    let uid = req.uid(sim)?;
    let state = sim.lock();
    let user = &state.users[uid];
    let mut entries: Vec<ConversationEntry> =
        state.conversations.get(uid).cloned().unwrap_or_default();
    entries.extend(listening::replies(sim, &state, uid));
    entries.sort_by_key(|e| e.dt);
    let data: Vec<Value> = entries
        .iter()
        .map(|m| {
            json!({
                "uid": uid, "email": user.email, "name": user.name, "phone": user.phone,
                "url": format!("https://app.conv.rs/u/{uid}"), "aid": 0, "agent": "", "agentemail": "",
                "mid": m.mid, "msg": m.msg, "typ": "text", "sender": m.sender, "dt": iso(m.dt), "bot": m.bot,
            })
        })
        .collect();
    Ok(fields([("data", Value::Array(data))]))
}

fn users(sim: &Sim, req: &Req) -> Reply {
    let bot_id = match req.int("botID") {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => return Err(UnknownChatbot.into()),
    };
    let after = match req.0.get("CreatedDate") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(crate::clock::parse_iso)
                .ok_or(InvalidStartDate)?,
        ),
    };
    let state = sim.lock();
    // Oldest first, "created after" taken strictly; the document says neither.
    let mut users: Vec<_> = state
        .user_order
        .iter()
        .map(|uid| &state.users[uid])
        .filter(|u| bot_id.is_none_or(|id| u.bot_id == id))
        .filter(|u| after.is_none_or(|t| u.created > t))
        .collect();
    users.sort_by_key(|u| u.created);
    let data: Vec<Value> = users.iter().take(5000).map(|u| u.to_json()).collect();
    Ok(fields([("data", Value::Array(data))]))
}

/// How long after a user's last message WhatsApp takes a free-form message (the API document:
/// "a 24-hour conversation window opens" when the user writes).
const CONVERSATION_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// SendTextMessage: to a WhatsApp user only within 24 hours of their last message (else
/// WhatsApp's 131047), within the token's and the number's rates; `ok: 1` without a mid, as
/// the document shows, the message in the conversation with one.
fn send_text(sim: &Sim, token: &str, req: &Req) -> Reply {
    let uid = req.uid(sim)?.to_string();
    let text = checked_message(req)?.to_string();
    let (bot_id, phone, platform, last) = {
        let state = sim.lock();
        let user = &state.users[&uid];
        let last = listening::last_client_message(sim, &state, &uid);
        (user.bot_id, user.phone.clone(), user.bot.clone(), last)
    };
    let bot = sim.config.bots.iter().find(|b| b.id == bot_id);
    let number = PhoneNumber::parse(&phone, None).ok();
    match (platform.as_str(), bot, number) {
        ("WA3", Some(bot), Some(number)) => {
            if last.is_none_or(|t| Utc::now() - t > CONVERSATION_WINDOW) {
                return Err(Refusal::whatsapp(whatsapp::REENGAGEMENT));
            }
            let content = Content {
                template: None,
                text,
            };
            admit(
                sim,
                token,
                req,
                "SendTextMessage",
                (bot, Channel::WhatsApp),
                &number,
                &content,
            )?;
        }
        // Other platforms have no such window; the simulator only records the message.
        _ => {
            let mut state = sim.lock();
            let mid = state.new_mid();
            record(&mut state.conversations, &uid, &mid, &text, &platform);
        }
    }
    Ok(Map::new())
}

fn send_message(sim: &Sim, token: &str, req: &Req) -> Reply {
    let phone = phone(req)?;
    let route = req.text("route").ok_or(MissingRoute)?;
    if route.chars().count() > 256 {
        return Err(RouteTooLong.into());
    }
    let message = req.0.get("message").and_then(Value::as_str);
    if message.is_some_and(|m| m.chars().count() > 2000) {
        return Err(MessageTooLong.into());
    }
    if !sim.config.routes.iter().any(|r| r == route) {
        return Err(UnknownRoute.into());
    }
    // A route's flow answers through a bot the document does not name: the simulator's first
    // WhatsApp bot, whose conversation shows the text the route was handed.
    let bot = sim
        .config
        .bots
        .iter()
        .find(|b| b.whatsapp)
        .ok_or(UnknownRoute)?;
    let content = Content {
        template: None,
        text: message.map_or_else(|| format!("(route {route})"), str::to_string),
    };
    let (mid, _) = admit(
        sim,
        token,
        req,
        "SendMessage",
        (bot, Channel::WhatsApp),
        &phone,
        &content,
    )?;
    Ok(fields([("mid", json!(mid))]))
}

fn set_user(sim: &Sim, cmd: &str, req: &Req) -> Reply {
    let uid = req.uid(sim)?.to_string();
    let mut state = sim.lock();
    let user = state.users.get_mut(&uid).expect("checked by uid()");
    match cmd {
        "SetUserData" => {
            let data = req
                .0
                .get("data")
                .and_then(Value::as_object)
                .ok_or(InvalidJson)?;
            if req.int("overwrite") == Some(Some(1)) {
                user.data.clear();
            }
            user.data.extend(data.clone());
        }
        "SetUserName" => {
            let name = req
                .text("name")
                .filter(|n| (3..=50).contains(&n.chars().count()))
                .ok_or(InvalidName)?;
            user.name = name.to_string();
        }
        "SetUserEmail" => {
            let email = req
                .text("email")
                .filter(|e| valid_email(e))
                .ok_or(InvalidEmail)?;
            user.email = email.to_string();
        }
        "SetUserNotes" => {
            let notes = req
                .0
                .get("notes")
                .and_then(Value::as_str)
                .filter(|n| n.chars().count() <= 1024)
                .ok_or(InvalidNote)?;
            user.notes = notes.to_string();
        }
        _ => {
            drop(state);
            let number = phone(req)?;
            sim.lock().users.get_mut(&uid).expect("checked").phone = number.to_string();
        }
    }
    Ok(Map::new())
}

fn valid_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !e.contains(char::is_whitespace)
    })
}

fn tags(sim: &Sim, cmd: &str, req: &Req) -> Reply {
    let valid_tag = |t: &&str| (3..=50).contains(&t.chars().count());
    if cmd == "CreateUserTag" {
        let tag = req.text("tag").filter(valid_tag).ok_or(InvalidTag)?;
        if let Some(color) = req.0.get("color") {
            let ok = color.as_str().is_some_and(|c| {
                c.len() == 7
                    && c.starts_with('#')
                    && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
            });
            if !ok {
                return Err(InvalidTagColor.into());
            }
        }
        if let Some(d) = req.0.get("description")
            && d.as_str().is_none_or(|d| d.chars().count() > 100)
        {
            return Err(InvalidTagDescription.into());
        }
        let mut state = sim.lock();
        if !state.tags.iter().any(|t| t == tag) {
            state.tags.push(tag.to_string());
        }
        return Ok(fields([("data", json!(1))]));
    }
    let uid = req.uid(sim)?.to_string();
    let mut state = sim.lock();
    if cmd == "GetUserTags" {
        return Ok(fields([("data", json!(state.users[&uid].tags))]));
    }
    let tag = req
        .text("tag")
        .filter(valid_tag)
        .ok_or(InvalidTag)?
        .to_string();
    if cmd == "SetUserTag" {
        if !state.tags.contains(&tag) {
            return Err(UnknownTag.into());
        }
        let user = state.users.get_mut(&uid).expect("checked");
        if !user.tags.contains(&tag) {
            user.tags.push(tag);
        }
    } else {
        state
            .users
            .get_mut(&uid)
            .expect("checked")
            .tags
            .retain(|t| *t != tag);
    }
    Ok(Map::new())
}
