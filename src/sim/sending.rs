//! The simulator's sends: templates, SMS, free-form texts within the 24-hour window and
//! messages to flow routes, each admitted within the token's and the number's rates and
//! recorded with its acks and callbacks.

use std::time::Instant;

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::acks::{self, CallbackTarget, Channel};
use super::ledger::{LedgerEntry, fingerprint};
use super::request::{Refusal, Reply, Req, bot, checked_message, fields, phone, template};
use super::state::{Bot, ConversationEntry, SimMessage};
use super::{Sim, listening};
use crate::convrs::ErrorCode::*;
use crate::convrs::codes::whatsapp;
use crate::convrs::wire::Callback;
use crate::phone::PhoneNumber;

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

/// What a send carries besides the number.
struct Content {
    template: Option<(String, String, Vec<String>)>,
    text: String,
}

fn template_content(sim: &Sim, req: &Req) -> Result<Content, Refusal> {
    let template = template(sim, req)?;
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
        .text(&template.name, &template.render(&params), &params);
    Ok(Content {
        template: Some((template.name.clone(), template.language.clone(), params)),
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

pub(super) fn send(sim: &Sim, token: &str, req: &Req, channel: Channel) -> Reply {
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

/// How long after a user's last message WhatsApp takes a free-form message (the API document:
/// "a 24-hour conversation window opens" when the user writes).
const CONVERSATION_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// SendTextMessage: to a WhatsApp user only within 24 hours of their last message (else
/// WhatsApp's 131047), within the token's and the number's rates; `ok: 1` without a mid, as
/// the document shows, the message in the conversation with one.
pub(super) fn send_text(sim: &Sim, token: &str, req: &Req) -> Reply {
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

pub(super) fn send_message(sim: &Sim, token: &str, req: &Req) -> Reply {
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
