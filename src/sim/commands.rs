//! The simulator's commands: each command to its handler (sends in `sending`, user data in
//! `users`, what recipients say in `listening`), and the reads (message details, templates,
//! conversations, users), each validating its fields in the document's terms.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::acks::{self, Channel};
use super::request::{Reply, Req, bot, fields, template};
use super::sending::{send, send_message, send_text};
use super::state::{ConversationEntry, iso};
use super::users::{set_user, tags};
use super::{Sim, listening};
use crate::convrs::ErrorCode::*;

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
    let template = template(sim, req)?;
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
