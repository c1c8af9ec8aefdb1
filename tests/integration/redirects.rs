//! Where the site sends a browser after a login or a posted form: only to its own pages,
//! whatever `next` or `back` holds (tabs, newlines, NULs, backslashes, other hosts).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{csrf_of, TestApp, ADMIN_PASSWORD};

/// Targets a browser would follow to another origin, or that cannot be a header value.
const HOSTILE: [&str; 7] = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "//evil.example",
    "/\\evil.example",
    "/.//evil.example",
    "https://evil.example/",
];

/// Local targets with characters that cannot stand in a header: a raw newline or NUL
/// once made the login answer 500 after its session was written.
const AWKWARD: [&str; 2] = ["/search?q=a\nb", "/search?q=a\0b"];

/// Whether `target` is a path on this site that a browser cannot read as another host.
fn is_local(target: &str) -> bool {
    target.starts_with('/') && !target.starts_with("//") && !target.contains('\\')
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|value| value.to_str().expect("an ASCII Location").to_string())
        .unwrap_or_default()
}

/// Posts the login form as the admin, asking to go to `next` afterwards.
async fn log_in_form(app: &TestApp, next: &str) -> reqwest::Response {
    app.client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", next)])
        .send()
        .await
        .expect("login form")
}

#[tokio::test]
async fn a_login_form_never_redirects_off_site_and_never_fails_on_next() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    for next in HOSTILE {
        let response = log_in_form(&app, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "next={next:?}");
        assert_eq!(location(&response), "/", "next={next:?}");
    }
    for next in AWKWARD {
        let response = log_in_form(&app, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "next={next:?}");
        assert!(location(&response).starts_with("/search?q=a"), "next={next:?}: {}", location(&response));
    }
    // A local target survives, query included.
    let response = log_in_form(&app, "/tags/sso?window=7d").await;
    assert_eq!(location(&response), "/tags/sso?window=7d");
}

#[tokio::test]
async fn the_login_page_of_a_signed_in_visitor_never_redirects_off_site() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.log_in_page("admin", ADMIN_PASSWORD).await;
    for next in ["/%09/evil.example", "/%0A/evil.example", "//evil.example", "/%00"] {
        let response =
            app.client.get(app.url(&format!("/login?next={next}"))).send().await.expect("login page");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "next={next:?}");
        let target = location(&response);
        assert!(target == "/" || target == "/%00", "next={next:?} went to {target:?}");
    }
}

#[tokio::test]
async fn a_compose_form_returns_only_to_a_page_of_this_site() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let csrf = csrf_of(&app, &token).await;
    for (round, back) in HOSTILE.iter().chain(AWKWARD.iter()).enumerate() {
        let response = app
            .client
            .post(app.url("/compose"))
            .bearer_auth(&token)
            .form(&[
                ("body", format!("note {round} #redirects").as_str()),
                ("_csrf", csrf.as_str()),
                ("back", back),
            ])
            .send()
            .await
            .expect("compose");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "back={back:?}");
        let target = location(&response);
        let expected_local = AWKWARD.contains(back) && is_local(&target) && target.starts_with("/search?q=a");
        assert!(target == "/" || expected_local, "back={back:?} went to {target:?}");
    }
    let timeline = app.get_json("/api/v1/timeline?limit=50", &token).await;
    assert_eq!(
        timeline["items"].as_array().map(Vec::len),
        Some(HOSTILE.len() + AWKWARD.len()),
        "{}",
        json!(timeline)
    );
}
