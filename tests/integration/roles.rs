//! The role matrix: every route of `src/http/mod.rs` × every role (anonymous, responder,
//! designer, analyst, admin) gets the outcome class the table below says, all mismatches
//! reported at once; a route missing from the table fails the test.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{declared_routes, expect_json, session_of, TestApp, ADMIN_PASSWORD, PASSWORD};

/// The roles, in the order of each row's expectation string.
const ROLES: [&str; 5] = ["anonymous", "responder", "designer", "analyst", "admin"];

/// Outcome classes, one letter per role:
/// `o` allowed (2xx, 3xx other than to the login page, or 404 for something missing),
/// `u` 401, `f` 403, `l` a redirect to `/login` (pages, for a visitor not logged in; also
/// where logging out and the finished setup lead, so those rows are `l` throughout).
///
/// Placeholders: `{role}` becomes the role's name (so creating rows do not collide),
/// `{csrf}` the session's form token, `{feed}` the user's feed token.
/// Body: `J…` sends JSON, `F…` a form, empty nothing.
/// Rows marked `fresh` run with a new session per role (logout ends it; the feed-token
/// rotation invalidates `{feed}`), so the rows after them keep working.
pub(crate) struct Row {
    pub(crate) method: &'static str,
    pub(crate) template: &'static str,
    pub(crate) path: &'static str,
    pub(crate) body: &'static str,
    pub(crate) expect: &'static str,
    pub(crate) fresh: bool,
}

const fn row(
    method: &'static str,
    template: &'static str,
    path: &'static str,
    body: &'static str,
    expect: &'static str,
) -> Row {
    Row { method, template, path, body, expect, fresh: false }
}

const fn fresh(
    method: &'static str,
    template: &'static str,
    path: &'static str,
    body: &'static str,
    expect: &'static str,
) -> Row {
    Row { method, template, path, body, expect, fresh: true }
}

/// Post 1 and incident INC-1 belong to the admin; post 2 is the admin's too, deleted by
/// its row; tag `db` exists.
#[rustfmt::skip]
pub(crate) const TABLE: &[Row] = &[
    row("GET", "/healthz", "/healthz", "", "ooooo"),
    row("GET", "/readyz", "/readyz", "", "ooooo"),
    row("GET", "/api/openapi.json", "/api/openapi.json", "", "ooooo"),
    row("POST", "/api/v1/setup", "/api/v1/setup", r#"J{"username":"late","password":"late-password"}"#, "fffff"),
    row("POST", "/api/v1/auth/login", "/api/v1/auth/login", r#"J{"username":"admin","password":"admin-password-1"}"#, "ooooo"),
    row("GET", "/api/v1/users/me", "/api/v1/users/me", "", "uoooo"),
    row("GET", "/api/v1/users", "/api/v1/users", "", "ufffo"),
    row("POST", "/api/v1/users", "/api/v1/users", r#"J{"username":"made-by-{role}","password":"user-password-1"}"#, "ufffo"),
    row("PATCH", "/api/v1/users/{username}", "/api/v1/users/rita", r#"J{"display_name":"Rita R"}"#, "ufffo"),
    row("GET", "/api/v1/admin/audit", "/api/v1/admin/audit", "", "ufffo"),
    row("POST", "/api/v1/posts", "/api/v1/posts", r#"J{"body":"a note by {role} #matrix"}"#, "uoooo"),
    row("GET", "/api/v1/posts/{id}", "/api/v1/posts/1", "", "uoooo"),
    row("PATCH", "/api/v1/posts/{id}", "/api/v1/posts/1", r#"J{"body":"edited by {role} #db"}"#, "ufffo"),
    row("DELETE", "/api/v1/posts/{id}", "/api/v1/posts/2", "", "ufffo"),
    row("GET", "/api/v1/posts/{id}/thread", "/api/v1/posts/1/thread", "", "uoooo"),
    row("POST", "/api/v1/posts/{id}/reactions", "/api/v1/posts/1/reactions", "", "uoooo"),
    row("DELETE", "/api/v1/posts/{id}/reactions", "/api/v1/posts/1/reactions", "", "uoooo"),
    row("GET", "/api/v1/posts/{id}/similar", "/api/v1/posts/1/similar", "", "uoooo"),
    row("GET", "/api/v1/timeline", "/api/v1/timeline", "", "uoooo"),
    row("GET", "/api/v1/search", "/api/v1/search?q=db", "", "uoooo"),
    row("GET", "/api/v1/search/export", "/api/v1/search/export?q=db", "", "uoooo"),
    row("POST", "/api/v1/incidents", "/api/v1/incidents", r#"J{"key":"INC-{role}"}"#, "uoooo"),
    row("GET", "/api/v1/incidents", "/api/v1/incidents", "", "uoooo"),
    row("GET", "/api/v1/incidents/{key}", "/api/v1/incidents/INC-1", "", "uoooo"),
    // Only the incident's responders (who posted on it) or an admin, as on the page.
    row("PATCH", "/api/v1/incidents/{key}", "/api/v1/incidents/INC-1", r#"J{"status":"monitoring"}"#, "ufffo"),
    row("GET", "/api/v1/tags", "/api/v1/tags?prefix=d", "", "uoooo"),
    row("GET", "/api/v1/tags/{name}", "/api/v1/tags/db", "", "uoooo"),
    row("PATCH", "/api/v1/tags/{name}", "/api/v1/tags/db", r#"J{"description":"databases, set by {role}"}"#, "ufooo"),
    // Insight 1 is the responder's (the first POST below); post 1 is the admin's.
    row("POST", "/api/v1/insights", "/api/v1/insights", r#"J{"title":"insight by {role}","tags":["db"]}"#, "uoooo"),
    row("GET", "/api/v1/insights", "/api/v1/insights", "", "uoooo"),
    row("GET", "/api/v1/insights.csv", "/api/v1/insights.csv", "", "uoooo"),
    row("GET", "/api/v1/insights/{id}", "/api/v1/insights/1", "", "uoooo"),
    row("PATCH", "/api/v1/insights/{id}", "/api/v1/insights/1", r#"J{"problem":"set by {role}"}"#, "ufooo"),
    // Responders pin only their own notes.
    row("POST", "/api/v1/insights/{id}/evidence", "/api/v1/insights/1/evidence", r#"J{"post":1}"#, "ufooo"),
    row("DELETE", "/api/v1/insights/{id}/evidence/{kind}/{reference}", "/api/v1/insights/1/evidence/posts/1", "", "ufooo"),
    row("POST", "/api/v1/insights/{id}/comments", "/api/v1/insights/1/comments", r#"J{"body":"comment by {role}"}"#, "uoooo"),
    row("GET", "/api/v1/insights/{id}/markdown", "/api/v1/insights/1/markdown", "", "uoooo"),
    row("GET", "/api/v1/me/notifications", "/api/v1/me/notifications", "", "uoooo"),
    row("POST", "/api/v1/tags/{name}/follow", "/api/v1/tags/db/follow", "", "uoooo"),
    row("DELETE", "/api/v1/tags/{name}/follow", "/api/v1/tags/db/follow", "", "uoooo"),
    row("GET", "/api/v1/me/tags", "/api/v1/me/tags", "", "uoooo"),
    row("GET", "/api/v1/stream", "/api/v1/stream", "", "uoooo"),
    row("GET", "/api/v1/tags/{name}/history", "/api/v1/tags/db/history", "", "uoooo"),
    row("GET", "/api/v1/tags/{name}/related", "/api/v1/tags/db/related", "", "uoooo"),
    row("GET", "/api/v1/tags/{name}/rhythm", "/api/v1/tags/db/rhythm", "", "uoooo"),
    row("GET", "/api/v1/tags/{name}/distinctive", "/api/v1/tags/db/distinctive", "", "uoooo"),
    row("GET", "/api/v1/incidents/{key}/distinctive", "/api/v1/incidents/INC-1/distinctive", "", "uoooo"),
    row("GET", "/api/v1/trends/tags", "/api/v1/trends/tags", "", "uoooo"),
    row("GET", "/api/v1/trends/recurring", "/api/v1/trends/recurring", "", "uoooo"),
    row("GET", "/api/v1/trends/pairs", "/api/v1/trends/pairs", "", "uoooo"),
    row("GET", "/", "/", "", "loooo"),
    row("GET", "/login", "/login", "", "ooooo"),
    row("POST", "/login", "/login", "Fusername=admin&password=admin-password-1&next=/", "ooooo"),
    // Setup is over: everyone is sent to the login page.
    row("GET", "/setup", "/setup", "", "lllll"),
    row("POST", "/setup", "/setup", "Fusername=late&password=late-password&password_again=late-password", "lllll"),
    row("POST", "/compose", "/compose", "Fbody=a+form+note+by+{role}&back=/&_csrf={csrf}", "loooo"),
    row("GET", "/posts/{id}", "/posts/1", "", "loooo"),
    row("POST", "/posts/{id}/react", "/posts/1/react", "Fon=1&_csrf={csrf}", "loooo"),
    row("GET", "/search", "/search?q=db", "", "loooo"),
    row("GET", "/trends", "/trends", "", "loooo"),
    row("GET", "/admin/users", "/admin/users", "", "lfffo"),
    row("POST", "/admin/users", "/admin/users", "Fusername=form-by-{role}&password=user-password-1&role=analyst&_csrf={csrf}", "lfffo"),
    row("GET", "/admin/audit", "/admin/audit", "", "lfffo"),
    row("GET", "/my", "/my", "", "loooo"),
    row("GET", "/digest", "/digest", "", "loooo"),
    row("GET", "/digest.md", "/digest.md", "", "loooo"),
    row("GET", "/digest.html", "/digest.html", "", "loooo"),
    row("POST", "/tags/{name}/follow", "/tags/db/follow", "Fon=1&_csrf={csrf}", "loooo"),
    row("POST", "/tags/{name}/curate", "/tags/db/curate", "Faction=describe&description=databases&_csrf={csrf}", "lfooo"),
    row("GET", "/insights", "/insights", "", "loooo"),
    row("POST", "/insights", "/insights", "Ftitle=page+insight+by+{role}&tags=db&_csrf={csrf}", "loooo"),
    row("GET", "/insights.csv", "/insights.csv", "", "loooo"),
    row("GET", "/insights/{id}", "/insights/1", "", "loooo"),
    row("POST", "/insights/{id}/update", "/insights/1/update", "Fproblem=from+the+page&_csrf={csrf}", "lfooo"),
    // The responder created insight 1, so may pin an incident to it.
    row("POST", "/insights/{id}/evidence", "/insights/1/evidence", "Faction=pin&incident=INC-1&_csrf={csrf}", "loooo"),
    row("POST", "/insights/{id}/comments", "/insights/1/comments", "Fbody=from+the+page&_csrf={csrf}", "loooo"),
    row("GET", "/insights/{id}/export.md", "/insights/1/export.md", "", "loooo"),
    row("POST", "/notifications/read", "/notifications/read", "F_csrf={csrf}", "loooo"),
    // Feed readers cannot log in: the feed token in the URL is the credential.
    row("GET", "/feeds/tags/{name}", "/feeds/tags/db.atom?token={feed}", "", "uoooo"),
    row("GET", "/feeds/incidents/{key}", "/feeds/incidents/INC-1.atom?token={feed}", "", "uoooo"),
    row("GET", "/feeds/search.atom", "/feeds/search.atom?q=db&token={feed}", "", "uoooo"),
    row("GET", "/fragments/posts/{id}", "/fragments/posts/1", "", "loooo"),
    row("GET", "/tags/{name}", "/tags/db", "", "loooo"),
    row("GET", "/incidents", "/incidents", "", "loooo"),
    row("GET", "/incidents/{key}", "/incidents/INC-1", "", "loooo"),
    row("POST", "/incidents/{key}/update", "/incidents/INC-1/update", "Fstatus=investigating&severity=&_csrf={csrf}", "lfffo"),
    row("GET", "/users/{username}", "/users/admin", "", "loooo"),
    row("GET", "/assets/{path:.*}", "/assets/i2i.css", "", "ooooo"),
    fresh("POST", "/api/v1/me/feed-token", "/api/v1/me/feed-token", "", "uoooo"),
    fresh("POST", "/my/feed-token", "/my/feed-token", "F_csrf={csrf}", "loooo"),
    fresh("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", "", "uoooo"),
    fresh("POST", "/logout", "/logout", "F_csrf={csrf}", "lllll"),
];

/// What one role brings to a request.
#[derive(Clone, Default)]
struct Credentials {
    token: Option<String>,
    csrf: String,
    feed: String,
}

/// The outcome class of a response (see the legend of [`TABLE`]).
pub(crate) fn class_of(response: &reqwest::Response) -> char {
    let status = response.status();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
    if status.is_redirection() && location.starts_with("/login") {
        'l'
    } else if status.is_success() || status.is_redirection() || status == StatusCode::NOT_FOUND {
        'o'
    } else if status == StatusCode::UNAUTHORIZED {
        'u'
    } else if status == StatusCode::FORBIDDEN {
        'f'
    } else {
        'x'
    }
}

async fn credentials(app: &TestApp, username: &str, password: &str) -> Credentials {
    let (token, csrf) = session_of(app, username, password).await;
    let feed = expect_json(app.post("/api/v1/me/feed-token", &token, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().expect("feed token").to_string();
    Credentials { token: Some(token), csrf, feed }
}

async fn send(app: &TestApp, row: &Row, role: &str, who: &Credentials) -> reqwest::Response {
    let fill =
        |text: &str| text.replace("{role}", role).replace("{csrf}", &who.csrf).replace("{feed}", &who.feed);
    let method = Method::from_bytes(row.method.as_bytes()).expect("method");
    // A fresh client: no cookie of an earlier login leaks into an anonymous request.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.request(method, app.url(&fill(row.path)));
    if let Some(token) = &who.token {
        request = request.bearer_auth(token);
    }
    request = match row.body.split_at_checked(1) {
        Some(("J", json)) => request.header("content-type", "application/json").body(fill(json)),
        Some(("F", form)) => {
            request.header("content-type", "application/x-www-form-urlencoded").body(fill(form))
        }
        _ => request,
    };
    // The stream never ends: its status and headers are all this needs.
    tokio::time::timeout(std::time::Duration::from_secs(30), request.send())
        .await
        .unwrap_or_else(|_| panic!("{} {} hung", row.method, row.path))
        .expect("request")
}

#[test]
fn the_table_lists_every_route_exactly_once() {
    let declared: BTreeSet<_> = declared_routes().into_iter().collect();
    let mut listed = BTreeSet::new();
    for row in TABLE {
        assert!(
            listed.insert((row.method.to_string(), row.template.to_string())),
            "listed twice: {} {}",
            row.method,
            row.template
        );
        assert_eq!(row.expect.len(), ROLES.len(), "{} {}", row.method, row.template);
    }
    let missing: Vec<_> = declared.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&declared).collect();
    assert!(missing.is_empty(), "routes in src/http/mod.rs missing from the role table: {missing:?}");
    assert!(unknown.is_empty(), "role table rows that are not routes: {unknown:?}");
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_table_says() {
    let app = TestApp::spawn_with(|config| {
        config.login_per_minute = 0;
        config.login_failures_per_minute = 0;
    })
    .await;
    let admin = app.setup_admin().await;
    for (name, role) in [("rita", "responder"), ("dana", "designer"), ("ann", "analyst")] {
        app.user(&admin, name, role).await;
    }
    app.create_post(&admin, json!({"body": "disk full on #db", "incident": "INC-1"})).await;
    app.create_post(&admin, json!({"body": "to be deleted #db"})).await;
    // Similar and search need the index to have the posts.
    app.search_until(&admin, "db", std::time::Duration::from_secs(30), |a| a["total"] == 2).await;

    let users = [None, Some("rita"), Some("dana"), Some("ann"), Some("admin")];
    let mut standing = Vec::new();
    for user in users {
        standing.push(match user {
            None => Credentials { feed: "none".into(), ..Default::default() },
            Some("admin") => credentials(&app, "admin", ADMIN_PASSWORD).await,
            Some(name) => credentials(&app, name, PASSWORD).await,
        });
    }

    let mut mismatches = Vec::new();
    let mut checked = 0;
    for row in TABLE {
        for (index, role) in ROLES.iter().enumerate() {
            let who = match (row.fresh, users[index]) {
                (true, Some("admin")) => credentials(&app, "admin", ADMIN_PASSWORD).await,
                (true, Some(name)) => credentials(&app, name, PASSWORD).await,
                _ => standing[index].clone(),
            };
            let response = send(&app, row, role, &who).await;
            let expected = row.expect.as_bytes()[index] as char;
            let actual = class_of(&response);
            checked += 1;
            if actual != expected {
                mismatches.push(format!(
                    "{} {} as {role}: expected {expected}, got {actual} ({})",
                    row.method,
                    row.path,
                    response.status()
                ));
            }
        }
    }
    assert_eq!(checked, TABLE.len() * ROLES.len());
    assert!(
        mismatches.is_empty(),
        "{} of {checked} checks differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
