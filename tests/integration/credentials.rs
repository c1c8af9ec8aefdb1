//! Credentials and the rights they carry: a feed token dies with the sessions (disable,
//! password change), responses carrying a credential are not cached, the right to change
//! an incident follows live notes, and the last active admin survives two admins
//! disabling or demoting each other at the same moment — in one process on either backend,
//! and on two `i2i serve` nodes on one PostgreSQL database.

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::node::{free_port, Node};
use crate::helpers::{csrf_of, expect_json, PgDatabase, TestApp, ADMIN_PASSWORD, PASSWORD};

async fn feed_status(app: &TestApp, feed: &str) -> StatusCode {
    reqwest::get(app.url(&format!("/feeds/search.atom?q=db&token={feed}"))).await.unwrap().status()
}

async fn new_feed_token(app: &TestApp, token: &str) -> String {
    let answer =
        expect_json(app.post("/api/v1/me/feed-token", token, &json!({})).await, StatusCode::OK).await;
    answer["token"].as_str().expect("feed token").to_string()
}

#[tokio::test]
async fn a_feed_token_dies_with_a_disable_and_a_password_change() {
    let app = TestApp::spawn_with(|config| config.login_per_minute = 0).await;
    let admin = app.setup_admin().await;
    app.create_post(&admin, json!({"body": "replica lag on #db"})).await;
    let rita = app.user(&admin, "rita", "responder").await;
    let feed = new_feed_token(&app, &rita).await;
    assert_eq!(feed_status(&app, &feed).await, StatusCode::OK);

    // Disabled, then enabled again: the old feed URL stays dead.
    for disabled in [true, false] {
        let response = app.patch("/api/v1/users/rita", &admin, &json!({"disabled": disabled})).await;
        expect_json(response, StatusCode::OK).await;
    }
    assert_eq!(feed_status(&app, &feed).await, StatusCode::UNAUTHORIZED, "feed token after disable + enable");
    assert_eq!(app.get("/api/v1/users/me", &rita).await.status(), StatusCode::UNAUTHORIZED);

    // A new login, a new feed token; then a password change (as `i2i user set-password`).
    let login = expect_json(app.login("rita", PASSWORD).await, StatusCode::OK).await;
    let rita = login["token"].as_str().unwrap().to_string();
    let feed = new_feed_token(&app, &rita).await;
    assert_eq!(feed_status(&app, &feed).await, StatusCode::OK);
    let hash = i2i::auth::password::hash_now("a-brand-new-password").unwrap();
    app.db()
        .write_blocking(move |conn| {
            i2i::app::users::set_password(conn, &i2i::app::audit::Actor::cli(), "rita", &hash)
        })
        .unwrap();
    assert_eq!(feed_status(&app, &feed).await, StatusCode::UNAUTHORIZED, "feed token after password change");
    assert_eq!(app.get("/api/v1/users/me", &rita).await.status(), StatusCode::UNAUTHORIZED);
}

fn assert_no_store(response: &reqwest::Response, what: &str) {
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(cache.contains("no-store"), "{what}: Cache-Control is {cache:?}");
}

#[tokio::test]
async fn responses_carrying_a_credential_are_not_stored() {
    let app = TestApp::spawn().await;
    let setup = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_no_store(&setup, "setup");
    let admin = expect_json(setup, StatusCode::CREATED).await["token"].as_str().unwrap().to_string();
    let login = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_no_store(&login, "API login");
    let feed = app.post("/api/v1/me/feed-token", &admin, &json!({})).await;
    assert_eq!(feed.status(), StatusCode::OK);
    assert_no_store(&feed, "feed token");
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert!(form.headers().get("set-cookie").is_some());
    assert_no_store(&form, "form login");
    // The page that shows the feed token.
    let my = app.client.get(app.url("/my")).bearer_auth(&admin).send().await.unwrap();
    assert_no_store(&my, "/my");
}

#[tokio::test]
async fn only_a_live_note_lets_a_responder_change_an_incident() {
    let app = TestApp::spawn_with(|config| config.posts_per_minute = 0).await;
    let admin = app.setup_admin().await;
    let rita = app.user(&admin, "rita", "responder").await;
    let sam = app.user(&admin, "sam", "designer").await;
    let patch = |status: &'static str| json!({"status": status});
    let note = app.create_post(&rita, json!({"body": "looking at #db", "incident": "INC-7"})).await;
    expect_json(app.patch("/api/v1/incidents/INC-7", &rita, &patch("identified")).await, StatusCode::OK)
        .await;
    assert_eq!(
        app.patch("/api/v1/incidents/INC-7", &sam, &patch("monitoring")).await.status(),
        StatusCode::FORBIDDEN
    );

    // Her only note deleted, rita is no longer one of the incident's responders.
    let deleted = app.delete(&format!("/api/v1/posts/{}", note["id"]), &rita).await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let refused = app.patch("/api/v1/incidents/INC-7", &rita, &patch("monitoring")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_of(&app, &rita).await;
    let page = app
        .client
        .post(app.url("/incidents/INC-7/update"))
        .bearer_auth(&rita)
        .form(&[("status", "monitoring"), ("severity", ""), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN, "the incident page's form");
    let incident = app.get_json("/api/v1/incidents/INC-7", &admin).await;
    assert_eq!(incident["status"], "identified", "nothing changed");

    // A new note gives the right back; an admin always has it.
    app.create_post(&rita, json!({"body": "back on it #db", "incident": "INC-7"})).await;
    expect_json(app.patch("/api/v1/incidents/INC-7", &rita, &patch("monitoring")).await, StatusCode::OK)
        .await;
    expect_json(app.patch("/api/v1/incidents/INC-7", &admin, &patch("resolved")).await, StatusCode::OK).await;
}

/// One of the ways two admins can try to take each other out at the same moment.
fn change(round: usize) -> (Value, &'static str) {
    match round % 3 {
        0 => (json!({"disabled": true}), "disable"),
        1 => (json!({"role": "responder"}), "demote"),
        _ => (json!({"role": "analyst", "disabled": true}), "demote and disable"),
    }
}

/// `rounds` times: `admin` (through `base_a`) and `bob` (through `base_b`), the only two
/// active admins, change each other at the same moment; exactly one may succeed. `reset`
/// makes both active admins with live sessions again.
async fn race_rounds(
    base_a: &str,
    base_b: &str,
    admin: &str,
    bob: &str,
    rounds: usize,
    reset: impl Fn(),
    active_admins: impl Fn() -> i64,
) {
    let client = reqwest::Client::new();
    for round in 0..rounds {
        let (body, what) = change(round);
        let first = client.patch(format!("{base_a}/api/v1/users/bob")).bearer_auth(admin).json(&body).send();
        let second = client.patch(format!("{base_b}/api/v1/users/admin")).bearer_auth(bob).json(&body).send();
        let (first, second) = tokio::join!(first, second);
        let statuses = [first.unwrap().status(), second.unwrap().status()];
        let succeeded = statuses.iter().filter(|s| s.is_success()).count();
        assert_eq!(succeeded, 1, "round {round} ({what} each other): {statuses:?}");
        for status in statuses.iter().filter(|s| !s.is_success()) {
            // The loser was refused by the guard, or was already out (token revoked).
            assert!(
                [StatusCode::CONFLICT, StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(status),
                "round {round}: {statuses:?}"
            );
        }
        assert_eq!(active_admins(), 1, "round {round} ({what}): one active admin is left");
        reset();
    }
}

/// Makes `admin` and `bob` active admins again with their sessions live.
const RESET: [&str; 2] = [
    "UPDATE users SET role = 'admin', disabled_at = NULL WHERE username IN ('admin', 'bob')",
    "UPDATE sessions SET revoked_at = NULL",
];
const ACTIVE_ADMINS: &str = "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL";

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn two_admins_taking_each_other_out_at_once_leave_one_in_process() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let bob = app.user(&admin, "bob", "admin").await;
    let db = app.db();
    let reset = || {
        db.write_blocking(|conn| {
            for sql in RESET {
                diesel::sql_query(sql).execute(conn)?;
            }
            Ok(())
        })
        .unwrap()
    };
    let active = || {
        db.read_blocking(|conn| Ok(diesel::sql_query(ACTIVE_ADMINS).get_result::<Count>(conn)?.n)).unwrap()
    };
    race_rounds(&app.address, &app.address, &admin, &bob, 15, reset, active).await;
}

#[tokio::test]
async fn two_admins_on_two_nodes_taking_each_other_out_at_once_leave_one() {
    let Some(database) = PgDatabase::create() else {
        eprintln!("skipped on SQLite: several nodes need PostgreSQL");
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let nodes = [
        Node::start(Some(&database.url), dirs[0].path(), free_port()).await,
        Node::start(Some(&database.url), dirs[1].path(), free_port()).await,
    ];
    let client = reqwest::Client::new();
    let setup = client
        .post(nodes[0].url("/api/v1/setup"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let admin = expect_json(setup, StatusCode::CREATED).await["token"].as_str().unwrap().to_string();
    let made = client
        .post(nodes[0].url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "bob", "password": PASSWORD, "role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_json(made, StatusCode::CREATED).await;
    let login = client
        .post(nodes[1].url("/api/v1/auth/login"))
        .json(&json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let bob = expect_json(login, StatusCode::OK).await["token"].as_str().unwrap().to_string();
    let url = database.url.clone();
    let connect = move || {
        use diesel::Connection;
        diesel::PgConnection::establish(&url).expect("connect")
    };
    let reset = || {
        let mut conn = connect();
        for sql in RESET {
            diesel::sql_query(sql).execute(&mut conn).expect(sql);
        }
    };
    let active = || diesel::sql_query(ACTIVE_ADMINS).get_result::<Count>(&mut connect()).expect("count").n;
    race_rounds(&nodes[0].base, &nodes[1].base, &admin, &bob, 20, reset, active).await;
}

/// Reads `stream` until it ends or `within` passes; the text read, and whether it ended.
async fn read_until_end(stream: &mut reqwest::Response, within: std::time::Duration) -> (String, bool) {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(_) => return (text, true),
            Err(_) => return (text, false),
        }
    }
}

#[tokio::test]
async fn an_open_event_stream_ends_with_its_session() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let rita = app.user(&admin, "rita", "responder").await;
    let open = |token: String| {
        let request = app.client.get(app.url("/api/v1/stream")).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response
        }
    };
    // Logged out: the stream opened with that token delivers nothing more and ends.
    let mut stream = open(rita.clone()).await;
    let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&rita).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    app.create_post(&admin, json!({"body": "after the logout #secret"})).await;
    let (text, ended) = read_until_end(&mut stream, std::time::Duration::from_secs(10)).await;
    assert!(!text.contains("after the logout"), "a post reached a logged-out stream: {text}");
    assert!(ended, "the stream of a revoked session is still open");

    // Disabled while idle: the stream ends within the recheck interval, without a post.
    let login = expect_json(app.login("rita", PASSWORD).await, StatusCode::OK).await;
    let mut stream = open(login["token"].as_str().unwrap().to_string()).await;
    expect_json(app.patch("/api/v1/users/rita", &admin, &json!({"disabled": true})).await, StatusCode::OK)
        .await;
    let (_, ended) = read_until_end(&mut stream, std::time::Duration::from_secs(10)).await;
    assert!(ended, "the stream of a disabled user is still open");
}
