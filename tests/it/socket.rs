//! Events over the API's WebSocket, against the simulator's: a STOP suppresses, a dropped
//! socket reconnects, a newer connection with the token (1018) three times stops it, a close
//! with 1000 stops it, and a worker opens one for the token it holds and shows it in /healthz.

use std::sync::Arc;
use std::time::Duration;

use campaign::queue::{Heard, InboundSource};
use campaign::tracking::events::EventStats;
use campaign::tracking::socket::{SocketConfig, SocketState, listen};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TOKEN, TestSim, TestWorker, spawn_sim, store_in, wait_for};
use crate::listening::{sent, suppressed, uid, wait_until_suppressed};

fn ws_url(sim: &TestSim) -> String {
    format!("ws://{}/", sim.running.addr)
}

/// The document's numbers, made short enough for a test.
fn quick(sim: &TestSim) -> SocketConfig {
    let mut config = SocketConfig::new(&ws_url(sim)).unwrap();
    config.heartbeat = Duration::from_millis(50);
    config.backoff = (Duration::from_millis(10), Duration::from_millis(100));
    config.replaced_wait = Duration::from_millis(10);
    config
}

async fn state_is(stats: &EventStats, what: &str, check: impl Fn(&SocketState) -> bool) {
    wait_for(what, || async {
        stats.sockets().values().any(&check).then_some(())
    })
    .await;
}

/// A socket listening for the test token on `sim`, into a fresh store.
async fn listening(
    sim: &TestSim,
) -> (
    Arc<EventStats>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let stats = Arc::new(EventStats::default());
    let task = tokio::spawn(listen(
        store,
        sim.client(),
        quick(sim),
        stats.clone(),
        CancellationToken::new(),
    ));
    (stats, task, dir)
}

fn connected(s: &SocketState) -> bool {
    matches!(s, SocketState::Connected { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_over_the_websocket_suppresses_and_a_dropped_socket_reconnects() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let phone = "+447911000041";
    let id = sent(&sim, &store, dir.path(), &[phone], false).await;
    let stats = Arc::new(EventStats::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(listen(
        store.clone(),
        sim.client(),
        quick(&sim),
        stats.clone(),
        stop.clone(),
    ));
    state_is(&stats, "the socket to connect", connected).await;
    let write = |text: &'static str| {
        sim.call(
            "SimClientMessage",
            json!({ "uid": uid(phone, "wa3"), "message": text }),
        )
    };
    write("STOP").await;
    assert_eq!(wait_until_suppressed(&store, phone).await, "keyword");
    let heard = store.replies(id).await.unwrap();
    assert_eq!(
        (heard[0].source, heard[0].verdict),
        (InboundSource::WebSocket, Heard::OptOut)
    );

    sim.call("SimDropSockets", json!({})).await;
    wait_for("a reconnect after the drop", || async {
        let dropped = stats.reconnects().get("dropped").copied().unwrap_or(0);
        (dropped >= 1 && stats.sockets().values().any(connected)).then_some(())
    })
    .await;
    write("START").await;
    wait_for("START over the new socket", || async {
        suppressed(&store).await.is_empty().then_some(())
    })
    .await;
    let events = stats.events();
    assert_eq!(
        events[&("websocket".to_string(), "onUserConversation".to_string())],
        2
    );
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        stats.sockets().values().next(),
        Some(&SocketState::Off),
        "stopped: the socket is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_newer_connections_with_the_token_in_half_an_hour_stop_the_socket_and_say_so() {
    let sim = spawn_sim(|_| {}).await;
    let (stats, task, _dir) = listening(&sim).await;
    let mut ours = vec![];
    for round in 1..=3 {
        state_is(&stats, "the worker's socket to connect", connected).await;
        // Another integration connects with the same token: the worker's socket gets 1018.
        let (mut other, _) = tokio_tungstenite::connect_async(ws_url(&sim))
            .await
            .unwrap();
        let connect = json!({"cmd": "connect", "token": TOKEN}).to_string();
        other.send(Message::text(connect)).await.unwrap();
        let answer = other.next().await.unwrap().unwrap();
        assert!(answer.to_text().unwrap().contains("connected"));
        ours.push(other);
        wait_for("the 1018 to be counted", || async {
            (stats.reconnects().get("1018") == Some(&round)).then_some(())
        })
        .await;
    }
    state_is(&stats, "the socket to stop", |s| {
        matches!(s, SocketState::Stopped { reason } if reason.contains("1018") && reason.contains("another integration"))
    })
    .await;
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_1000_stops_the_socket_for_the_token() {
    let sim = spawn_sim(|_| {}).await;
    let (stats, task, _dir) = listening(&sim).await;
    state_is(&stats, "the socket to connect", connected).await;
    sim.call("SimCloseSockets", json!({"code": 1000})).await;
    state_is(
        &stats,
        "the socket to stop",
        |s| matches!(s, SocketState::Stopped { reason } if reason.contains("1000")),
    )
    .await;
    task.await.unwrap();
    assert!(stats.reconnects().is_empty(), "no reconnect after 1000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_listens_on_the_socket_of_the_token_it_holds() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let phone = "+447911000042";
    let id = sent(&sim, &store, dir.path(), &[phone], true).await;
    let confirmation = "You will get no more messages from us.";
    let set = crate::helpers::campaign_cmd(dir.path(), &["opt-out", "confirm", confirmation]);
    assert!(set.status.success());
    let worker = TestWorker::spawn(dir.path(), &sim, &["--events-ws", &ws_url(&sim)]).await;
    wait_for("/healthz to show the socket connected", || async {
        let (_, body) = worker.get("/healthz").await;
        body.contains(r#""state":"connected""#).then_some(())
    })
    .await;
    sim.call(
        "SimClientMessage",
        json!({ "uid": uid(phone, "cms"), "message": "Stop" }),
    )
    .await;
    assert_eq!(wait_until_suppressed(&store, phone).await, "keyword");
    // The opt-out is answered once, by the worker holding the token, through its gate.
    let conversation = || async {
        let answer = sim
            .call("GetConversation", json!({ "uid": uid(phone, "cms") }))
            .await;
        answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["msg"] == confirmation)
            .count()
    };
    wait_for("the confirmation", || async {
        (conversation().await == 1).then_some(())
    })
    .await;
    sim.call(
        "SimClientMessage",
        json!({ "uid": uid(phone, "cms"), "message": "STOP!" }),
    )
    .await;
    wait_for("the second STOP to be heard", || async {
        (store.replies(id).await.unwrap().len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        conversation().await,
        1,
        "one confirmation per opt-out that suppressed"
    );
    wait_for("status to show the confirmation sent", || async {
        let status = crate::helpers::campaign_cmd(dir.path(), &["status", &id.0.to_string()]);
        String::from_utf8_lossy(&status.stdout)
            .contains("opt-outs' confirmations: 1 sent")
            .then_some(())
    })
    .await;
    let (_, metrics) = worker.get("/metrics").await;
    assert!(
        metrics.contains(
            r#"campaign_events_total{source="websocket",command="onUserConversation"} 2"#
        ),
        "{metrics}"
    );
    assert!(!worker.log().contains(TOKEN), "the token is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_never_follows_a_redirect() {
    let sim = spawn_sim(|_| {}).await;
    // A server that sends every upgrade to the simulator with a 302.
    let to_sim = ws_url(&sim);
    let redirecting = axum::Router::new().fallback(move || {
        let to_sim = to_sim.clone();
        async move {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, to_sim)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirecting).await });
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let stats = Arc::new(EventStats::default());
    let mut config = quick(&sim);
    config.url = format!("ws://{addr}/").parse().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(listen(
        store,
        sim.client(),
        config,
        stats.clone(),
        stop.clone(),
    ));
    wait_for("two failed connections", || async {
        (stats.reconnects().get("dropped").copied().unwrap_or(0) >= 2).then_some(())
    })
    .await;
    assert!(
        !stats.sockets().values().any(connected),
        "a redirect is not followed: {:?}",
        stats.sockets()
    );
    stop.cancel();
    task.await.unwrap();
}
