//! The simulator's user commands: SetUser* and the tags.

use serde_json::{Map, Value, json};

use super::Sim;
use super::request::{Reply, Req, fields, phone};
use crate::convrs::ErrorCode::*;

pub(super) fn set_user(sim: &Sim, cmd: &str, req: &Req) -> Reply {
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

pub(super) fn tags(sim: &Sim, cmd: &str, req: &Req) -> Reply {
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
