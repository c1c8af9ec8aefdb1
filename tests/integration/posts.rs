//! Posts: creation with tags, mentions and incident links; edits, deletes, threads,
//! reactions and who may do what.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, TestApp};

fn tag_names(post: &Value) -> Vec<String> {
    post["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_post_carries_tags_mentions_and_the_incident_named_in_its_text() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.user(&admin, "bob", "responder").await;
    let post = app
        .create_post(
            &admin,
            json!({"body": "  Users locked out again after #Password-Reset on ward tablets #sso INC-7 cc @bob @ghost #SSO  "}),
        )
        .await;
    assert_eq!(
        post["body"],
        "Users locked out again after #Password-Reset on ward tablets #sso INC-7 cc @bob @ghost #SSO"
    );
    assert_eq!(tag_names(&post), vec!["password-reset", "sso"]);
    assert_eq!(post["tags"][0]["display"], "Password-Reset");
    assert_eq!(post["mentions"], json!(["bob"]), "only existing users are mentioned");
    assert_eq!(post["incident"], "INC-7");
    assert_eq!(post["author"], json!({"username": "admin", "display_name": "Ada Admin"}));
    for field in ["id", "reply_to", "created_at", "edited_at", "replies_count", "reactions_count"] {
        assert!(post.get(field).is_some(), "missing {field}");
    }
    let incident = app.get_json("/api/v1/incidents/INC-7", &admin).await;
    assert_eq!(incident["status"], "investigating");

    // An explicit incident wins over one written in the text.
    let explicit = app.create_post(&admin, json!({"body": "see INC-8", "incident": "INC-9"})).await;
    assert_eq!(explicit["incident"], "INC-9");
    let fetched = app.get_json(&format!("/api/v1/posts/{}", post["id"]), &admin).await;
    assert_eq!(fetched, post);
}

#[tokio::test]
async fn body_length_is_counted_in_characters_and_enforced() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let longest = "é".repeat(500);
    let post = app.create_post(&admin, json!({"body": longest})).await;
    assert_eq!(post["body"].as_str().unwrap().chars().count(), 500);

    let too_long = app.post("/api/v1/posts", &admin, &json!({"body": "é".repeat(501)})).await;
    let (code, body) = expect_error(too_long, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    assert_eq!(body["error"]["field"], "body");
    assert!(body["error"]["message"].as_str().unwrap().contains("longer than 500"));

    let blank = app.post("/api/v1/posts", &admin, &json!({"body": " \n\t "})).await;
    expect_error(blank, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad_incident =
        app.post("/api/v1/posts", &admin, &json!({"body": "x", "incident": "no spaces allowed"})).await;
    let (_, body) = expect_error(bad_incident, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"]["field"], "incident");
}

#[tokio::test]
async fn edits_keep_rules_and_retag_and_only_author_or_admin_may_edit() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let alice = app.user(&admin, "alice", "responder").await;
    let bob = app.user(&admin, "bob", "responder").await;
    let post = app.create_post(&alice, json!({"body": "first #dns"})).await;
    let path = format!("/api/v1/posts/{}", post["id"]);

    let edited =
        expect_json(app.patch(&path, &alice, &json!({"body": "second #tls"})).await, StatusCode::OK).await;
    assert_eq!(edited["body"], "second #tls");
    assert_eq!(tag_names(&edited), vec!["tls"]);
    assert!(edited["edited_at"].is_string());
    assert_eq!(edited["created_at"], post["created_at"]);
    let dns = app.get_json("/api/v1/timeline?tag=dns", &alice).await;
    assert_eq!(dns["items"].as_array().unwrap().len(), 0, "the old tag no longer lists the post");

    expect_error(app.patch(&path, &bob, &json!({"body": "hijack"})).await, StatusCode::FORBIDDEN).await;
    let by_admin =
        expect_json(app.patch(&path, &admin, &json!({"body": "third"})).await, StatusCode::OK).await;
    assert_eq!(by_admin["body"], "third");

    // Previous versions are kept.
    let versions = app.db().read_blocking(|conn| Ok(i2i::db::posts::versions(conn, 1)?)).unwrap();
    let bodies: Vec<&str> = versions.iter().map(|(body, _, _)| body.as_str()).collect();
    assert_eq!(bodies, vec!["first #dns", "second #tls"]);
}

#[tokio::test]
async fn deletes_are_soft_and_disappear_everywhere() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let alice = app.user(&admin, "alice", "responder").await;
    let bob = app.user(&admin, "bob", "responder").await;
    let root = app.create_post(&alice, json!({"body": "root #vpn"})).await;
    let reply = app.create_post(&bob, json!({"body": "reply #vpn", "reply_to": root["id"]})).await;
    let reply_path = format!("/api/v1/posts/{}", reply["id"]);

    expect_error(app.delete(&reply_path, &alice).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.delete(&reply_path, &bob).await.status(), StatusCode::NO_CONTENT);
    expect_error(app.get(&reply_path, &bob).await, StatusCode::NOT_FOUND).await;
    expect_error(app.delete(&reply_path, &bob).await, StatusCode::NOT_FOUND).await;

    let tag = app.get_json("/api/v1/tags/vpn", &alice).await;
    assert_eq!(tag["posts"], 1);
    let root_now = app.get_json(&format!("/api/v1/posts/{}", root["id"]), &alice).await;
    assert_eq!(root_now["replies_count"], 0);
    // The tombstone stays in the database and in the change feed.
    let kinds: Vec<String> = app
        .db()
        .read_blocking(|conn| {
            use diesel::prelude::*;
            use i2i::db::schema::post_changes::dsl::*;
            Ok(post_changes.order(seq.asc()).select(kind).load::<String>(conn)?)
        })
        .unwrap();
    assert_eq!(kinds, vec!["upsert", "upsert", "delete"]);
}

#[tokio::test]
async fn threads_fold_replies_and_replies_inherit_the_incident() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let root = app.create_post(&admin, json!({"body": "root", "incident": "INC-1"})).await;
    let reply = app.create_post(&admin, json!({"body": "reply", "reply_to": root["id"]})).await;
    let nested = app.create_post(&admin, json!({"body": "nested", "reply_to": reply["id"]})).await;
    assert_eq!(reply["incident"], "INC-1");
    assert_eq!(nested["reply_to"], reply["id"]);

    let thread = app.get_json(&format!("/api/v1/posts/{}/thread", nested["id"]), &admin).await;
    assert_eq!(thread["root"], root["id"]);
    let bodies: Vec<&str> =
        thread["items"].as_array().unwrap().iter().map(|p| p["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, vec!["root", "reply", "nested"]);
    assert_eq!(thread["items"][0]["replies_count"], 1);

    let missing_parent = app.post("/api/v1/posts", &admin, &json!({"body": "x", "reply_to": 999})).await;
    let (_, body) = expect_error(missing_parent, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"]["field"], "reply_to");
}

#[tokio::test]
async fn reactions_are_one_per_user_and_idempotent() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let bob = app.user(&admin, "bob", "responder").await;
    let post = app.create_post(&admin, json!({"body": "seen #this"})).await;
    let path = format!("/api/v1/posts/{}/reactions", post["id"]);

    let first = expect_json(app.post(&path, &bob, &json!({})).await, StatusCode::OK).await;
    let second = expect_json(app.post(&path, &bob, &json!({})).await, StatusCode::OK).await;
    assert_eq!(first["reactions_count"], 1);
    assert_eq!(second["reactions_count"], 1);
    assert_eq!(second["reacted"], true);
    let by_admin = expect_json(app.post(&path, &admin, &json!({})).await, StatusCode::OK).await;
    assert_eq!(by_admin["reactions_count"], 2);

    let removed = expect_json(app.delete(&path, &bob).await, StatusCode::OK).await;
    assert_eq!(removed["reactions_count"], 1);
    assert_eq!(removed["reacted"], false);
    let again = expect_json(app.delete(&path, &bob).await, StatusCode::OK).await;
    assert_eq!(again["reactions_count"], 1);
    expect_error(app.post("/api/v1/posts/4242/reactions", &bob, &json!({})).await, StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn the_created_post_is_exactly_what_reading_it_back_shows() {
    // The 201 body is built from what the write already knows (no read-back); it must not
    // drift from the stored post: tag order, display forms, mentions, the thread's incident.
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.user(&admin, "bob", "responder").await;
    let root =
        app.create_post(&admin, json!({"body": "#Zebra first #alpha @bob", "incident": "INC-4"})).await;
    let reply = app.create_post(&admin, json!({"body": "reply #beta", "reply_to": root["id"]})).await;
    assert_eq!(reply["incident"], "INC-4", "a reply joins its thread's incident");
    for created in [root, reply] {
        let stored = app.get_json(&format!("/api/v1/posts/{}", created["id"]), &admin).await;
        let mut stored_now = stored.clone();
        // Creating a reply bumps the root's reply count after its 201 was sent.
        stored_now["replies_count"] = created["replies_count"].clone();
        assert_eq!(created, stored_now);
    }
}
