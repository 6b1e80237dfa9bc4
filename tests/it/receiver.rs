//! The webhook receiver faces the internet: a client that sends its headers or body slowly, or
//! not at all, is cut off instead of holding a connection forever.

use std::time::Duration;

use campaign::queue::Store;
use campaign::tracking::{ReceiverLimits, SECRET_HEADER, webhook, webhook_secret};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::store_in;

const LIMITS: ReceiverLimits = ReceiverLimits {
    header_timeout: Duration::from_millis(200),
    body_timeout: Duration::from_millis(200),
    connections: 8,
};

async fn receiver(store: &Store) -> (webhook::RunningReceiver, String) {
    let secret = webhook_secret(store).await.unwrap();
    let running = webhook::start_with(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        secret.clone(),
        LIMITS,
    )
    .await
    .unwrap();
    (running, secret.expose_secret().to_string())
}

/// Everything the server sends until it closes the connection (failing after a generous
/// deadline: a server without timeouts never closes it).
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut answer = vec![];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer));
    read.await.expect("the receiver closes the connection").ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let (running, _) = receiver(&store).await;
    let mut idle = TcpStream::connect(running.addr).await.unwrap();
    let mut partial = TcpStream::connect(running.addr).await.unwrap();
    partial
        .write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    until_closed(&mut partial).await;
    until_closed(&mut idle).await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let (running, secret) = receiver(&store).await;
    let mut slow = TcpStream::connect(running.addr).await.unwrap();
    let head = format!(
        "POST /callback HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {secret}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"ok\":1"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    running.stop().await.unwrap();
}
