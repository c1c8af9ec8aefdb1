//! The `follows` and `feed_tokens` tables: the tags a user follows, and the secret that
//! lets a feed reader fetch that user's Atom feeds without a login.

use diesel::prelude::*;

use super::schema::{feed_tokens, follows, tags};
use super::tags::Tag;
use super::DbConn;

/// Follows a tag; returns false if already followed.
pub fn follow(conn: &mut DbConn, user_id: i64, tag_id: i64, now: i64) -> QueryResult<bool> {
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(follows::table)
        .values((follows::user_id.eq(user_id), follows::tag_id.eq(tag_id), follows::created_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}

pub fn unfollow(conn: &mut DbConn, user_id: i64, tag_id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(follows::table.find((user_id, tag_id))).execute(conn)? > 0)
}

/// Moves every follow of tag `from` to tag `to` (a tag merged into another: its followers
/// follow the merged tag); returns how many users followed `from`.
pub fn move_all(conn: &mut DbConn, from: i64, to: i64, now: i64) -> QueryResult<usize> {
    let users: Vec<i64> =
        follows::table.filter(follows::tag_id.eq(from)).select(follows::user_id).load(conn)?;
    for user_id in &users {
        follow(conn, *user_id, to, now)?;
    }
    diesel::delete(follows::table.filter(follows::tag_id.eq(from))).execute(conn)?;
    Ok(users.len())
}

/// The tags a user follows, by name.
pub fn followed(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<Tag>> {
    follows::table
        .inner_join(tags::table)
        .filter(follows::user_id.eq(user_id))
        .order(tags::key.asc())
        .select(Tag::as_select())
        .load(conn)
}

pub fn is_following(conn: &mut DbConn, user_id: i64, tag_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(follows::table.find((user_id, tag_id)))).get_result(conn)
}

/// The user's feed token, if one was made.
pub fn feed_token(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<String>> {
    feed_tokens::table.find(user_id).select(feed_tokens::token).first(conn).optional()
}

/// Replaces the user's feed token (old feed URLs stop working).
pub fn set_feed_token(conn: &mut DbConn, user_id: i64, token: &str, now: i64) -> QueryResult<()> {
    diesel::delete(feed_tokens::table.find(user_id)).execute(conn)?;
    diesel::insert_into(feed_tokens::table)
        .values((
            feed_tokens::user_id.eq(user_id),
            feed_tokens::token.eq(token),
            feed_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the user's feed token, if any (their feed URLs stop working); true if one existed.
pub fn delete_feed_token(conn: &mut DbConn, user_id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(feed_tokens::table.find(user_id)).execute(conn)? > 0)
}

/// The user a feed token belongs to.
pub fn user_of_feed_token(conn: &mut DbConn, token: &str) -> QueryResult<Option<i64>> {
    feed_tokens::table
        .filter(feed_tokens::token.eq(token))
        .select(feed_tokens::user_id)
        .first(conn)
        .optional()
}
