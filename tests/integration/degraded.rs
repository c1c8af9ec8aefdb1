//! A search index that cannot be written must not stop posting: posts still succeed, `/readyz`
//! says the index is degraded, and once the directory is back the index catches up.
//!
//! The fault is real, not injected: the index directory and a plain file swap places (in one
//! step), so every write below it fails with "not a directory". `chmod 0500` would be the
//! obvious fault, but the tests run as root, which ignores permission bits.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{hit_ids, TestApp};

/// Generous for a loaded 2-core machine; the loops return as soon as the condition holds.
const WITHIN: Duration = Duration::from_secs(60);

/// Exchanges two paths in one step. Removing one and renaming the other left a moment
/// without an index path, in which the retrying indexer (which creates a missing index
/// directory) could start a fresh index under the one being put back.
///
/// The test failed twice with the index seemingly never catching up (`[1]` found of six).
/// The cause was not this race but the remembered answers: the reopened generation's new
/// reader restarted its searcher ids, and once it had reloaded as often as the old reader it
/// was handed the old reader's answer to `#degraded` (fixed by keying answers by install,
/// `search::tests::a_reopened_generation_never_shares_a_stamp_with_its_earlier_opening`).
fn swap(a: &std::path::Path, b: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: two NUL-terminated paths that live for the call; AT_FDCWD resolves them as
    // given (they are absolute).
    let code = unsafe {
        libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE)
    };
    assert_eq!(code, 0, "renameat2: {}", std::io::Error::last_os_error());
}

async fn post_id(app: &TestApp, token: &str, body: &str) -> i64 {
    app.create_post(token, json!({ "body": body })).await["id"].as_i64().expect("post id")
}

#[tokio::test]
async fn an_unwritable_index_degrades_readiness_but_not_posting() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let mut ids = vec![post_id(&app, &token, "before the fault #degraded").await];
    let answer = app.search_until(&token, "#degraded", WITHIN, |a| hit_ids(a).len() == 1).await;
    assert_eq!(hit_ids(&answer), ids);
    let ready = app.readyz_until(StatusCode::OK).await;
    assert_eq!(ready["index"]["state"], "ready");

    let index = app.data_dir().join("index");
    let moved = app.data_dir().join("index.moved");
    std::fs::write(&moved, b"not a directory").unwrap();
    swap(&index, &moved);

    // Posting keeps working (201 each) while the index cannot commit.
    for n in 0..3 {
        ids.push(post_id(&app, &token, &format!("during the fault {n} #degraded")).await);
    }
    let degraded = app.readyz_until(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert_eq!(degraded["database"], "ok", "{degraded}");
    assert_eq!(degraded["index"]["state"], "degraded", "{degraded}");
    assert!(!degraded["index"]["error"].as_str().unwrap_or("").is_empty(), "{degraded}");
    ids.push(post_id(&app, &token, "still during the fault #degraded").await);

    swap(&index, &moved);
    std::fs::remove_file(&moved).unwrap();
    // A post wakes the indexer at once rather than after its back-off.
    ids.push(post_id(&app, &token, "after the fault #degraded").await);
    let ready = app.readyz_until(StatusCode::OK).await;
    assert_eq!(ready["status"], "ready", "{ready}");

    let answer = app.search_until(&token, "#degraded", WITHIN, |a| hit_ids(a).len() == ids.len()).await;
    let mut found = hit_ids(&answer);
    found.sort_unstable();
    ids.sort_unstable();
    assert_eq!(found, ids, "every post is searchable after the index recovers");
}
