//! The server's logs never hold a secret: the real binary, logging at `trace`, serves
//! setup, logins (API and form, right and wrong), authenticated requests, a feed read and
//! a logout; its whole output never contains a password, a login token, a feed token, a
//! form token or the signing key.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, TestApp};

const SECRET: &str = "log-test-signing-key-5f1e2d3c";
const PASSWORD: &str = "Sup3r-Secret-Passw0rd-42";
const WRONG: &str = "Wr0ng-Guess-Passw0rd-77";

#[tokio::test]
async fn logs_never_hold_passwords_tokens_or_keys() {
    // The test app only provides a fresh database; the node under test is the binary.
    let app = TestApp::spawn().await;
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = data.path().join("node.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_i2i"))
        .args(["--database-url", &app.database_url, "--data-dir"])
        .arg(data.path().join("node"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("I2I_JWT_SECRET", SECRET)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start i2i");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the node did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut secrets: Vec<String> = vec![SECRET.into(), PASSWORD.into(), WRONG.into()];
    let setup = client
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let setup: Value = expect_json(setup, StatusCode::CREATED).await;
    secrets.push(setup["token"].as_str().unwrap().into());
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = expect_json(login, StatusCode::OK).await["token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    let failed = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": WRONG}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let failed_form = client
        .post(format!("{base}/login"))
        .form(&[("username", "admin"), ("password", WRONG), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(failed_form.status(), StatusCode::UNAUTHORIZED);
    let signed_in = client
        .post(format!("{base}/login"))
        .form(&[("username", "admin"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.cookies().find(|c| c.name() == "i2i_session").expect("a session cookie");
    secrets.push(cookie.value().to_string());

    // Requests that carry the secrets in headers, query strings and forms.
    let posted = client
        .post(format!("{base}/api/v1/posts"))
        .bearer_auth(&token)
        .json(&json!({"body": "disk full #db"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    let feed = client.post(format!("{base}/api/v1/me/feed-token")).bearer_auth(&token).send().await.unwrap();
    let feed = expect_json(feed, StatusCode::OK).await["token"].as_str().unwrap().to_string();
    secrets.push(feed.clone());
    let read = client.get(format!("{base}/feeds/tags/db.atom?token={feed}")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let my = client.get(format!("{base}/my")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    let field = regex::Regex::new(r#"name="_csrf" value="([^"]+)""#).unwrap();
    let csrf = field.captures(&my).expect("a form token on /my")[1].to_string();
    secrets.push(csrf.clone());
    let out = client
        .post(format!("{base}/logout"))
        .bearer_auth(&token)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let revoked = client.get(format!("{base}/api/v1/users/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);

    // Let the last lines reach the file, then stop the node.
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.kill().expect("stop the node this test started");
    node.wait().expect("the node exits");
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.lines().count() > 20, "trace logging produced only: {text}");
    assert!(text.contains("/api/v1/auth/login"), "requests are logged");
    let leaks: Vec<&str> =
        text.lines().filter(|line| secrets.iter().any(|secret| line.contains(secret.as_str()))).collect();
    assert!(leaks.is_empty(), "{} log lines hold a secret:\n{}", leaks.len(), leaks.join("\n"));
}
