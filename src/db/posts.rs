//! The `posts` table with its satellites: versions (edit history), mentions and reactions,
//! plus the timeline query and the batched loading of everything a post view shows.

use std::collections::HashMap;

use diesel::prelude::*;

use super::cached::AnyOf;
use super::incidents::{self, Incident};
use super::schema::{post_mentions, post_tags, post_versions, posts, reactions};
use super::tags::{self, Tag};
use super::users::{self, User};
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = posts)]
pub struct Post {
    pub id: i64,
    pub author_id: i64,
    pub body: String,
    pub incident_id: Option<i64>,
    pub reply_to: Option<i64>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub replies_count: i32,
    pub reactions_count: i32,
    pub import_key: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = posts)]
pub struct NewPost<'a> {
    pub author_id: i64,
    pub body: &'a str,
    pub incident_id: Option<i64>,
    pub reply_to: Option<i64>,
    pub created_at: i64,
    pub import_key: Option<&'a str>,
}

pub fn insert(conn: &mut DbConn, new_post: &NewPost) -> QueryResult<Post> {
    crate::on_backend!(conn, c => diesel::insert_into(posts::table)
        .values(new_post)
        .returning(Post::as_returning())
        .get_result(c))
}

/// A post that is not deleted.
pub fn live(conn: &mut DbConn, id: i64) -> QueryResult<Option<Post>> {
    posts::table.find(id).filter(posts::deleted_at.is_null()).select(Post::as_select()).first(conn).optional()
}

pub fn import_key_exists(conn: &mut DbConn, key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(posts::table.filter(posts::import_key.eq(key)))).get_result(conn)
}

/// Keeps the text being replaced, then writes the new body.
pub fn replace_body(conn: &mut DbConn, post: &Post, body: &str, now: i64) -> QueryResult<usize> {
    diesel::insert_into(post_versions::table)
        .values((
            post_versions::post_id.eq(post.id),
            post_versions::body.eq(&post.body),
            post_versions::written_at.eq(post.edited_at.unwrap_or(post.created_at)),
            post_versions::replaced_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(posts::table.find(post.id))
        .set((posts::body.eq(body), posts::edited_at.eq(now)))
        .execute(conn)
}

/// Earlier bodies of a post, oldest first: `(body, written_at, replaced_at)`.
pub fn versions(conn: &mut DbConn, post_id: i64) -> QueryResult<Vec<(String, i64, i64)>> {
    post_versions::table
        .filter(post_versions::post_id.eq(post_id))
        .order(post_versions::id.asc())
        .select((post_versions::body, post_versions::written_at, post_versions::replaced_at))
        .load(conn)
}

pub fn mark_deleted(conn: &mut DbConn, id: i64, now: i64) -> QueryResult<usize> {
    diesel::update(posts::table.find(id)).set(posts::deleted_at.eq(now)).execute(conn)
}

pub fn add_replies(conn: &mut DbConn, id: i64, delta: i32) -> QueryResult<usize> {
    diesel::update(posts::table.find(id))
        .set(posts::replies_count.eq(posts::replies_count + delta))
        .execute(conn)
}

pub fn set_mentions(conn: &mut DbConn, post_id: i64, user_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(post_mentions::table.filter(post_mentions::post_id.eq(post_id))).execute(conn)?;
    if user_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = user_ids
        .iter()
        .map(|user_id| (post_mentions::post_id.eq(post_id), post_mentions::user_id.eq(*user_id)))
        .collect();
    crate::on_backend!(conn, c => diesel::insert_into(post_mentions::table).values(&rows).execute(c))?;
    Ok(())
}

/// Adds a reaction; returns false if the user had already reacted.
pub fn add_reaction(conn: &mut DbConn, post_id: i64, user_id: i64, now: i64) -> QueryResult<bool> {
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(reactions::table)
        .values((reactions::post_id.eq(post_id), reactions::user_id.eq(user_id), reactions::created_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted > 0 {
        diesel::update(posts::table.find(post_id))
            .set(posts::reactions_count.eq(posts::reactions_count + 1))
            .execute(conn)?;
    }
    Ok(inserted > 0)
}

/// Removes a reaction; returns false if there was none.
pub fn remove_reaction(conn: &mut DbConn, post_id: i64, user_id: i64) -> QueryResult<bool> {
    let deleted = diesel::delete(reactions::table.find((post_id, user_id))).execute(conn)?;
    if deleted > 0 {
        diesel::update(posts::table.find(post_id))
            .set(posts::reactions_count.eq(posts::reactions_count - 1))
            .execute(conn)?;
    }
    Ok(deleted > 0)
}

/// The posts among `post_ids` that `user_id` has reacted to.
pub fn reacted_by(conn: &mut DbConn, user_id: i64, post_ids: &[i64]) -> QueryResult<Vec<i64>> {
    if post_ids.is_empty() {
        return Ok(Vec::new());
    }
    let any = AnyOf::new(reactions::post_id, post_ids);
    crate::on_backend!(conn, c => reactions::table
        .filter(reactions::user_id.eq(user_id))
        .filter(any)
        .select(reactions::post_id)
        .load(c))
}

/// Which posts a timeline shows. Tag ids are already resolved; an empty `tags_any` with
/// `tags_given` means the requested tags do not exist, so nothing matches.
#[derive(Debug, Default, Clone)]
pub struct TimelineFilter {
    /// Tags to match, each with its aliases: a post has an entry when it has any tag of it.
    pub tags: Vec<Vec<i64>>,
    pub tags_all: bool,
    pub not_tags: Vec<i64>,
    pub incident_id: Option<i64>,
    pub author_id: Option<i64>,
    /// Keyset cursor: only posts strictly older than `(created_at, id)`.
    pub before: Option<(i64, i64)>,
    /// Oldest first (incident pages) instead of newest first.
    pub oldest_first: bool,
    /// Only top-level posts (replies fold into their threads).
    pub top_level_only: bool,
    pub limit: i64,
}

/// Live posts matching the filter, newest first, ordered by `(created_at, id)` so pages
/// never skip or repeat a post even when timestamps tie.
///
/// A tag timeline walks the `post_tags(tag_id, created_at, post_id)` index (created_at is
/// the post's, copied there) from the cursor and stops after `limit` matches, instead of
/// collecting every post of the tag and sorting them: one short index range per tag.
/// Posts with any of several tags are merged from one such walk per tag (a post in the
/// first `limit` of the union is in the first `limit` of each of its tags' walks); posts
/// with all of them walk the rarest tag and check the others per post. An incident or
/// author filter is narrower than a tag, so those walk their own index instead.
pub fn timeline(conn: &mut DbConn, filter: &TimelineFilter) -> QueryResult<Vec<Post>> {
    if filter.tags.is_empty() || filter.incident_id.is_some() || filter.author_id.is_some() {
        return timeline_by_posts(conn, filter);
    }
    let walks: Vec<i64> = if filter.tags_all {
        rarest(conn, &filter.tags)?
    } else {
        filter.tags.iter().flatten().copied().collect()
    };
    let mut found: Vec<Post> = Vec::new();
    for tag_id in walks {
        found.extend(timeline_of_tag(conn, tag_id, filter)?);
    }
    found.sort_by_key(|p| (p.created_at, p.id));
    found.dedup_by_key(|p| p.id);
    if !filter.oldest_first {
        found.reverse();
    }
    found.truncate(filter.limit.max(0) as usize);
    Ok(found)
}

/// Of several tag groups, the one on the fewest posts (counted up to a bound, which is
/// enough to pick a walk that is not much longer than the shortest).
fn rarest(conn: &mut DbConn, groups: &[Vec<i64>]) -> QueryResult<Vec<i64>> {
    const ENOUGH: i64 = 2_000;
    let mut best = (i64::MAX, groups.first().cloned().unwrap_or_default());
    for group in groups {
        let n: i64 = post_tags::table
            .filter(post_tags::tag_id.eq_any(group))
            .select(post_tags::post_id)
            .limit(ENOUGH)
            .load::<i64>(conn)?
            .len() as i64;
        if n < best.0 {
            best = (n, group.clone());
        }
    }
    Ok(best.1)
}

// post_tags again, for "this post also (or not) has tag X" next to the walked post_tags.
diesel::alias!(post_tags as other_tags: OtherTags);

/// One tag's walk: its `post_tags` index range from the cursor, joined to the posts.
fn timeline_of_tag(conn: &mut DbConn, tag_id: i64, filter: &TimelineFilter) -> QueryResult<Vec<Post>> {
    let mut query = post_tags::table
        .inner_join(posts::table)
        .filter(post_tags::tag_id.eq(tag_id))
        .filter(posts::deleted_at.is_null())
        .select(Post::as_select())
        .into_boxed();
    if filter.tags_all {
        for other in filter.tags.iter().filter(|group| !group.contains(&tag_id)) {
            query = query.filter(diesel::dsl::exists(
                other_tags
                    .filter(other_tags.field(post_tags::post_id).eq(posts::id))
                    .filter(other_tags.field(post_tags::tag_id).eq_any(other.clone())),
            ));
        }
    }
    if !filter.not_tags.is_empty() {
        query = query.filter(diesel::dsl::not(diesel::dsl::exists(
            other_tags
                .filter(other_tags.field(post_tags::post_id).eq(posts::id))
                .filter(other_tags.field(post_tags::tag_id).eq_any(filter.not_tags.clone())),
        )));
    }
    if filter.top_level_only {
        query = query.filter(posts::reply_to.is_null());
    }
    // The cursor and the order are on post_tags' copy of created_at, so they follow the index.
    if let Some((created_at, id)) = filter.before {
        query = if filter.oldest_first {
            query
                .filter(post_tags::created_at.ge(created_at))
                .filter(post_tags::created_at.gt(created_at).or(post_tags::post_id.gt(id)))
        } else {
            query
                .filter(post_tags::created_at.le(created_at))
                .filter(post_tags::created_at.lt(created_at).or(post_tags::post_id.lt(id)))
        };
    }
    query = if filter.oldest_first {
        query.order((post_tags::created_at.asc(), post_tags::post_id.asc()))
    } else {
        query.order((post_tags::created_at.desc(), post_tags::post_id.desc()))
    };
    query.limit(filter.limit).load(conn)
}

/// Timelines without a tag to walk: the posts' own `(created_at, id)`, incident or author
/// index, with tags checked per post.
fn timeline_by_posts(conn: &mut DbConn, filter: &TimelineFilter) -> QueryResult<Vec<Post>> {
    let mut query = posts::table.filter(posts::deleted_at.is_null()).select(Post::as_select()).into_boxed();
    if !filter.tags.is_empty() {
        if filter.tags_all {
            for group in &filter.tags {
                query = query.filter(diesel::dsl::exists(
                    other_tags
                        .filter(other_tags.field(post_tags::post_id).eq(posts::id))
                        .filter(other_tags.field(post_tags::tag_id).eq_any(group.clone())),
                ));
            }
        } else {
            let any: Vec<i64> = filter.tags.iter().flatten().copied().collect();
            query = query.filter(diesel::dsl::exists(
                other_tags
                    .filter(other_tags.field(post_tags::post_id).eq(posts::id))
                    .filter(other_tags.field(post_tags::tag_id).eq_any(any)),
            ));
        }
    }
    if !filter.not_tags.is_empty() {
        query = query.filter(diesel::dsl::not(diesel::dsl::exists(
            other_tags
                .filter(other_tags.field(post_tags::post_id).eq(posts::id))
                .filter(other_tags.field(post_tags::tag_id).eq_any(filter.not_tags.clone())),
        )));
    }
    if let Some(incident_id) = filter.incident_id {
        query = query.filter(posts::incident_id.eq(incident_id));
    }
    if let Some(author_id) = filter.author_id {
        query = query.filter(posts::author_id.eq(author_id));
    }
    if filter.top_level_only {
        query = query.filter(posts::reply_to.is_null());
    }
    if let Some((created_at, id)) = filter.before {
        query = if filter.oldest_first {
            query.filter(
                posts::created_at.gt(created_at).or(posts::created_at.eq(created_at).and(posts::id.gt(id))),
            )
        } else {
            query.filter(
                posts::created_at.lt(created_at).or(posts::created_at.eq(created_at).and(posts::id.lt(id))),
            )
        };
    }
    query = if filter.oldest_first {
        query.order((posts::created_at.asc(), posts::id.asc()))
    } else {
        query.order((posts::created_at.desc(), posts::id.desc()))
    };
    query.limit(filter.limit).load(conn)
}

/// The whole thread around a post: its root and every live reply below it, oldest first.
pub fn thread(conn: &mut DbConn, post: &Post) -> QueryResult<Vec<Post>> {
    // Walk up to the root; depth is bounded so a corrupt cycle cannot loop forever.
    let mut root = post.clone();
    for _ in 0..1000 {
        let Some(parent_id) = root.reply_to else {
            break;
        };
        match live(conn, parent_id)? {
            Some(parent) => root = parent,
            None => break,
        }
    }
    let mut thread = vec![root.clone()];
    let mut frontier = vec![root.id];
    while !frontier.is_empty() && thread.len() < 10_000 {
        let replies: Vec<Post> = posts::table
            .filter(posts::reply_to.eq_any(frontier.clone()))
            .filter(posts::deleted_at.is_null())
            .select(Post::as_select())
            .load(conn)?;
        frontier = replies.iter().map(|reply| reply.id).collect();
        thread.extend(replies);
    }
    thread.sort_by_key(|p| (p.created_at, p.id));
    Ok(thread)
}

/// Everything a post view needs besides the post row.
#[derive(Debug, Clone)]
pub struct PostDetails {
    pub post: Post,
    pub author: User,
    pub tags: Vec<Tag>,
    pub mentions: Vec<String>,
    pub incident: Option<Incident>,
    pub reacted: bool,
}

/// Loads authors, tags, mentions and incidents of many posts with one query per table.
pub fn details(
    conn: &mut DbConn,
    posts_in: Vec<Post>,
    viewer_id: Option<i64>,
) -> QueryResult<Vec<PostDetails>> {
    let ids: Vec<i64> = posts_in.iter().map(|p| p.id).collect();
    let author_ids: Vec<i64> = posts_in.iter().map(|p| p.author_id).collect();
    let incident_ids: Vec<i64> = posts_in.iter().filter_map(|p| p.incident_id).collect();
    let authors: HashMap<i64, User> =
        users::by_ids(conn, &author_ids)?.into_iter().map(|u| (u.id, u)).collect();
    let incidents_by_id: HashMap<i64, Incident> =
        incidents::by_ids(conn, &incident_ids)?.into_iter().map(|i| (i.id, i)).collect();
    let mut tags_by_post: HashMap<i64, Vec<Tag>> = HashMap::new();
    for (post_id, tag) in tags::of_posts(conn, &ids)? {
        tags_by_post.entry(post_id).or_default().push(tag);
    }
    let mut mentions_by_post: HashMap<i64, Vec<String>> = HashMap::new();
    // Mentions are read from the body's `@name`s when a post is written: without an '@' in
    // any body there are none to look up.
    if posts_in.iter().any(|p| p.body.contains('@')) {
        let any = AnyOf::new(post_mentions::post_id, &ids);
        let rows: Vec<(i64, String)> = crate::on_backend!(&mut *conn, c => post_mentions::table
            .inner_join(super::schema::users::table)
            .filter(any)
            .select((post_mentions::post_id, super::schema::users::username))
            .load(c))?;
        for (post_id, username) in rows {
            mentions_by_post.entry(post_id).or_default().push(username);
        }
    }
    let reacted: Vec<i64> = match viewer_id {
        Some(viewer) => reacted_by(conn, viewer, &ids)?,
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(posts_in.len());
    for post in posts_in {
        let author = authors.get(&post.author_id).cloned().ok_or(diesel::result::Error::NotFound)?;
        out.push(PostDetails {
            author,
            tags: tags_by_post.remove(&post.id).unwrap_or_default(),
            mentions: mentions_by_post.remove(&post.id).unwrap_or_default(),
            incident: post.incident_id.and_then(|id| incidents_by_id.get(&id).cloned()),
            reacted: reacted.contains(&post.id),
            post,
        });
    }
    Ok(out)
}

/// Every live post in id order, in pages, for export.
pub fn page_for_export(conn: &mut DbConn, after_id: i64, limit: i64) -> QueryResult<Vec<Post>> {
    posts::table
        .filter(posts::deleted_at.is_null())
        .filter(posts::id.gt(after_id))
        .order(posts::id.asc())
        .limit(limit)
        .select(Post::as_select())
        .load(conn)
}

pub fn set_incident(conn: &mut DbConn, post_id: i64, incident_id: i64) -> QueryResult<usize> {
    diesel::update(posts::table.find(post_id)).set(posts::incident_id.eq(incident_id)).execute(conn)
}

/// The live posts among `ids`.
pub fn live_many(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Post>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let any = AnyOf::new(posts::id, ids);
    crate::on_backend!(conn, c => posts::table
        .filter(any)
        .filter(posts::deleted_at.is_null())
        .select(Post::as_select())
        .load(c))
}

/// The lowest and highest id of a live post (`None` when there is none).
pub fn live_id_range(conn: &mut DbConn) -> QueryResult<Option<(i64, i64)>> {
    use diesel::dsl::{max, min};
    let (low, high): (Option<i64>, Option<i64>) = posts::table
        .filter(posts::deleted_at.is_null())
        .select((min(posts::id), max(posts::id)))
        .first(conn)?;
    Ok(low.zip(high))
}

/// Number of live posts.
pub fn count_live(conn: &mut DbConn) -> QueryResult<i64> {
    posts::table.filter(posts::deleted_at.is_null()).count().get_result(conn)
}
