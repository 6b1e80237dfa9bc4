//! The webhook receiver faces the internet: a client that sends its headers or body slowly, or
//! not at all, that idles between requests, or pipelines requests and never reads the answers,
//! is cut off instead of holding a connection forever; a genuine callback gets through.

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
    idle_timeout: Duration::from_millis(300),
    request_timeout: Duration::from_millis(500),
    requests_per_connection: 1_000_000,
    connections: 8,
};

async fn receiver(store: &Store) -> (webhook::RunningReceiver, String) {
    receiver_with(store, LIMITS).await
}

async fn receiver_with(
    store: &Store,
    limits: ReceiverLimits,
) -> (webhook::RunningReceiver, String) {
    let secret = webhook_secret(store).await.unwrap();
    let running = webhook::start_with(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        secret.clone(),
        limits,
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

/// A client that sends requests back to back, as fast as the receiver takes them, and never
/// reads an answer (its receive buffer is as small as the system allows). Ends when the
/// receiver closes the connection.
fn pipelining_without_reading(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        let request = b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
        let many: Vec<u8> = request.repeat(1000);
        while stream.write_all(&many).await.is_ok() {}
    })
}

/// A client that sends a request's headers a byte at a time, forever.
fn trickling(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = b"POST /callback HTTP/1.1\r\nHost: x\r\nX-Padding: ";
        stream.write_all(head).await.unwrap();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if stream.write_all(b"a").await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_filling_the_connection_limit_are_cut_and_a_callback_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let limits = ReceiverLimits {
        connections: 4,
        ..LIMITS
    };
    let (running, secret) = receiver_with(&store, limits).await;
    let addr = running.addr;
    // Eight hostile connections against a limit of four: idle, trickling and, enough to fill
    // the limit alone, pipelining without reading.
    let mut idle = vec![];
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let hostile: Vec<_> = (0..4)
        .map(|_| pipelining_without_reading(addr))
        .chain((0..2).map(|_| trickling(addr)))
        .collect();
    // A genuine callback (about a message this database does not know: 202).
    let answer = campaign::convrs::client::http_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!("http://{addr}/callback"))
        .header(SECRET_HEADER, &secret)
        .header("content-type", "application/json")
        .body(r#"{"ok":1,"mid":"ffffffffffffffffffffffff","ack":2}"#)
        .send()
        .await
        .expect("the callback is answered once the hostile clients are cut");
    assert_eq!(answer.status().as_u16(), 202);
    // Every hostile client was cut: none holds the receiver.
    for client in hostile {
        tokio::time::timeout(Duration::from_secs(20), client)
            .await
            .expect("the receiver closes the connection")
            .unwrap();
    }
    for mut stream in idle {
        until_closed(&mut stream).await;
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_carries_a_bounded_number_of_requests_then_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let limits = ReceiverLimits {
        requests_per_connection: 3,
        ..LIMITS
    };
    let (running, _) = receiver_with(&store, limits).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    let request = "POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    stream
        .write_all(request.repeat(5).as_bytes())
        .await
        .unwrap();
    let answers = until_closed(&mut stream).await;
    assert_eq!(answers.matches("HTTP/1.1 401").count(), 3, "{answers}");
    assert_eq!(
        answers
            .to_ascii_lowercase()
            .matches("connection: close")
            .count(),
        1
    );
    running.stop().await.unwrap();
}
