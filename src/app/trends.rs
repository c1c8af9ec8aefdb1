//! Trend requests: resolving parameters (window, `at`, tag names) and the "distinctive
//! terms" analysis, which combines a foreground of posts from the database with background
//! frequencies from the search index.

use std::collections::BTreeMap;
use std::sync::Arc;

use tantivy::Term;

use crate::db::posts::{self, PostDetails, TimelineFilter};
use crate::db::tags::{self, Tag};
use crate::db::DbConn;
use crate::domain::text::tag_key;
use crate::error::{invalid, not_found, AppError};
use crate::search::SearchIndex;
use crate::trends::views::{significant, tag_background, words_of, Distinctive};
use crate::trends::windows::{ending_at, parse_at, parse_length, Window};

/// Most posts a distinctive-terms foreground reads (the most recent ones).
const FOREGROUND_LIMIT: i64 = 2000;

/// The window of `length` (e.g. `7d`, default `default`) ending at `at` (default now).
pub fn window(length: Option<&str>, default: &str, at: Option<&str>) -> Result<Window, AppError> {
    Ok(ending_at(parse_at(at)?, parse_length(length.unwrap_or(default))?))
}

/// The defaults, kept beside the warmer that computes their answers ahead.
pub use crate::trends::defaults;

/// A list size: 1..=100, default [`defaults::API_LIMIT`].
pub fn limit(raw: Option<&str>) -> Result<usize, AppError> {
    match raw {
        None => Ok(defaults::API_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(invalid("limit", "limit must be a whole number from 1 to 100")),
        },
    }
}

/// The tag called `name` (any spelling), read as its canonical tag when it is an alias
/// (trends count the two as one), or 404.
pub fn require_tag(conn: &mut DbConn, name: &str) -> Result<Tag, AppError> {
    let key = tag_key(name.trim()).ok_or_else(|| not_found(format!("{name:?} is not a tag")))?;
    let tag = tags::by_key(conn, &key)?.ok_or_else(|| not_found(format!("no posts are tagged #{key}")))?;
    Ok(crate::db::aliases::canonical_tag(conn, tag)?)
}

/// The most recent live posts matching `filter` (the foreground of an analysis).
pub fn foreground(conn: &mut DbConn, mut filter: TimelineFilter) -> Result<Vec<PostDetails>, AppError> {
    filter.limit = FOREGROUND_LIMIT;
    let rows = posts::timeline(conn, &filter)?;
    Ok(posts::details(conn, rows, None)?)
}

/// Words and tags over-represented in `posts` compared with all posts (JLH).
pub fn distinctive(
    conn: &mut DbConn,
    search: &Arc<SearchIndex>,
    subject: String,
    posts: &[PostDetails],
    exclude_tag: Option<&str>,
) -> Result<Distinctive, AppError> {
    let fg_total = posts.len() as u64;
    let mut words: BTreeMap<String, u64> = BTreeMap::new();
    let mut tag_counts: BTreeMap<String, u64> = BTreeMap::new();
    for details in posts {
        for word in words_of(&details.post.body) {
            *words.entry(word).or_default() += 1;
        }
        for tag in &details.tags {
            if exclude_tag != Some(tag.key.as_str()) {
                *tag_counts.entry(tag.key.clone()).or_default() += 1;
            }
        }
    }
    let generation = search
        .current()
        .ok_or_else(|| AppError::Unavailable("the search index is still opening; try again".into()))?;
    let searcher = generation.reader.searcher();
    let bg_docs = searcher.num_docs();
    let field = search.fields.body_exact;
    let min_fg = if fg_total >= 10 { 2 } else { 1 };
    let word_scores = significant(
        &words,
        fg_total,
        |word| searcher.doc_freq(&Term::from_field_text(field, word)).unwrap_or(0),
        bg_docs,
        min_fg,
        15,
    );
    let (tag_bg, tag_total) = tag_background(conn)?;
    let tag_scores = significant(
        &tag_counts,
        fg_total,
        |tag| tag_bg.get(tag).copied().unwrap_or(0),
        tag_total,
        min_fg,
        10,
    );
    Ok(Distinctive {
        subject,
        method: "JLH = (fg% − bg%) · fg% / bg%, over posts containing the term",
        words: word_scores,
        tags: tag_scores,
    })
}

/// Follows (`on`) or stops following the tag called `name`; returns the tag's key.
pub fn set_follow(conn: &mut DbConn, user_id: i64, name: &str, on: bool) -> Result<String, AppError> {
    let tag = require_tag(conn, name)?;
    if on {
        crate::db::follows::follow(conn, user_id, tag.id, crate::db::now_ms())?;
    } else {
        crate::db::follows::unfollow(conn, user_id, tag.id)?;
    }
    Ok(tag.key)
}
