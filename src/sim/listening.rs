//! What recipients say, simulated: a reply to every message that reaches ack 10 (its text is
//! `--reply-text`), shown by GetConversation; and test-only commands (not in the API document)
//! that make a client write (`SimClientMessage`) or disable and enable a user
//! (`SimUserDisable`, `SimUserEnable`), each pushed as the document's event
//! (`onUserConversation`, `onUserDisable`, `onUserEnable`) to every open WebSocket and to
//! `--events-url` when one is given; `SimDropSockets` and `SimCloseSockets` end the sockets.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::Sim;
use super::request::{Reply, Req, checked_message};
use super::socket::Push;
use super::state::{ConversationEntry, SimState, iso};

/// The client's replies to the user's messages that have reached ack 10 by now.
pub fn replies(sim: &Sim, state: &SimState, uid: &str) -> Vec<ConversationEntry> {
    let step = sim.config.ack_delay;
    state
        .mids_of
        .get(uid)
        .into_iter()
        .flatten()
        .filter_map(|mid| Some((mid, state.messages.get(mid)?)))
        .filter_map(|(mid, m)| {
            let steps = m.plan.iter().position(|ack| *ack == 10)?;
            let reached = m.accepted_at + step * steps as u32;
            (reached <= Utc::now()).then(|| ConversationEntry {
                mid: format!("{mid}r"),
                msg: sim.config.reply_text.clone(),
                sender: "client",
                dt: reached,
                bot: state
                    .users
                    .get(uid)
                    .map(|u| u.bot.clone())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// `SimClientMessage {uid, message, dt?}`: the client writes (at `dt`, ISO 8601, to stand for
/// an older message; else now); pushed as onUserConversation.
pub fn client_message(sim: &Sim, req: &Req) -> Reply {
    let uid = req.uid(sim)?;
    let text = checked_message(req)?;
    let dt = req
        .text("dt")
        .and_then(crate::clock::parse_iso)
        .unwrap_or_else(Utc::now);
    let mut state = sim.lock();
    let mid = state.new_mid();
    let bot = state.users[uid].bot.clone();
    let entry = ConversationEntry {
        mid: mid.clone(),
        msg: text.to_string(),
        sender: "client",
        dt,
        bot,
    };
    let data = entry_json(uid, &entry);
    state
        .conversations
        .entry(uid.to_string())
        .or_default()
        .push(entry);
    drop(state);
    push(
        sim,
        json!({ "cmd": "onUserConversation", "ok": 1, "uid": uid, "data": [data] }),
    );
    Ok(Map::from_iter([("mid".to_string(), json!(mid))]))
}

/// When the user last wrote (a message of theirs, or a reply the simulator makes for them).
pub fn last_client_message(
    sim: &Sim,
    state: &SimState,
    uid: &str,
) -> Option<chrono::DateTime<Utc>> {
    let written = state
        .conversations
        .get(uid)
        .into_iter()
        .flatten()
        .filter(|e| e.sender == "client")
        .map(|e| e.dt);
    written
        .chain(replies(sim, state, uid).into_iter().map(|e| e.dt))
        .max()
}

/// `SimUserDisable` / `SimUserEnable {uid}`: pushed as onUserDisable / onUserEnable.
pub fn user_event(sim: &Sim, cmd: &str, req: &Req) -> Reply {
    let uid = req.uid(sim)?;
    let event = if cmd == "SimUserDisable" {
        "onUserDisable"
    } else {
        "onUserEnable"
    };
    push(sim, json!({ "cmd": event, "ok": 1, "uid": uid }));
    Ok(Map::new())
}

/// `SimDropSockets`: every open WebSocket breaks, without a close frame;
/// `SimCloseSockets {code}`: every one is closed with `code`.
pub fn sockets(sim: &Sim, cmd: &str, req: &Req) -> Reply {
    let push = match req.int("code") {
        _ if cmd == "SimDropSockets" => Push::Drop,
        Some(Some(code)) => Push::Close(u16::try_from(code).unwrap_or(1000)),
        _ => Push::Close(1000),
    };
    sim.sockets().broadcast(&push);
    Ok(Map::new())
}

/// A conversation entry as the document's onUserConversation shows it.
fn entry_json(uid: &str, e: &ConversationEntry) -> Value {
    json!({
        "uid": uid, "mid": e.mid, "msg": e.msg, "typ": "text", "sender": e.sender,
        "dt": iso(e.dt), "agent": "", "bot": e.bot,
    })
}

/// Sends an event to every open WebSocket, and posts it to the events URL if one is
/// configured (three tries, then given up).
fn push(sim: &Sim, event: Value) {
    sim.sockets().broadcast(&Push::Frame(event.clone()));
    let Some(url) = sim.config.events_url.clone() else {
        return;
    };
    let http = sim.http.clone();
    tokio::spawn(async move {
        for _ in 0..3 {
            if let Ok(r) = http.post(&url).json(&event).send().await
                && (r.status().is_success() || r.status().is_client_error())
            {
                return;
            }
        }
        tracing::debug!(%url, "an event was not accepted");
    });
}
