//! The OpenAPI document against the route table: one operation per API route, each with an
//! operation id of its own (client generators name their functions after them).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;

use crate::helpers::{declared_routes, expect_json, TestApp};

/// The API part of the route table: `/api/...` and the probes, but not the document itself.
fn api_routes() -> BTreeSet<(String, String)> {
    declared_routes()
        .into_iter()
        .filter(|(_, path)| {
            (path.starts_with("/api/") || path == "/healthz" || path == "/readyz")
                && path != "/api/openapi.json"
        })
        .collect()
}

#[tokio::test]
async fn the_openapi_document_has_one_uniquely_named_operation_per_api_route() {
    let app = TestApp::spawn().await;
    let doc =
        expect_json(app.client.get(app.url("/api/openapi.json")).send().await.unwrap(), StatusCode::OK).await;
    // `.ci/run` hands the document to a real OpenAPI validator through this file.
    if let Ok(out) = std::env::var("I2I_OPENAPI_OUT") {
        std::fs::write(out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }

    let mut documented = BTreeSet::new();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "options", "head", "patch", "trace"]
                .contains(&method.as_str())
            {
                continue; // "parameters", "summary": not operations
            }
            // Both sides spell a parameter `{name}` (actix and OpenAPI alike).
            documented.insert((method.to_uppercase(), path.clone()));
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            ids.entry(id.to_string()).or_default().push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let repeated: Vec<_> = ids.iter().filter(|(_, ops)| ops.len() > 1).collect();
    assert!(repeated.is_empty(), "operation ids used more than once: {repeated:?}");

    let routes = api_routes();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from the document: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}
