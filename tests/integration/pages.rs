//! The web pages as a browser without JavaScript uses them: first-run setup, login,
//! posting through the form, and the timeline, tag and incident pages.

use reqwest::{Response, StatusCode};

use crate::helpers::{TestApp, ADMIN_PASSWORD};

async fn html(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK, "{}", response.url());
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    response.text().await.unwrap()
}

fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"_csrf\" value=\"").expect("csrf field") + "name=\"_csrf\" value=\"".len();
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

async fn page(app: &TestApp, path: &str) -> String {
    html(app.client.get(app.url(path)).send().await.unwrap()).await
}

#[tokio::test]
async fn a_newcomer_sets_up_the_admin_posts_and_sees_the_note_everywhere() {
    let app = TestApp::spawn().await;
    let first = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()["location"], "/setup");
    assert!(page(&app, "/setup").await.contains("Create administrator"));

    let setup = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("username", "ada"),
            ("display_name", "Ada"),
            ("password", ADMIN_PASSWORD),
            ("password_again", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), StatusCode::SEE_OTHER);
    let cookie = setup.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let home = page(&app, "/").await;
    assert!(home.contains("What did you learn about users?"));

    let body = "Users locked out again after #password-reset on ward tablets #sso INC-7";
    let posted = app
        .client
        .post(app.url("/compose"))
        .form(&[("body", body), ("incident", ""), ("back", "/"), ("_csrf", &csrf_of(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let linked = r#"Users locked out again after <a class="tag" href="/tags/password-reset">#password-reset</a> on ward tablets <a class="tag" href="/tags/sso">#sso</a> <a class="incident" href="/incidents/INC-7">INC-7</a>"#;
    for path in ["/", "/tags/password-reset", "/tags/sso", "/incidents/INC-7", "/posts/1", "/users/ada"] {
        assert!(page(&app, path).await.contains(linked), "{path} does not show the note");
    }
    // Setup is gone once an account exists.
    let again = app.client.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(again.headers()["location"], "/login");
}

#[tokio::test]
async fn pages_escape_user_text_require_csrf_and_send_security_headers() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    app.create_post(&token, serde_json::json!({"body": "<script>alert('x')</script> & \"quotes\" #xss"}))
        .await;
    let login = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "/tags/xss")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.headers()["location"], "/tags/xss");
    let response = app.client.get(app.url("/tags/xss")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let tag_page = html(response).await;
    assert!(
        tag_page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;"),
        "{tag_page}"
    );
    assert!(!tag_page.contains("<script>alert"));

    let forged = app
        .client
        .post(app.url("/compose"))
        .form(&[("body", "forged"), ("back", "/"), ("_csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await.unwrap().contains("reload the page"));
}

#[tokio::test]
async fn visitors_are_sent_to_login_and_errors_are_html_pages() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let protected = app.client.get(app.url("/incidents/INC-1")).send().await.unwrap();
    assert_eq!(protected.status(), StatusCode::SEE_OTHER);
    assert_eq!(protected.headers()["location"], "/login?next=%2Fincidents%2FINC-1");

    let wrong = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", "nope-nope"), ("next", "//evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("wrong username or password"));
    let right = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "//evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.headers()["location"], "/", "only local paths are followed");

    let missing = app.client.get(app.url("/posts/777")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(missing.text().await.unwrap().contains("post 777 not found"));
    let css = app.client.get(app.url("/assets/i2i.css")).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
}

#[tokio::test]
async fn a_rejected_note_comes_back_in_the_form_with_the_reason() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    let home = page(&app, "/").await;
    let long = format!("{} #too-long", "word ".repeat(100));
    let rejected = app
        .client
        .post(app.url("/compose"))
        .form(&[("body", long.as_str()), ("incident", "INC-5"), ("back", "/"), ("_csrf", &csrf_of(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let form = rejected.text().await.unwrap();
    assert!(form.contains("body is longer than 500 characters"), "{form}");
    assert!(form.contains(&format!(">{long}</textarea>")), "the text typed is kept");
    assert!(form.contains(r#"value="INC-5""#), "the incident typed is kept");
    assert!(!page(&app, "/").await.contains("too-long"), "nothing was posted");
}
