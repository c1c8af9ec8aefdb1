//! Clients that hold connections open on purpose (a slowloris) or send what the HTTP parser
//! refuses: the server stays responsive, closes them in bounded time, and answers in the
//! JSON error shape where the request reaches i2i.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::node::{free_port, i2i_command, Node};
use crate::helpers::{PgDatabase, TestApp};

/// The body timeout the node under test runs with (the default is 10 s).
const BODY_TIMEOUT: Duration = Duration::from_secs(2);
const SLOW_CLIENTS: usize = 500;

/// Opens a connection and sends a login request's head promising 100 bytes of body (or a
/// chunked body), and the first byte of it; then one more byte a second. Returns when the
/// server closes the connection (with how long it was open and what it answered) or after
/// `give_up`.
async fn slow_client(address: String, chunked: bool, give_up: Duration) -> (Duration, Option<String>) {
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let (framing, byte): (&str, &[u8]) =
        if chunked { ("Transfer-Encoding: chunked", b"1\r\n \r\n") } else { ("Content-Length: 100", b" ") };
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: i2i\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    stream.write_all(byte).await.expect("send the first byte");
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(byte).await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(give_up, reader.read_to_end(&mut answer)).await;
    trickle.abort();
    let answer = closed.is_ok().then(|| String::from_utf8_lossy(&answer).to_string());
    (started.elapsed(), answer)
}

/// How long `/healthz` takes on a fresh connection, head to last byte.
async fn healthz_time(address: &str) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).await.expect("connect for /healthz");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: i2i\r\nConnection: close\r\n\r\n").await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read /healthz");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    started.elapsed()
}

#[tokio::test]
async fn a_slowloris_neither_blocks_healthz_nor_holds_its_connections() {
    let _ = i2i::startup::raise_open_files_limit();
    let pg = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = i2i_command(pg.as_ref().map(|pg| pg.url.as_str()), &dir.path().join("node"));
    command.env("I2I_BODY_TIMEOUT_SECS", BODY_TIMEOUT.as_secs().to_string());
    let _node = Node::start_command(command, port).await;
    let address = format!("127.0.0.1:{port}");

    let give_up = BODY_TIMEOUT + Duration::from_secs(8);
    let clients: Vec<_> =
        (0..SLOW_CLIENTS).map(|n| tokio::spawn(slow_client(address.clone(), n % 5 == 0, give_up))).collect();
    // While they trickle, `/healthz` answers at once, on new connections.
    let mut probes = Vec::new();
    let started = Instant::now();
    while started.elapsed() < BODY_TIMEOUT + Duration::from_secs(1) {
        probes.push(healthz_time(&address).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slow: Vec<_> = probes.iter().filter(|took| **took > Duration::from_millis(100)).collect();
    assert!(slow.is_empty(), "/healthz took over 100 ms {} times of {}: {slow:?}", slow.len(), probes.len());

    let mut open_for = Vec::new();
    for client in clients {
        let (took, answer) = client.await.unwrap();
        let answer = answer.unwrap_or_else(|| panic!("a slow client was still connected after {took:?}"));
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
        open_for.push(took);
    }
    let longest = open_for.iter().max().unwrap();
    assert!(
        *longest <= BODY_TIMEOUT + Duration::from_millis(1500),
        "a slow client held its connection for {longest:?} (body timeout {BODY_TIMEOUT:?})"
    );
}

#[tokio::test]
async fn refusals_that_reach_i2i_are_json() {
    let app = TestApp::spawn().await;
    let long = format!("/api/v1/search?q={}", "a".repeat(9000));
    let response = app.client.get(app.url(&long)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "uri_too_long", "{body}");
    let page = app.client.get(app.url(&format!("/search?q={}", "a".repeat(9000)))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::URI_TOO_LONG);
}
