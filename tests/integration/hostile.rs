//! Hostile input, table-driven: every API route that takes input gets malformed JSON, wrong
//! types, unknown fields, oversize and invalid UTF-8 bodies, control characters, 10k
//! hashtags, 10k-deep nesting, bad cursors and bad ids; each answer is a prompt 4xx in the
//! JSON error shape, never a 5xx or a hang. Page forms get 4xx too.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_of, declared_routes, expect_json, TestApp};

/// Largest body the app under test accepts.
const LIMIT: usize = 8192;

/// API routes with a JSON body, each with a body it would accept.
fn json_routes() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "POST",
            "/api/v1/setup",
            json!({"username": "late", "password": "late-password", "display_name": "Late"}),
        ),
        ("POST", "/api/v1/auth/login", json!({"username": "admin", "password": "admin-password-1"})),
        (
            "POST",
            "/api/v1/users",
            json!({"username": "newbie", "password": "user-password-1", "display_name": "N", "role": "analyst"}),
        ),
        (
            "PATCH",
            "/api/v1/users/rita",
            json!({"display_name": "Rita", "role": "designer", "disabled": false}),
        ),
        ("POST", "/api/v1/posts", json!({"body": "a note #db", "incident": "INC-1", "reply_to": 1})),
        ("PATCH", "/api/v1/posts/1", json!({"body": "edited #db"})),
        (
            "POST",
            "/api/v1/incidents",
            json!({"key": "INC-9", "title": "T", "severity": "sev2", "status": "investigating", "service": "s", "started_at": "2024-01-01T00:00:00Z"}),
        ),
        (
            "PATCH",
            "/api/v1/incidents/INC-1",
            json!({"title": "T", "severity": "sev1", "status": "monitoring", "service": "s"}),
        ),
    ]
}

/// Bodies no JSON route may accept, derived from its good body.
fn bad_bodies(good: &Value) -> Vec<(String, Vec<u8>)> {
    let mut bodies: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("truncated".into(), br#"{"body": "#.to_vec()),
        ("trailing garbage".into(), format!("{good} x").into_bytes()),
        ("array".into(), b"[]".to_vec()),
        ("string".into(), br#""hello""#.to_vec()),
        ("number".into(), b"42".to_vec()),
        ("null".into(), b"null".to_vec()),
        ("10k-deep array".into(), format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        (
            "10k-deep object".into(),
            format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes(),
        ),
        ("oversize".into(), json!({"body": "x".repeat(LIMIT * 4)}).to_string().into_bytes()),
        ("huge number".into(), br#"{"reply_to": 1e400, "body": 99999999999999999999999}"#.to_vec()),
    ];
    let fields = good.as_object().expect("an object").clone();
    let mut unknown = fields.clone();
    unknown.insert("is_admin".into(), json!(true));
    bodies.push(("unknown field".into(), Value::Object(unknown).to_string().into_bytes()));
    for (field, value) in &fields {
        for (what, wrong) in [
            ("number", json!(12345)),
            ("array", json!(["x"])),
            ("object", json!({"a": 1})),
            ("bool", json!(true)),
        ] {
            if value.is_number() == wrong.is_number()
                && value.is_boolean() == wrong.is_boolean()
                && what != "array"
                && what != "object"
            {
                continue;
            }
            let mut changed = fields.clone();
            changed.insert(field.clone(), wrong);
            bodies.push((format!("{field} as {what}"), Value::Object(changed).to_string().into_bytes()));
        }
    }
    // Invalid UTF-8 and control characters inside every string field.
    let mut controls = fields.clone();
    let mut invalid_utf8 = good.to_string().into_bytes();
    for (field, value) in fields.iter() {
        if let Some(text) = value.as_str() {
            controls.insert(field.clone(), json!(format!("{text}\u{0}\u{7}\u{1b}[31m")));
        }
    }
    if let Some(quote) = invalid_utf8.iter().rposition(|b| *b == b'"') {
        invalid_utf8.splice(quote..quote, [0xff, 0xfe, 0xc3]).for_each(drop);
    }
    bodies.push(("control characters".into(), Value::Object(controls).to_string().into_bytes()));
    bodies.push(("invalid UTF-8".into(), invalid_utf8));
    bodies.push(("wrong content type".into(), b"body=hello".to_vec()));
    bodies
}

/// The hostile values for ids in paths and for cursors and limits in queries.
fn bad_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "-1",
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "99999999999999999999",
        "1e3",
        "0x10",
        "abc",
        "1.5",
        "%20",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "%00",
        "a%00b",
        "%FF%FE",
        "%C3%28",
        "%E2%80%AE",
        "%0d%0aX-Injected:%201",
        "%3Cscript%3E",
        "null",
        "[]",
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();
    values.push("9".repeat(5_000));
    values
}

/// Every GET route of `src/http/mod.rs` (its template, as [`declared_routes`] spells it), a
/// path to it that answers 2xx in [`hostile_app`] (`{feed}` is the admin's feed token), the
/// query parameters whose values are checked (a bad value is a 4xx) and the free-text ones
/// (any value is fine, but never a 5xx). Any other parameter is refused with a 4xx, so a
/// typo or a parameter meant for another route is reported instead of silently ignored.
const GET_ROUTES: &[(&str, &str, &[&str], &[&str])] = &[
    ("/api/v1/users/me", "/api/v1/users/me", &[], &[]),
    ("/api/v1/users", "/api/v1/users", &[], &[]),
    ("/api/v1/admin/audit", "/api/v1/admin/audit", &["before", "limit"], &["action"]),
    ("/api/v1/posts/{id}", "/api/v1/posts/1", &[], &[]),
    ("/api/v1/posts/{id}/thread", "/api/v1/posts/1/thread", &[], &[]),
    ("/api/v1/posts/{id}/similar", "/api/v1/posts/1/similar", &[], &[]),
    (
        "/api/v1/timeline",
        "/api/v1/timeline",
        &["before", "limit", "tags_mode"],
        &["tag", "not_tag", "incident", "author"],
    ),
    ("/api/v1/search", "/api/v1/search", &["cursor", "limit", "sort", "facets"], &["q"]),
    ("/api/v1/search/export", "/api/v1/search/export", &["format", "sort"], &["q"]),
    ("/api/v1/incidents", "/api/v1/incidents", &["status", "limit"], &["service"]),
    ("/api/v1/incidents/{key}", "/api/v1/incidents/INC-1", &[], &[]),
    ("/api/v1/tags", "/api/v1/tags", &["limit"], &["prefix", "with", "incident"]),
    ("/api/v1/tags/{name}", "/api/v1/tags/db", &[], &[]),
    ("/api/v1/me/tags", "/api/v1/me/tags", &[], &[]),
    ("/api/v1/stream", "/api/v1/stream", &[], &["tag", "incident"]),
    ("/api/v1/tags/{name}/history", "/api/v1/tags/db/history", &["interval", "from", "to"], &[]),
    ("/api/v1/tags/{name}/related", "/api/v1/tags/db/related", &["window", "limit", "at", "min"], &[]),
    ("/api/v1/tags/{name}/rhythm", "/api/v1/tags/db/rhythm", &["window", "at"], &[]),
    ("/api/v1/tags/{name}/distinctive", "/api/v1/tags/db/distinctive", &[], &[]),
    ("/api/v1/incidents/{key}/distinctive", "/api/v1/incidents/INC-1/distinctive", &[], &[]),
    ("/api/v1/trends/tags", "/api/v1/trends/tags", &["window", "limit", "at"], &[]),
    ("/api/v1/trends/recurring", "/api/v1/trends/recurring", &["window", "limit", "at"], &[]),
    ("/api/v1/trends/pairs", "/api/v1/trends/pairs", &["window", "limit", "at", "min"], &[]),
    ("/api/v1/insights", "/api/v1/insights", &["status"], &[]),
    ("/api/v1/insights.csv", "/api/v1/insights.csv", &[], &[]),
    ("/api/v1/insights/{id}", "/api/v1/insights/1", &[], &[]),
    ("/api/v1/insights/{id}/markdown", "/api/v1/insights/1/markdown", &[], &[]),
    ("/api/v1/me/notifications", "/api/v1/me/notifications", &["mark_read"], &[]),
    ("/", "/", &["before"], &[]),
    ("/login", "/login", &[], &["next"]),
    ("/setup", "/setup", &[], &[]),
    ("/posts/{id}", "/posts/1", &[], &[]),
    ("/search", "/search", &["sort", "cursor"], &["q"]),
    ("/trends", "/trends", &["window", "at"], &[]),
    ("/admin/users", "/admin/users", &[], &[]),
    ("/admin/audit", "/admin/audit", &["before"], &["action"]),
    ("/my", "/my", &["before"], &[]),
    ("/digest", "/digest", &[], &[]),
    ("/digest.md", "/digest.md", &[], &[]),
    ("/digest.html", "/digest.html", &[], &[]),
    ("/feeds/tags/{name}", "/feeds/tags/db.atom?token={feed}", &["token"], &[]),
    ("/feeds/incidents/{key}", "/feeds/incidents/INC-1.atom?token={feed}", &["token"], &[]),
    ("/feeds/search.atom", "/feeds/search.atom?token={feed}", &["token"], &["q"]),
    ("/fragments/posts/{id}", "/fragments/posts/1", &[], &[]),
    ("/tags/{name}", "/tags/db", &["before", "interval"], &[]),
    ("/incidents", "/incidents", &[], &[]),
    ("/incidents/{key}", "/incidents/INC-1", &["after"], &[]),
    ("/users/{username}", "/users/admin", &["before"], &[]),
    ("/insights", "/insights", &[], &[]),
    ("/insights.csv", "/insights.csv", &[], &[]),
    ("/insights/{id}", "/insights/1", &[], &[]),
    ("/insights/{id}/export.md", "/insights/1/export.md", &[], &[]),
];

/// GET routes left out of [`GET_ROUTES`]: probes and static files, which take no parameters
/// and answer the same whatever a load balancer or a cache buster appends.
const UNCHECKED_GET_ROUTES: &[&str] = &["/healthz", "/readyz", "/api/openapi.json", "/assets/{path:.*}"];

/// Routes with an id or key in the path; `{}` is replaced by a hostile value.
const PATH_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/posts/{}"),
    ("PATCH", "/api/v1/posts/{}"),
    ("DELETE", "/api/v1/posts/{}"),
    ("GET", "/api/v1/posts/{}/thread"),
    ("POST", "/api/v1/posts/{}/reactions"),
    ("DELETE", "/api/v1/posts/{}/reactions"),
    ("GET", "/api/v1/posts/{}/similar"),
    ("GET", "/api/v1/incidents/{}"),
    ("PATCH", "/api/v1/incidents/{}"),
    ("GET", "/api/v1/incidents/{}/distinctive"),
    ("PATCH", "/api/v1/users/{}"),
    ("GET", "/api/v1/tags/{}"),
    ("POST", "/api/v1/tags/{}/follow"),
    ("DELETE", "/api/v1/tags/{}/follow"),
    ("GET", "/api/v1/tags/{}/history"),
    ("GET", "/api/v1/tags/{}/related"),
    ("GET", "/api/v1/tags/{}/rhythm"),
    ("GET", "/api/v1/tags/{}/distinctive"),
];

/// Sends with a deadline: a hang is a failure of its own.
async fn within(what: &str, request: RequestBuilder) -> Response {
    tokio::time::timeout(Duration::from_secs(30), request.send())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 30 s"))
        .unwrap_or_else(|err| panic!("{what}: {err}"))
}

/// `None` if `response` is a 4xx in the JSON error shape, else what is wrong with it.
async fn json_4xx_problem(response: Response) -> Option<String> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let shaped = serde_json::from_str::<Value>(&text)
        .is_ok_and(|body| body["error"]["code"].is_string() && body["error"]["message"].is_string());
    if status.is_client_error() && shaped {
        return None;
    }
    Some(format!("{status} {}", text.chars().take(200).collect::<String>()))
}

/// `None` if `response` refuses a request to `path`: a 4xx in the JSON error shape from the
/// API and the feeds, an HTML error page with a 4xx from the other pages.
async fn refusal_problem(path: &str, response: Response) -> Option<String> {
    if path.starts_with("/api/") || path.starts_with("/feeds/") {
        return json_4xx_problem(response).await;
    }
    let status = response.status();
    let html = response.headers().get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if status.is_client_error() && html {
        return None;
    }
    let text = response.text().await.unwrap_or_default();
    Some(format!("{status} {}", text.chars().take(200).collect::<String>()))
}

async fn hostile_app() -> (TestApp, String) {
    let app = TestApp::spawn_with(|config| {
        config.max_request_bytes = LIMIT;
        config.login_per_minute = 0;
        config.login_failures_per_minute = 0;
        config.posts_per_minute = 0;
    })
    .await;
    let admin = app.setup_admin().await;
    app.user(&admin, "rita", "responder").await;
    app.create_post(&admin, json!({"body": "disk full #db", "incident": "INC-1"})).await;
    (app, admin)
}

/// [`hostile_app`] with what every path of [`GET_ROUTES`] needs: an insight and the
/// admin's feed token (returned third).
async fn get_routes_app() -> (TestApp, String, String) {
    let (app, admin) = hostile_app().await;
    let insight = json!({"title": "disks fill up", "tags": ["db"], "posts": [1]});
    expect_json(app.post("/api/v1/insights", &admin, &insight).await, StatusCode::CREATED).await;
    let feed = expect_json(app.post("/api/v1/me/feed-token", &admin, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().expect("a feed token").to_string();
    // `/similar` answers 503 until the post is indexed.
    app.search_until(&admin, "disk", Duration::from_secs(30), |a| a["total"] == 1).await;
    (app, admin, feed)
}

#[tokio::test]
async fn every_get_route_is_in_the_hostile_table() {
    let declared: BTreeSet<String> =
        declared_routes().into_iter().filter(|(method, _)| method == "GET").map(|(_, path)| path).collect();
    let listed: BTreeSet<String> = GET_ROUTES
        .iter()
        .map(|(template, ..)| template.to_string())
        .chain(UNCHECKED_GET_ROUTES.iter().map(|t| t.to_string()))
        .collect();
    assert_eq!(declared, listed, "GET_ROUTES must list every GET route of src/http/mod.rs");
}

/// A parameter a route does not take (a typo, or one meant for another route such as
/// `window=` on `/distinctive`) is refused, on every route; each path answers 2xx without it.
#[tokio::test]
async fn api_routes_refuse_parameters_they_do_not_take_and_pages_ignore_them() {
    let (app, admin, feed) = get_routes_app().await;
    let mut problems = Vec::new();
    for (_, base, strict, _) in GET_ROUTES {
        let base = base.replace("{feed}", &feed);
        let plain = within(&base, app.client.get(app.url(&base)).bearer_auth(&admin)).await;
        if !(plain.status().is_success() || plain.status().is_redirection()) {
            problems.push(format!("GET {base} without parameters: {}", plain.status()));
            continue;
        }
        let join = if base.contains('?') { '&' } else { '?' };
        // The trend routes' parameters on every route, and one nobody takes.
        for (param, value) in
            [("window", "abc"), ("at", "garbage"), ("limit", "abc"), ("min", "abc"), ("bogus", "1")]
        {
            if strict.contains(&param) {
                continue;
            }
            let path = format!("{base}{join}{param}={value}");
            let response = within(&path, app.client.get(app.url(&path)).bearer_auth(&admin)).await;
            // `/insights.csv` is the API's download, served at a page address too.
            if base.starts_with("/api/") || base.starts_with("/insights.csv") {
                if let Some(problem) = refusal_problem(&base, response).await {
                    problems.push(format!("GET {path}: {problem}"));
                }
            } else if !(response.status().is_success() || response.status().is_redirection()) {
                // Pages ignore parameters they do not take (links carry `utm_source` and the
                // like); a bad value of one they take is refused by the hostile-values test.
                problems.push(format!(
                    "GET {path}: a page refused a parameter it does not take: {}",
                    response.status()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{} requests misanswered:\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test]
async fn hostile_json_bodies_get_a_json_4xx() {
    let (app, admin) = hostile_app().await;
    let mut problems = Vec::new();
    let mut tried = 0;
    for (method, path, good) in json_routes() {
        for (what, body) in bad_bodies(&good) {
            let content_type = if what == "wrong content type" { "text/plain" } else { "application/json" };
            let request = app
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
                .bearer_auth(&admin)
                .header("content-type", content_type)
                .body(body);
            tried += 1;
            if let Some(problem) =
                json_4xx_problem(within(&format!("{method} {path} {what}"), request).await).await
            {
                problems.push(format!("{method} {path} with {what}: {problem}"));
            }
        }
    }
    // 10k hashtags in a post: refused as too long, in the error shape.
    let tags: String = (0..10_000).map(|i| format!("#t{i} ")).collect();
    let many = app.client.post(app.url("/api/v1/posts")).bearer_auth(&admin).json(&json!({"body": tags}));
    tried += 1;
    if let Some(problem) = json_4xx_problem(within("10k hashtags", many).await).await {
        problems.push(format!("POST /api/v1/posts with 10k hashtags: {problem}"));
    }
    eprintln!("{tried} hostile bodies tried");
    assert!(tried > 150, "only {tried} bodies");
    assert!(
        problems.is_empty(),
        "{} of {tried} hostile bodies misanswered:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Nothing got through: still one post, and no user was made.
    let timeline = app.get_json("/api/v1/timeline", &admin).await;
    assert_eq!(timeline["items"].as_array().unwrap().len(), 1, "{timeline}");
    assert_eq!(app.get_json("/api/v1/users", &admin).await["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn hostile_ids_cursors_and_query_values_never_get_a_5xx() {
    let (app, admin, feed) = get_routes_app().await;
    let mut problems = Vec::new();
    let mut tried = 0;
    for value in bad_values() {
        for (method, template) in PATH_ROUTES {
            let path = template.replace("{}", &value);
            let request = app
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
                .bearer_auth(&admin)
                .json(&json!({"body": "x", "status": "resolved"}));
            tried += 1;
            if let Some(problem) = json_4xx_problem(within(&path, request).await).await {
                problems.push(format!("{method} {path}: {problem}"));
            }
        }
        for (_, base, strict, free) in GET_ROUTES {
            let base = base.replace("{feed}", &feed);
            let join = if base.contains('?') { '&' } else { '?' };
            for param in *strict {
                let path = format!("{base}{join}{param}={value}");
                tried += 1;
                let response = within(&path, app.client.get(app.url(&path)).bearer_auth(&admin)).await;
                // A blank value is no value; `0` and the largest id are fine cursors (and
                // `0` a fine "no facets"); every value here is a bad limit.
                let acceptable_cursor = value == "%20"
                    || (matches!(*param, "before" | "after" | "from" | "to" | "at" | "cursor" | "facets")
                        && matches!(value.as_str(), "0" | "9223372036854775807"));
                if acceptable_cursor && response.status().is_success() {
                    continue;
                }
                if let Some(problem) = refusal_problem(&base, response).await {
                    problems.push(format!("GET {path}: {problem}"));
                }
            }
            for param in *free {
                let path = format!("{base}{join}{param}={value}");
                tried += 1;
                let response = within(&path, app.client.get(app.url(&path)).bearer_auth(&admin)).await;
                // `/login` sends a visitor who is logged in on to `next` (or `/`).
                if response.status().is_success() || response.status().is_redirection() {
                    continue;
                }
                if let Some(problem) = refusal_problem(&base, response).await {
                    problems.push(format!("GET {path}: {problem}"));
                }
            }
        }
    }
    eprintln!("{tried} hostile ids and query values tried");
    assert!(
        problems.is_empty(),
        "{} of {tried} hostile requests misanswered:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The one post is still there, unchanged.
    let post = app.get_json("/api/v1/posts/1", &admin).await;
    assert_eq!(post["body"], "disk full #db");
}

#[tokio::test]
async fn hostile_page_forms_get_a_4xx_not_a_500() {
    let (app, admin) = hostile_app().await;
    let csrf = csrf_of(&app, &admin).await;
    let forms = [
        "/login",
        "/setup",
        "/compose",
        "/posts/1/react",
        "/admin/users",
        "/my/feed-token",
        "/tags/db/follow",
        "/incidents/INC-1/update",
        "/logout",
    ];
    // Bodies that carry no valid form token, for every form.
    let form = "application/x-www-form-urlencoded";
    let broken: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), form),
        ("missing fields", b"unrelated=1".to_vec(), form),
        (
            "invalid UTF-8",
            b"_csrf=%FF%FE&username=%FF&password=%FF&body=%FF&on=%FF&status=%FF&severity=&role=%FF".to_vec(),
            form,
        ),
        ("raw invalid UTF-8", [b"body=".as_slice(), &[0xff, 0xfe], b"&_csrf=x"].concat(), form),
        ("oversize", format!("_csrf={csrf}&body={}", "x".repeat(LIMIT * 4)).into_bytes(), form),
        ("JSON", json!({"_csrf": csrf, "body": "x"}).to_string().into_bytes(), "application/json"),
        ("duplicate fields", format!("_csrf={csrf}&_csrf=other&on=1&on=0").into_bytes(), form),
    ];
    // Well-formed bodies with the real form token but hostile values, for the forms whose
    // other fields are checked (the rest would rightly act on them).
    let valued = format!(
        "_csrf={csrf}&username=a%00b&password=p%00assword-1&next=/&body=%00%07%1b&incident=%00&status=%00&severity=%00&role=%00"
    );
    let mut cases: Vec<(&str, &str, Vec<u8>, &str)> = Vec::new();
    for path in forms {
        for (what, body, content_type) in &broken {
            cases.push((path, *what, body.clone(), *content_type));
        }
    }
    for path in ["/login", "/compose", "/admin/users", "/incidents/INC-1/update"] {
        cases.push((path, "NUL and control characters", valued.clone().into_bytes(), form));
    }
    let mut problems = Vec::new();
    let mut tried = 0;
    for (path, what, body, content_type) in cases {
        let request = app
            .client
            .post(app.url(path))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body);
        let response = within(&format!("{path} {what}"), request).await;
        tried += 1;
        if !response.status().is_client_error() {
            problems.push(format!("POST {path} with {what}: {}", response.status()));
        }
    }
    eprintln!("{tried} hostile form posts tried");
    assert!(
        problems.is_empty(),
        "{} of {tried} form posts misanswered:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The session survived every /logout attempt and nothing was posted.
    let timeline = expect_json(app.get("/api/v1/timeline", &admin).await, StatusCode::OK).await;
    assert_eq!(timeline["items"].as_array().unwrap().len(), 1, "{timeline}");
}
