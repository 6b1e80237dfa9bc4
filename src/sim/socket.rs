//! The simulator's WebSocket, as the document's "Using Websockets" describes it: the first
//! frame must be `{"cmd":"connect","token":...}` with a token it accepts (else error 1019, or
//! 1001 for an unknown token, and the socket closes), answered `{"cmd":"connected","ok":1}`;
//! `heartbeat` is answered with the time; other commands are run as over POST. A newer
//! connection with the same token replaces the older, which gets error 1018 and is closed.
//! The document names no close codes: errors come as the API's error frames, then a close
//! with the WebSocket standard's 1008 (policy violation), since 1018 and 1019 are not codes a
//! close frame may carry.
//! Events go to every open socket. Test-only commands: `SimDropSockets` breaks every socket
//! without a close frame, `SimCloseSockets {code}` closes them with that code.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::Sim;

/// What the simulator tells an open socket to do.
#[derive(Debug, Clone)]
pub enum Push {
    Frame(Value),
    /// Error 1018 and close: a newer connection took the token.
    Replaced,
    /// Break the connection without a close frame.
    Drop,
    /// Close with this code.
    Close(u16),
}

/// The open sockets: (connection number, token, where to push).
#[derive(Debug, Default)]
pub struct Sockets {
    next: u64,
    open: Vec<(u64, String, mpsc::UnboundedSender<Push>)>,
}

impl Sockets {
    /// Sends `push` to every open socket.
    pub fn broadcast(&self, push: &Push) {
        for (_, _, tx) in &self.open {
            let _ = tx.send(push.clone());
        }
    }
}

pub async fn upgrade(State(sim): State<Arc<Sim>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(sim, socket))
}

fn error(cmd: &str, code: i64) -> Message {
    let meaning = crate::convrs::ErrorCode::from_code(code).meaning();
    Message::text(json!({ "cmd": cmd, "ok": 0, "error": meaning, "errorCode": code }).to_string())
}

async fn session(sim: Arc<Sim>, mut socket: WebSocket) {
    let Some(token) = connect(&sim, &mut socket).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut sockets = sim.sockets();
        sockets.next += 1;
        let id = sockets.next;
        for (_, t, older) in &sockets.open {
            if *t == token {
                let _ = older.send(Push::Replaced);
            }
        }
        sockets.open.retain(|(_, t, _)| *t != token);
        sockets.open.push((id, token.clone(), tx));
        id
    };
    let connected = json!({"cmd": "connected", "ok": 1}).to_string();
    if socket.send(Message::text(connected)).await.is_ok() {
        serve(&sim, &mut socket, &token, &mut rx).await;
    }
    sim.sockets().open.retain(|(i, _, _)| *i != id);
}

/// Reads the first frame: the token if it is a `connect` with one the simulator accepts.
async fn connect(sim: &Sim, socket: &mut WebSocket) -> Option<String> {
    let Some(Ok(Message::Text(text))) = socket.recv().await else {
        return None;
    };
    let frame: Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
    let cmd = frame.get("cmd").and_then(Value::as_str).unwrap_or_default();
    let token = frame
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let refused = if cmd != "connect" {
        Some(1019)
    } else if !sim.config.tokens.iter().any(|t| t == token) {
        Some(1001)
    } else {
        None
    };
    match refused {
        None => Some(token.to_string()),
        Some(code) => {
            let _ = socket.send(error(cmd, code)).await;
            let _ = socket.send(close(POLICY)).await;
            None
        }
    }
}

/// The WebSocket standard's "policy violation".
const POLICY: u16 = 1008;

fn close(code: u16) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: "".into(),
    }))
}

async fn serve(
    sim: &Sim,
    socket: &mut WebSocket,
    token: &str,
    rx: &mut mpsc::UnboundedReceiver<Push>,
) {
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Frame(frame)) => {
                    if socket.send(Message::text(frame.to_string())).await.is_err() {
                        return;
                    }
                }
                Some(Push::Replaced) => {
                    let _ = socket.send(error("connect", 1018)).await;
                    let _ = socket.send(close(POLICY)).await;
                    return;
                }
                Some(Push::Close(code)) => {
                    let _ = socket.send(close(code)).await;
                    return;
                }
                Some(Push::Drop) | None => return,
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let answer = sim.answer_on_socket(token, text.as_bytes());
                    if socket.send(Message::text(answer.to_string())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
