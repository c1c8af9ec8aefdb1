//! The curated tag vocabulary: designers, analysts and admins describe a tag, give it a
//! type and can hide noise tags from trends. Each change is recorded in the audit log with
//! what changed, and bumps the rollup epoch so remembered trend answers are recomputed.
//! A tag can also be merged into another as its alias (and un-merged again): the trend
//! rollups are then rebuilt from the posts, the same path `i2i reindex` and imports use.

use serde_json::json;

use crate::app::audit::{self, Action, Actor};
use crate::app::views::TagView;
use crate::db::aliases;
use crate::db::curation::{self, Curation};
use crate::db::tags::{self, Tag};
use crate::db::users::User;
use crate::db::{now_ms, DbConn};
use crate::domain::text::tag_key;
use crate::domain::vocabulary::{parse_description, parse_kind};
use crate::error::{invalid, not_found, AppError};
use crate::trends::rollups;

/// A change to a tag's curation; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct CurationPatch {
    pub description: Option<String>,
    /// `Some(None)` clears the type.
    pub kind: Option<Option<String>>,
    pub hidden_from_trends: Option<bool>,
}

/// Who may curate tags: designers, analysts and admins.
pub fn may_curate(user: &User) -> bool {
    matches!(user.role.as_str(), "designer" | "analyst" | "admin")
}

/// Applies `patch` to the tag named `name` as `user`; returns the tag and its curation.
pub fn curate(
    conn: &mut DbConn,
    user: &User,
    actor: &Actor,
    name: &str,
    patch: &CurationPatch,
) -> Result<(Tag, Curation), AppError> {
    if !may_curate(user) {
        return Err(AppError::Forbidden("only designers, analysts and admins curate tags".into()));
    }
    let tag = named(conn, name)?;
    let old = curation::of_tag(conn, tag.id)?.unwrap_or(Curation {
        tag_id: tag.id,
        description: String::new(),
        kind: None,
        hidden_from_trends: 0,
        updated_by: None,
        updated_at: 0,
    });
    let description = match &patch.description {
        Some(raw) => parse_description(raw)?,
        None => old.description.clone(),
    };
    let kind = match &patch.kind {
        Some(Some(raw)) => Some(parse_kind(raw)?),
        Some(None) => None,
        None => old.kind.clone(),
    };
    let hidden = patch.hidden_from_trends.map_or(old.hidden_from_trends, i32::from);
    let row = Curation {
        tag_id: tag.id,
        description,
        kind,
        hidden_from_trends: hidden,
        updated_by: Some(user.id),
        updated_at: now_ms(),
    };
    curation::store(conn, &row)?;
    let mut changed = serde_json::Map::new();
    if row.description != old.description {
        changed.insert("description".into(), json!({"from": old.description, "to": row.description}));
    }
    if row.kind != old.kind {
        changed.insert("kind".into(), json!({"from": old.kind, "to": row.kind}));
    }
    if row.hidden_from_trends != old.hidden_from_trends {
        changed.insert(
            "hidden_from_trends".into(),
            json!({"from": old.hidden_from_trends != 0, "to": row.hidden_from_trends != 0}),
        );
        // Hiding changes what every trend window shows, past ones included.
        crate::trends::rollups::touch_past(conn)?;
    }
    audit::record(
        conn,
        actor,
        Action::TagCurated,
        &format!("tag:{}", tag.key),
        json!({ "changed": changed }),
    )?;
    Ok((tag, row))
}

/// The tag called `name`, or 404.
pub fn named(conn: &mut DbConn, name: &str) -> Result<Tag, AppError> {
    let key = tag_key(name.trim().trim_start_matches('#'))
        .ok_or_else(|| not_found(format!("{name:?} is not a tag")))?;
    tags::by_key(conn, &key)?.ok_or_else(|| not_found(format!("no posts are tagged #{key}")))
}

/// Merges the tag `name` into `into` as its alias, as `user`: from then on (and for every
/// earlier post) timelines, search, counts and trends read it as `into`, and its followers
/// follow `into`. Merging into an alias merges into that alias's canonical tag; a tag with
/// aliases of its own is refused. Returns the canonical tag.
pub fn merge(conn: &mut DbConn, user: &User, actor: &Actor, name: &str, into: &str) -> Result<Tag, AppError> {
    if !may_curate(user) {
        return Err(AppError::Forbidden("only designers, analysts and admins merge tags".into()));
    }
    if into.trim().trim_start_matches('#').is_empty() {
        return Err(invalid("alias_of", "name the tag to merge into"));
    }
    let alias = named(conn, name)?;
    let target = named(conn, into)?;
    // Post writes wait until the aliases and the recount are committed.
    rollups::lock_aliases(conn, true)?;
    let canonical = aliases::canonical_tag(conn, target)?;
    if canonical.id == alias.id {
        return Err(invalid("alias_of", format!("#{} cannot be merged into itself", alias.key)));
    }
    if aliases::canonical_of(conn, alias.id)? == Some(canonical.id) {
        return Ok(canonical);
    }
    // One level only, and un-merging must give back exactly what was: a tag with aliases of
    // its own is not merged as a group (its aliases would not come back with it).
    let own: Vec<String> =
        aliases::aliases_of(conn, alias.id)?.into_iter().map(|t| format!("#{}", t.key)).collect();
    if !own.is_empty() {
        return Err(invalid(
            "alias_of",
            format!(
                "#{} has aliases of its own ({}): merge or un-merge those first",
                alias.key,
                own.join(", ")
            ),
        ));
    }
    let now = now_ms();
    aliases::store(conn, alias.id, canonical.id, Some(user.id), now)?;
    let followers = crate::db::follows::move_all(conn, alias.id, canonical.id, now)?;
    let posts = rollups::rebuild(conn)?;
    audit::record(
        conn,
        actor,
        Action::TagMerged,
        &format!("tag:{}", alias.key),
        json!({ "into": canonical.key, "followers_moved": followers, "posts_recounted": posts }),
    )?;
    Ok(canonical)
}

/// Makes the alias `name` a tag of its own again, as `user`; its posts count for it alone.
/// A tag that is not an alias is left as it is.
pub fn unmerge(conn: &mut DbConn, user: &User, actor: &Actor, name: &str) -> Result<Tag, AppError> {
    if !may_curate(user) {
        return Err(AppError::Forbidden("only designers, analysts and admins merge tags".into()));
    }
    let alias = named(conn, name)?;
    // Post writes wait until the aliases and the recount are committed.
    rollups::lock_aliases(conn, true)?;
    let Some(canonical_id) = aliases::canonical_of(conn, alias.id)? else { return Ok(alias) };
    aliases::remove(conn, alias.id)?;
    let posts = rollups::rebuild(conn)?;
    let from: Option<String> = tags::by_id(conn, canonical_id)?.map(|t| t.key);
    audit::record(
        conn,
        actor,
        Action::TagUnmerged,
        &format!("tag:{}", alias.key),
        json!({ "from": from, "posts_recounted": posts }),
    )?;
    Ok(alias)
}

/// The tag named `name` (with or without '#', any case) and its counts.
pub fn load(conn: &mut crate::db::DbConn, name: &str) -> Result<TagView, AppError> {
    let key = tag_key(name.trim()).ok_or_else(|| not_found(format!("{name:?} is not a tag")))?;
    let tag = tags::by_key(conn, &key)?.ok_or_else(|| not_found(format!("no posts are tagged #{key}")))?;
    view(conn, &tag)
}

/// `tag`'s view: an alias shows its canonical tag's counts and curation, and names it.
pub fn view(conn: &mut crate::db::DbConn, tag: &tags::Tag) -> Result<TagView, AppError> {
    Ok(view_and_stats(conn, tag)?.0)
}

/// [`view`] and the counts behind it, unformatted (the tag page needs the times).
pub fn view_and_stats(
    conn: &mut crate::db::DbConn,
    tag: &tags::Tag,
) -> Result<(TagView, tags::TagStats), AppError> {
    let canonical = aliases::canonical_tag(conn, tag.clone())?;
    let group = aliases::group_ids(conn, canonical.id)?;
    let stats = tags::stats(conn, &group)?;
    let mut view = TagView::new(tag, &stats, curation::of_tag(conn, canonical.id)?.as_ref());
    if canonical.id == tag.id {
        view.aliases = aliases::aliases_of(conn, tag.id)?.into_iter().map(|t| t.key).collect();
    } else {
        view.alias_of = Some(canonical.key);
    }
    Ok((view, stats))
}
