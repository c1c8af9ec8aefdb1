//! Tag suggestions while composing: tags starting with what is typed (most used first),
//! then tags that go with the tags already in the note, then the incident's own tags.

use std::collections::HashMap;

use serde::Serialize;

use crate::db::aliases;
use crate::db::curation;
use crate::db::incidents;
use crate::db::tags;
use crate::db::DbConn;
use crate::domain::text::tag_key;
use crate::error::AppError;
use crate::trends::views::related;
use crate::trends::windows::Window;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    pub name: String,
    pub display: String,
    pub posts: i64,
    /// `prefix`, `goes-with` or `incident`.
    pub reason: &'static str,
    /// What curators wrote about the tag ("" when nothing).
    pub description: String,
    /// The alias that matched, when the suggestion is the tag it was merged into
    /// (typing `#pwr` suggests `#password-reset`, "for #pwreset").
    pub alias: Option<String>,
}

/// Each alias replaced by the tag it was merged into (named in `alias`), keeping the first
/// place either held; tags already typed (in either spelling) are left out.
fn prefer_canonical(
    conn: &mut DbConn,
    found: Vec<Suggestion>,
    typed_keys: &[String],
) -> Result<Vec<Suggestion>, AppError> {
    let names: Vec<&str> =
        found.iter().map(|s| s.name.as_str()).chain(typed_keys.iter().map(String::as_str)).collect();
    let by_key: HashMap<String, tags::Tag> =
        tags::by_keys(conn, &names)?.into_iter().map(|tag| (tag.key.clone(), tag)).collect();
    let ids: Vec<i64> = by_key.values().map(|t| t.id).collect();
    let canonical_of = aliases::canonical_map(conn, &ids)?;
    let targets: Vec<i64> = canonical_of.values().copied().collect();
    let canonical: HashMap<i64, tags::Tag> =
        tags::by_ids(conn, &targets)?.into_iter().map(|tag| (tag.id, tag)).collect();
    // A key's canonical tag, when it is an alias.
    let alias_target =
        |key: &str| by_key.get(key).and_then(|t| canonical_of.get(&t.id)).and_then(|id| canonical.get(id));
    let typed_canonical: Vec<&str> =
        typed_keys.iter().map(|k| alias_target(k).map_or(k.as_str(), |t| t.key.as_str())).collect();
    let mut out: Vec<Suggestion> = Vec::new();
    for mut suggestion in found {
        if let Some(target) = alias_target(&suggestion.name) {
            suggestion.alias = Some(std::mem::replace(&mut suggestion.name, target.key.clone()));
            suggestion.display = target.display.clone();
            let group = aliases::group_ids(conn, target.id)?;
            suggestion.posts = tags::stats(conn, &group)?.posts;
        }
        if typed_canonical.contains(&suggestion.name.as_str())
            || out.iter().any(|s| s.name == suggestion.name)
        {
            continue;
        }
        out.push(suggestion);
    }
    Ok(out)
}

/// Suggestions for `prefix` (may be empty), given the tags already typed and the incident.
pub fn suggest(
    conn: &mut DbConn,
    prefix: &str,
    typed: &[String],
    incident: Option<&str>,
    limit: usize,
) -> Result<Vec<Suggestion>, AppError> {
    let prefix_key = prefix.trim_start_matches('#').to_lowercase();
    let typed_keys: Vec<String> = typed.iter().filter_map(|t| tag_key(t.trim())).collect();
    let mut out: Vec<Suggestion> = Vec::new();
    let push = |out: &mut Vec<Suggestion>, name: &str, display: &str, posts: i64, reason: &'static str| {
        let wanted = name.starts_with(&prefix_key) && !typed_keys.iter().any(|t| t == name);
        if wanted && !out.iter().any(|s| s.name == name) {
            out.push(Suggestion {
                name: name.to_string(),
                display: display.to_string(),
                posts,
                reason,
                description: String::new(),
                alias: None,
            });
        }
    };
    // A tag key never holds a NUL (and PostgreSQL refuses one in a query).
    if !prefix_key.is_empty() && !prefix_key.contains('\0') {
        for (tag, posts) in tags::with_prefix(conn, &prefix_key, limit as i64)? {
            push(&mut out, &tag.key, &tag.display, posts, "prefix");
        }
    }
    let lifetime =
        Window { start_hour: 0, end_hour: crate::trends::rollups::hour_of(crate::db::now_ms()) + 1 };
    for key in &typed_keys {
        if let Some(tag) = tags::by_key(conn, key)? {
            for item in related(conn, &tag, lifetime, 1, 10)?.items {
                push(&mut out, &item.tag.name, &item.tag.display, item.posts, "goes-with");
            }
        }
    }
    if let Some(key) = incident {
        if let Some(found) = incidents::by_key(conn, key.trim())? {
            for (tag, posts) in tags::of_incident(conn, found.id, 10)? {
                push(&mut out, &tag.key, &tag.display, posts, "incident");
            }
        }
    }
    let mut out = prefer_canonical(conn, out, &typed_keys)?;
    // Prefix matches stay first; each group keeps its own order.
    out.truncate(limit);
    let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
    let ids: std::collections::HashMap<String, i64> =
        tags::by_keys(conn, &names)?.into_iter().map(|tag| (tag.key, tag.id)).collect();
    let described = curation::descriptions(conn, &ids.values().copied().collect::<Vec<_>>())?;
    for suggestion in &mut out {
        if let Some(text) = ids.get(&suggestion.name).and_then(|id| described.get(id)) {
            suggestion.description = text.clone();
        }
    }
    Ok(out)
}
