//! The weekly digest of a user's followed tags: what rose, what is new around them, and
//! the notes most people said they had seen too.

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::posts::{self, PostDetails};
use crate::db::schema::{post_tags, posts as posts_table, tag_hours, tags};
use crate::db::{follows, DbConn};
use crate::error::AppError;
use crate::trends::rollups::{hour_of, HOUR_MS};

#[derive(Debug, Clone, Serialize)]
pub struct Rise {
    pub name: String,
    pub display: String,
    pub this_week: i64,
    pub last_week: i64,
}

#[derive(Debug, Clone)]
pub struct Digest {
    pub from: i64,
    pub to: i64,
    pub followed: Vec<String>,
    /// Followed tags, biggest rise first.
    pub rose: Vec<Rise>,
    /// Tags first seen this week on notes in the followed tags.
    pub new_tags: Vec<String>,
    pub top_notes: Vec<PostDetails>,
}

fn posts_in(conn: &mut DbConn, tag_id: i64, from_hour: i64, to_hour: i64) -> QueryResult<i64> {
    let sum: Option<i64> = tag_hours::table
        .filter(tag_hours::tag_id.eq(tag_id))
        .filter(tag_hours::hour.ge(from_hour))
        .filter(tag_hours::hour.lt(to_hour))
        .select(diesel::dsl::sum(tag_hours::posts))
        .first(conn)?;
    Ok(sum.unwrap_or(0))
}

/// The digest of the week before `now` for `user_id`.
pub fn weekly(conn: &mut DbConn, user_id: i64, now: i64) -> Result<Digest, AppError> {
    let to_hour = hour_of(now) + 1;
    let from_hour = to_hour - 24 * 7;
    let followed = follows::followed(conn, user_id)?;
    let mut rose = Vec::new();
    for tag in &followed {
        let this_week = posts_in(conn, tag.id, from_hour, to_hour)?;
        let last_week = posts_in(conn, tag.id, from_hour - 24 * 7, from_hour)?;
        rose.push(Rise { name: tag.key.clone(), display: tag.display.clone(), this_week, last_week });
    }
    rose.sort_by(|a, b| {
        (b.this_week - b.last_week).cmp(&(a.this_week - a.last_week)).then(a.name.cmp(&b.name))
    });
    let ids: Vec<i64> = followed.iter().map(|t| t.id).collect();
    let week_posts: Vec<i64> = if ids.is_empty() {
        Vec::new()
    } else {
        post_tags::table
            .filter(post_tags::tag_id.eq_any(&ids))
            .filter(post_tags::created_at.ge(from_hour * HOUR_MS))
            .filter(post_tags::created_at.lt(to_hour * HOUR_MS))
            .select(post_tags::post_id)
            .distinct()
            .load(conn)?
    };
    let neighbours: BTreeSet<i64> = if week_posts.is_empty() {
        BTreeSet::new()
    } else {
        post_tags::table
            .filter(post_tags::post_id.eq_any(&week_posts))
            .select(post_tags::tag_id)
            .load::<i64>(conn)?
            .into_iter()
            .filter(|id| !ids.contains(id))
            .collect()
    };
    let mut new_tags = Vec::new();
    for id in neighbours {
        let first: Option<i64> = tag_hours::table
            .filter(tag_hours::tag_id.eq(id))
            .select(diesel::dsl::min(tag_hours::hour))
            .first(conn)?;
        if first.is_some_and(|h| h >= from_hour) {
            new_tags.push(tags::table.find(id).select(tags::key).first::<String>(conn)?);
        }
    }
    let top_rows = if week_posts.is_empty() {
        Vec::new()
    } else {
        posts_table::table
            .filter(posts_table::id.eq_any(&week_posts))
            .filter(posts_table::deleted_at.is_null())
            .filter(posts_table::reactions_count.gt(0))
            .order((posts_table::reactions_count.desc(), posts_table::created_at.desc()))
            .limit(5)
            .select(posts::Post::as_select())
            .load(conn)?
    };
    Ok(Digest {
        from: from_hour * HOUR_MS,
        to: to_hour * HOUR_MS,
        followed: followed.iter().map(|t| t.key.clone()).collect(),
        rose,
        new_tags,
        top_notes: posts::details(conn, top_rows, None)?,
    })
}

/// The digest as Markdown, ready to paste into an email or a chat. User text (note bodies,
/// display names, tag names) goes through the one Markdown escaping, [`crate::domain::export`].
pub fn markdown(digest: &Digest, base: &str) -> String {
    use crate::domain::export::{md_link, md_text, segment};
    use crate::domain::time::human_ms;
    let mut out = format!(
        "# Your i2i week\n\n{} to {}\n\n## What rose\n\n",
        human_ms(digest.from),
        human_ms(digest.to)
    );
    if digest.rose.is_empty() {
        out.push_str("You follow no tags yet.\n");
    }
    for rise in &digest.rose {
        out.push_str(&format!(
            "- #{}: {} notes this week ({} the week before)\n",
            md_text(&rise.display),
            rise.this_week,
            rise.last_week
        ));
    }
    out.push_str("\n## New around your tags\n\n");
    if digest.new_tags.is_empty() {
        out.push_str("Nothing new.\n");
    }
    for tag in &digest.new_tags {
        out.push_str(&format!(
            "- {}\n",
            md_link(&format!("#{tag}"), &format!("{base}/tags/{}", segment(tag)))
        ));
    }
    out.push_str("\n## Most seen notes\n\n");
    if digest.top_notes.is_empty() {
        out.push_str("No reactions this week.\n");
    }
    for note in &digest.top_notes {
        out.push_str(&format!(
            "- {} (+1 × {}) — {} {}\n",
            md_text(&note.post.body),
            note.post.reactions_count,
            md_text(&note.author.display_name),
            md_link("open", &format!("{base}/posts/{}", note.post.id))
        ));
    }
    out
}
