//! Accounts, login tokens, revocation and roles.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, TestApp, ADMIN_PASSWORD, PASSWORD};

#[tokio::test]
async fn setup_creates_the_first_admin_only_once() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let me = app.get_json("/api/v1/users/me", &token).await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["display_name"], "Ada Admin");

    let again = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({"username": "mallory", "password": "mallory-password"}))
        .send()
        .await
        .unwrap();
    let (code, _) = expect_error(again, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    assert_eq!(app.login("mallory", "mallory-password").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_gives_a_working_token_and_bad_credentials_the_same_401() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let login = expect_json(app.login("Admin", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let token = login["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT has three parts");
    assert!(login["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(login["user"]["username"], "admin");
    assert_eq!(app.get_json("/api/v1/users/me", token).await["username"], "admin");

    let (_, wrong_password) =
        expect_error(app.login("admin", "not-the-password").await, StatusCode::UNAUTHORIZED).await;
    let (_, unknown_user) =
        expect_error(app.login("nobody", "not-the-password").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(wrong_password, unknown_user, "errors must not reveal which usernames exist");
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let other = expect_json(app.login("admin", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let other_token = other["token"].as_str().unwrap();
    let response = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (code, _) = expect_error(app.get("/api/v1/users/me", &token).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "unauthorized");
    // Only that session ended.
    assert_eq!(app.get("/api/v1/users/me", other_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_forged_and_missing_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let login = expect_json(app.login("admin", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let user_id = 1;
    // A token signed with the right key but already expired.
    let keys = i2i::auth::Keys::new(app.config.jwt_secret.as_ref().unwrap().as_bytes());
    let now = chrono::Utc::now().timestamp();
    let expired = keys
        .sign(&i2i::auth::tokens::Claims {
            sub: user_id,
            jti: "x".into(),
            iat: now - 100,
            nbf: None,
            exp: now - 10,
        })
        .unwrap();
    assert_eq!(app.get("/api/v1/users/me", &expired).await.status(), StatusCode::UNAUTHORIZED);
    // A valid-looking token signed with another key.
    let forged = i2i::auth::Keys::new(b"some-other-secret-entirely")
        .sign(&i2i::auth::tokens::Claims {
            sub: user_id,
            jti: "x".into(),
            iat: now,
            nbf: None,
            exp: now + 3600,
        })
        .unwrap();
    assert_eq!(app.get("/api/v1/users/me", &forged).await.status(), StatusCode::UNAUTHORIZED);
    // No token at all.
    let response = app.client.get(app.url("/api/v1/timeline")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    assert!(login["token"].as_str().is_some() && !token.is_empty());
}

#[tokio::test]
async fn only_admins_manage_users_and_disabling_logs_out() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let responder = app.user(&admin, "rita", "responder").await;

    let attempt =
        app.post("/api/v1/users", &responder, &json!({"username": "x1", "password": PASSWORD})).await;
    expect_error(attempt, StatusCode::FORBIDDEN).await;
    expect_error(app.get("/api/v1/users", &responder).await, StatusCode::FORBIDDEN).await;

    let users = app.get_json("/api/v1/users", &admin).await;
    let names: Vec<_> = users["items"].as_array().unwrap().iter().map(|u| u["username"].clone()).collect();
    assert_eq!(names, vec![json!("admin"), json!("rita")]);

    let changed = app.patch("/api/v1/users/rita", &admin, &json!({"role": "designer"})).await;
    assert_eq!(expect_json(changed, StatusCode::OK).await["role"], "designer");

    let disabled = app.patch("/api/v1/users/rita", &admin, &json!({"disabled": true})).await;
    assert_eq!(expect_json(disabled, StatusCode::OK).await["disabled"], true);
    assert_eq!(app.get("/api/v1/users/me", &responder).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("rita", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    // The last admin cannot lock everyone out.
    let demote = app.patch("/api/v1/users/admin", &admin, &json!({"role": "responder"})).await;
    expect_error(demote, StatusCode::CONFLICT).await;
    let bad_role = app.patch("/api/v1/users/rita", &admin, &json!({"role": "boss"})).await;
    let (code, body) = expect_error(bad_role, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    assert_eq!(body["error"]["field"], "role");
    let duplicate =
        app.post("/api/v1/users", &admin, &json!({"username": "RITA", "password": PASSWORD})).await;
    expect_error(duplicate, StatusCode::CONFLICT).await;
}

/// Base64url without padding, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// `token` with its payload replaced by `claims` and the original header and signature.
fn with_payload(token: &str, claims: &serde_json::Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], base64url(claims.to_string().as_bytes()), parts[2])
}

#[tokio::test]
async fn tampered_unsigned_and_orphaned_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let responder = app.user(&admin, "rita", "responder").await;
    let keys = i2i::auth::Keys::new(app.config.jwt_secret.as_ref().unwrap().as_bytes());
    let claims = keys.verify(&responder).expect("the app's own token verifies");
    let admin_id = keys.verify(&admin).unwrap().sub;
    let now = chrono::Utc::now().timestamp();
    let payload = |sub: i64, jti: &str| json!({"sub": sub, "jti": jti, "iat": now, "exp": now + 3600});
    let parts: Vec<&str> = responder.split('.').collect();
    let flipped = {
        let mut signature = parts[2].to_string();
        let last = if signature.ends_with('A') { "B" } else { "A" };
        signature.replace_range(signature.len() - 1.., last);
        format!("{}.{}.{signature}", parts[0], parts[1])
    };
    let sign = |sub: i64, jti: &str| {
        keys.sign(&i2i::auth::tokens::Claims { sub, jti: jti.into(), iat: now, nbf: None, exp: now + 3600 })
            .unwrap()
    };
    let cases = [
        // alg "none" with no signature, naming the responder's real session.
        ("alg none", format!("{}.{}.", base64url(br#"{"alg":"none","typ":"JWT"}"#), parts[1])),
        ("alg none, escalated", {
            let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
            format!("{header}.{}.", base64url(payload(admin_id, &claims.jti).to_string().as_bytes()))
        }),
        ("wrong signature", flipped),
        ("no signature", format!("{}.{}.", parts[0], parts[1])),
        // The responder's payload rewritten to name the admin, signature kept.
        ("escalated payload", with_payload(&responder, &payload(admin_id, &claims.jti))),
        (
            "extended expiry",
            with_payload(
                &responder,
                &json!({"sub": claims.sub, "jti": claims.jti, "iat": now, "exp": now + 10 * 365 * 86400}),
            ),
        ),
        // Properly signed, but naming a user that does not exist (with a real session of
        // someone else, and with no session at all) or the admin on the responder's session.
        ("unknown user, real session", sign(9_999, &claims.jti)),
        ("unknown user, no session", sign(9_999, "no-such-session")),
        ("admin on the responder's session", sign(admin_id, &claims.jti)),
        ("signed with another key", {
            i2i::auth::Keys::new(b"another-secret-of-enough-length")
                .sign(&i2i::auth::tokens::Claims {
                    sub: claims.sub,
                    jti: claims.jti.clone(),
                    iat: now,
                    nbf: None,
                    exp: now + 3600,
                })
                .unwrap()
        }),
        ("expired", {
            keys.sign(&i2i::auth::tokens::Claims {
                sub: claims.sub,
                jti: claims.jti.clone(),
                iat: now - 100,
                nbf: None,
                exp: now - 1,
            })
            .unwrap()
        }),
        // Properly signed for the responder's real session, but not valid yet: issued an
        // hour from now, or usable only from then (beyond the clock leeway between nodes).
        ("issued in the future", {
            keys.sign(&i2i::auth::tokens::Claims {
                sub: claims.sub,
                jti: claims.jti.clone(),
                iat: now + 3600,
                nbf: None,
                exp: now + 7200,
            })
            .unwrap()
        }),
        ("not valid before an hour from now", {
            keys.sign(&i2i::auth::tokens::Claims {
                sub: claims.sub,
                jti: claims.jti.clone(),
                iat: now,
                nbf: Some(now + 3600),
                exp: now + 7200,
            })
            .unwrap()
        }),
        ("garbage", "not.a.token".to_string()),
        ("empty", String::new()),
    ];
    for (what, token) in &cases {
        let response = app.get("/api/v1/users/me", token).await;
        let (code, _) = expect_error(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "unauthorized", "{what}");
        // The same token as a cookie on a page is no login either.
        let page = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/my"))
            .header("cookie", format!("i2i_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{what}");
        assert!(page.headers()["location"].to_str().unwrap().starts_with("/login"), "{what}");
    }
    // The genuine token still works, and still as the responder.
    assert_eq!(app.get_json("/api/v1/users/me", &responder).await["username"], "rita");
}

#[tokio::test]
async fn revoked_and_disabled_users_tokens_stop_working_everywhere() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let responder = app.user(&admin, "rita", "responder").await;
    let second = expect_json(app.login("rita", PASSWORD).await, StatusCode::OK).await;
    let second = second["token"].as_str().unwrap().to_string();
    let feed =
        expect_json(app.post("/api/v1/me/feed-token", &second, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().unwrap().to_string();
    app.create_post(&second, json!({"body": "note #db"})).await;
    let feed_path = format!("/feeds/tags/db.atom?token={feed}");
    assert_eq!(app.client.get(app.url(&feed_path)).send().await.unwrap().status(), StatusCode::OK);

    // Logout revokes that token for reading and for writing.
    let out = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&responder).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.post("/api/v1/posts", &responder, &json!({"body": "after logout"})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Disabling stops the other session, the feed token and new logins.
    let disabled = app.patch("/api/v1/users/rita", &admin, &json!({"disabled": true})).await;
    expect_json(disabled, StatusCode::OK).await;
    expect_error(app.get("/api/v1/timeline", &second).await, StatusCode::UNAUTHORIZED).await;
    expect_error(
        app.post("/api/v1/posts", &second, &json!({"body": "while disabled"})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(app.client.get(app.url(&feed_path)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    expect_error(app.login("rita", PASSWORD).await, StatusCode::UNAUTHORIZED).await;

    // Enabling again does not bring old sessions back.
    let enabled = app.patch("/api/v1/users/rita", &admin, &json!({"disabled": false})).await;
    expect_json(enabled, StatusCode::OK).await;
    expect_error(app.get("/api/v1/timeline", &second).await, StatusCode::UNAUTHORIZED).await;
    let timeline = app.get_json("/api/v1/timeline", &admin).await;
    assert_eq!(timeline["items"].as_array().unwrap().len(), 1, "the refused posts were not made: {timeline}");
}

/// The median of some durations.
fn median(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn unknown_users_wrong_passwords_and_imported_authors_look_alike_at_login() {
    let app = TestApp::spawn_with(|config| {
        config.login_per_minute = 0;
        config.login_failures_per_minute = 0;
    })
    .await;
    app.setup_admin().await;
    // An imported author: a user without a password.
    app.db()
        .write_blocking(|conn| {
            i2i::app::users::create_user(conn, "imported", None, i2i::domain::rules::Role::Responder, None)
        })
        .unwrap();
    let cases = [("nobody-at-all", "unknown user"), ("admin", "wrong password"), ("imported", "no password")];

    // Same status and body, on the API and on the form (whose page echoes the username).
    let mut api_bodies = Vec::new();
    let mut form_bodies = Vec::new();
    for (username, _) in cases {
        let (_, body) =
            expect_error(app.login(username, "wrong-password-9").await, StatusCode::UNAUTHORIZED).await;
        api_bodies.push(body);
        let form = app
            .client
            .post(app.url("/login"))
            .form(&[("username", username), ("password", "wrong-password-9"), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::UNAUTHORIZED);
        form_bodies.push(form.text().await.unwrap().replace(username, "USERNAME"));
    }
    assert!(api_bodies.windows(2).all(|w| w[0] == w[1]), "API answers differ: {api_bodies:?}");
    assert!(form_bodies.windows(2).all(|w| w[0] == w[1]), "login pages differ");

    // Comparable time: each case pays a password hash. Interleaved rounds, so load on
    // the machine hits every case alike; medians must be within a factor of 3.
    let mut timings = vec![Vec::new(); cases.len()];
    for _ in 0..9 {
        for (index, (username, _)) in cases.iter().enumerate() {
            let started = std::time::Instant::now();
            let response = app.login(username, "wrong-password-9").await;
            timings[index].push(started.elapsed());
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let medians: Vec<_> = timings.into_iter().map(median).collect();
    let slowest = *medians.iter().max().unwrap();
    for ((_, what), took) in cases.iter().zip(&medians) {
        assert!(
            took.as_secs_f64() * 3.0 >= slowest.as_secs_f64(),
            "{what} takes {took:?} against {slowest:?}: medians {medians:?}"
        );
    }
}
