//! Hostile input, table-driven: every API route that takes input gets malformed JSON, wrong
//! types, unknown fields, oversize and invalid UTF-8 bodies, control characters, 10k
//! hashtags, 10k-deep nesting, bad cursors and bad ids; each answer is a prompt 4xx in the
//! JSON error shape, never a 5xx or a hang. Page forms get 4xx too.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_of, expect_json, TestApp};

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

/// GET routes and the query parameters that must be well-formed (a bad value is a 4xx).
const STRICT_QUERIES: &[(&str, &[&str])] = &[
    ("/api/v1/timeline", &["before", "limit", "tags_mode"]),
    ("/api/v1/search", &["cursor", "limit", "sort", "facets"]),
    // Export has no page: it ignores `limit` (as the trend lists ignore `min`).
    ("/api/v1/search/export", &["format"]),
    ("/api/v1/incidents", &["status", "limit"]),
    ("/api/v1/tags", &["limit"]),
    ("/api/v1/admin/audit", &["before", "limit"]),
    ("/api/v1/tags/db/history", &["interval", "from", "to"]),
    ("/api/v1/tags/db/related", &["window", "limit", "at"]),
    ("/api/v1/tags/db/rhythm", &["window", "at"]),
    ("/api/v1/trends/tags", &["window", "limit", "at"]),
    ("/api/v1/trends/recurring", &["window", "limit", "at"]),
    ("/api/v1/trends/pairs", &["window", "limit", "at", "min"]),
];

/// GET routes and free-text parameters: any value is fine, but never a 5xx.
const FREE_QUERIES: &[(&str, &[&str])] = &[
    ("/api/v1/timeline", &["tag", "not_tag", "incident", "author"]),
    ("/api/v1/search", &["q"]),
    ("/api/v1/search/export", &["q"]),
    ("/api/v1/incidents", &["service"]),
    ("/api/v1/tags", &["prefix", "with", "incident"]),
    ("/api/v1/admin/audit", &["action"]),
];

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

async fn not_5xx_problem(response: Response) -> Option<String> {
    let status = response.status();
    if status.is_success() {
        return None;
    }
    json_4xx_problem(response).await
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
    let (app, admin) = hostile_app().await;
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
        for (route, params) in STRICT_QUERIES {
            for param in *params {
                let path = format!("{route}?{param}={value}");
                tried += 1;
                let response = within(&path, app.client.get(app.url(&path)).bearer_auth(&admin)).await;
                // A blank value is no value; `0` and the largest id are fine cursors (and
                // `0` a fine "no facets"); every value here is a bad limit.
                let acceptable_cursor = value == "%20"
                    || (matches!(*param, "before" | "from" | "to" | "at" | "cursor" | "facets")
                        && matches!(value.as_str(), "0" | "9223372036854775807"));
                if acceptable_cursor && response.status().is_success() {
                    continue;
                }
                if let Some(problem) = json_4xx_problem(response).await {
                    problems.push(format!("GET {path}: {problem}"));
                }
            }
        }
        for (route, params) in FREE_QUERIES {
            for param in *params {
                let path = format!("{route}?{param}={value}");
                tried += 1;
                if let Some(problem) =
                    not_5xx_problem(within(&path, app.client.get(app.url(&path)).bearer_auth(&admin)).await)
                        .await
                {
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
