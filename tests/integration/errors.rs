//! Bad input gets a clear 4xx in the one error shape, never a 500; health and the
//! OpenAPI document.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, TestApp};

#[tokio::test]
async fn malformed_unknown_oversize_and_mistyped_bodies_are_4xx() {
    let app = TestApp::spawn_with(|config| config.max_request_bytes = 4096).await;
    let admin = app.setup_admin().await;
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/posts"))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (code, _) =
        expect_error(send("{\"body\": ".into(), "application/json").await.unwrap(), StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(code, "malformed_json");
    let (code, body) = expect_error(
        send("{\"body\": \"x\", \"bdy\": 1}".into(), "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("bdy"));
    let wrong_type = send("{\"body\": 5}".into(), "application/json").await.unwrap();
    expect_error(wrong_type, StatusCode::UNPROCESSABLE_ENTITY).await;
    let big = json!({"body": "x".repeat(10_000)}).to_string();
    let (code, _) =
        expect_error(send(big, "application/json").await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(code, "payload_too_large");
    let (code, _) =
        expect_error(send("body=x".into(), "text/plain").await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "unsupported_media_type");
}

#[tokio::test]
async fn bad_ids_and_unknown_routes_are_json_4xx() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for path in
        ["/api/v1/posts/abc", "/api/v1/posts/-3", "/api/v1/posts/0", "/api/v1/posts/99999999999999999999"]
    {
        let (code, _) = expect_error(app.get(path, &admin).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "bad_id", "{path}");
    }
    expect_error(app.get("/api/v1/posts/12345", &admin).await, StatusCode::NOT_FOUND).await;
    let (code, _) = expect_error(app.get("/api/v1/nothing-here", &admin).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
    let (code, _) =
        expect_error(app.get("/api/v1/incidents?limit=5000", &admin).await, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    assert_eq!(code, "validation_failed");
    let (code, _) =
        expect_error(app.get("/api/v1/incidents?stat=open", &admin).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "bad_query");
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document() {
    let app = TestApp::spawn().await;
    let health = expect_json(app.client.get(app.url("/healthz")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
    // Ready once the indexer has caught up with the (empty) database, a moment after start.
    let ready = app.readyz_until(StatusCode::OK).await;
    assert_eq!(ready["status"], "ready");
    let doc =
        expect_json(app.client.get(app.url("/api/openapi.json")).send().await.unwrap(), StatusCode::OK).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/posts",
        "/api/v1/posts/{id}",
        "/api/v1/posts/{id}/thread",
        "/api/v1/posts/{id}/reactions",
        "/api/v1/timeline",
        "/api/v1/incidents",
        "/api/v1/incidents/{key}",
        "/api/v1/tags/{name}",
        "/api/v1/admin/audit",
        "/api/v1/insights",
        "/api/v1/insights/{id}",
        "/api/v1/insights/{id}/evidence",
        "/api/v1/insights/{id}/markdown",
        "/api/v1/insights.csv",
        "/api/v1/me/notifications",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("PostView").is_some());
    assert!(doc["components"]["schemas"].get("AuditPageView").is_some());
    assert!(doc["components"]["schemas"].get("InsightView").is_some());
}
