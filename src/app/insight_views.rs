//! Insights as people read them: one insight with its live counts, evidence and discussion
//! ([`load`]), the board ([`board`]), their Markdown and CSV exports, and a user's
//! notifications. The API and the pages both show these.

use serde::Serialize;
use utoipa::ToSchema;

use crate::app::insights::{self, Counts, DayCount, Matching};
use crate::app::views::PostView;
use crate::app_state::AppState;
use crate::db::insights::{self as table, Insight};
use crate::db::posts::{self, PostDetails};
use crate::db::{incidents, Db};
use crate::domain::export::{self, md_link, md_quote, md_text, segment};
use crate::domain::insights::{Status, MAX_MATCHING};
use crate::domain::time::format_ms;
use crate::error::AppError;
use crate::search::SearchIndex;

/// An incident pinned as evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PinnedIncident {
    pub key: String,
    pub title: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommentView {
    pub author: String,
    pub body: String,
    pub created_at: String,
}

/// One insight with everything the board knows about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InsightView {
    pub id: i64,
    pub title: String,
    pub problem: String,
    /// `proposed`, `investigating`, `accepted`, `shipped` or `dismissed`.
    pub status: String,
    pub dismissed_reason: Option<String>,
    pub owner: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// The tags that define it (canonical names).
    pub tags: Vec<String>,
    /// A saved search that also defines it ("" when none).
    pub query: String,
    /// Live posts matching its definition.
    pub posts: i64,
    /// Distinct incidents among them.
    pub incidents: i64,
    /// Distinct responders who wrote them.
    pub responders: i64,
    /// False when a search matched more posts than are counted.
    pub counts_exact: bool,
    /// Per day (UTC) with matching posts.
    pub history: Vec<DayCount>,
    pub pinned_posts: Vec<PostView>,
    pub pinned_incidents: Vec<PinnedIncident>,
    /// The newest matching notes not pinned yet (at most 10): candidates to pin.
    pub latest: Vec<PostView>,
    pub comments: Vec<CommentView>,
}

/// A row of the board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InsightSummary {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub evidence: i64,
    pub updated_at: String,
}

/// The first [`MAX_MATCHING`] post ids an insight's saved search (with its tags and
/// their aliases) matches in the index, and whether those are all.
async fn search_ids(
    db: &Db,
    search: &std::sync::Arc<SearchIndex>,
    text: Option<String>,
) -> Result<Option<(Vec<i64>, bool)>, AppError> {
    let Some(text) = text else { return Ok(None) };
    let node = crate::search::query::parse(&text)
        .map_err(|err| AppError::QuerySyntax { message: err.message, position: err.position })?;
    let node = crate::app::search::with_aliases(db, node).await?;
    let search = search.clone();
    let found = tokio::task::spawn_blocking(move || {
        crate::search::searcher::matching_ids(&search, node.as_ref(), MAX_MATCHING)
    })
    .await??;
    Ok(Some(found))
}

/// The insight `id` with its tag keys.
async fn definition(state: &AppState, id: i64) -> Result<(Insight, Vec<String>), AppError> {
    state
        .db
        .read(move |conn| {
            let insight =
                table::by_id(conn, id)?.ok_or_else(|| crate::error::not_found(format!("no insight {id}")))?;
            let keys: Vec<String> = table::tags_of(conn, id)?.into_iter().map(|t| t.key).collect();
            Ok((insight, keys))
        })
        .await
}

/// Loads insight `id` as `viewer` sees it.
pub async fn load(state: &AppState, id: i64, viewer: i64) -> Result<InsightView, AppError> {
    let (insight, tag_keys) = definition(state, id).await?;
    let matching = search_ids(&state.db, &state.search, insights::search_text(&insight, &tag_keys)).await?;
    state.db.read(move |conn| view(conn, insight, tag_keys, matching, viewer)).await
}

/// Only the live counts of insight `id` (for the board's CSV).
async fn live_counts(state: &AppState, id: i64) -> Result<Counts, AppError> {
    let (insight, tag_keys) = definition(state, id).await?;
    let matching = search_ids(&state.db, &state.search, insights::search_text(&insight, &tag_keys)).await?;
    state.db.read(move |conn| counts_of(conn, insight.id, matching)).await
}

fn counts_of(
    conn: &mut crate::db::DbConn,
    id: i64,
    matching: Option<(Vec<i64>, bool)>,
) -> Result<Counts, AppError> {
    Ok(match &matching {
        Some((ids, complete)) => insights::counts(conn, Matching::Posts(ids), *complete)?,
        None => {
            let tag_ids: Vec<i64> = table::tags_of(conn, id)?.into_iter().map(|t| t.id).collect();
            insights::counts(conn, Matching::Tags(&tag_ids), true)?
        }
    })
}

fn view(
    conn: &mut crate::db::DbConn,
    insight: Insight,
    tag_keys: Vec<String>,
    matching: Option<(Vec<i64>, bool)>,
    viewer: i64,
) -> Result<InsightView, AppError> {
    let counts = counts_of(conn, insight.id, matching)?;
    let evidence = table::evidence_of(conn, insight.id)?;
    let post_ids: Vec<i64> = evidence.iter().filter(|e| e.kind == "post").map(|e| e.ref_id).collect();
    let live = posts::live_many(conn, &post_ids)?;
    let mut details: Vec<PostDetails> = posts::details(conn, live, Some(viewer))?;
    details.sort_by_key(|d| post_ids.iter().position(|id| *id == d.post.id));
    let unpinned: Vec<i64> = counts.latest.iter().copied().filter(|id| !post_ids.contains(id)).collect();
    let live = posts::live_many(conn, &unpinned)?;
    let mut latest: Vec<PostDetails> = posts::details(conn, live, Some(viewer))?;
    latest.sort_by_key(|d| unpinned.iter().position(|id| *id == d.post.id));
    let incident_ids: Vec<i64> = evidence.iter().filter(|e| e.kind == "incident").map(|e| e.ref_id).collect();
    let mut found = incidents::by_ids(conn, &incident_ids)?;
    found.sort_by_key(|i| incident_ids.iter().position(|id| *id == i.id));
    let pinned_incidents: Vec<PinnedIncident> =
        found.into_iter().map(|i| PinnedIncident { key: i.key, title: i.title, status: i.status }).collect();
    let comments = table::comments_of(conn, insight.id)?;
    let mut people: Vec<i64> = comments.iter().map(|c| c.author_id).collect();
    people.push(insight.created_by);
    people.extend(insight.owner_id);
    let names = insights::usernames(conn, &people)?;
    let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
    Ok(InsightView {
        id: insight.id,
        title: insight.title,
        problem: insight.problem,
        status: insight.status,
        dismissed_reason: insight.dismissed_reason,
        owner: insight.owner_id.map(name),
        created_by: name(insight.created_by),
        created_at: format_ms(insight.created_at),
        updated_at: format_ms(insight.updated_at),
        tags: tag_keys,
        query: insight.query,
        posts: counts.posts,
        incidents: counts.incidents,
        responders: counts.responders,
        counts_exact: counts.exact,
        history: counts.history,
        pinned_posts: details.iter().map(PostView::from).collect(),
        latest: latest.iter().map(PostView::from).collect(),
        pinned_incidents,
        comments: comments
            .into_iter()
            .map(|c| CommentView {
                author: name(c.author_id),
                body: c.body,
                created_at: format_ms(c.created_at),
            })
            .collect(),
    })
}

/// The board's rows (all, or one status).
pub fn board(conn: &mut crate::db::DbConn, status: Option<&str>) -> Result<Vec<InsightSummary>, AppError> {
    if let Some(status) = status {
        Status::parse(status)?;
    }
    let rows = table::list(conn, status, 500)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut tags = table::tag_keys_of_many(conn, &ids)?;
    let evidence = table::evidence_counts(conn, &ids)?;
    let people: Vec<i64> = rows.iter().filter_map(|r| r.owner_id).collect();
    let names = insights::usernames(conn, &people)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(InsightSummary {
            id: row.id,
            title: row.title,
            status: row.status,
            owner: row.owner_id.and_then(|id| names.get(&id).cloned()),
            tags: tags.remove(&row.id).unwrap_or_default(),
            evidence: evidence.get(&row.id).copied().unwrap_or(0),
            updated_at: format_ms(row.updated_at),
        });
    }
    Ok(items)
}

/// An insight as a Markdown document: for a design document or a ticket.
pub fn markdown(view: &InsightView, base: &str) -> String {
    let mut out = format!("# {}\n\n", md_text(&view.title));
    out.push_str(&format!("- Status: **{}**", md_text(&view.status)));
    if let Some(reason) = &view.dismissed_reason {
        out.push_str(&format!(" ({})", md_text(reason)));
    }
    out.push('\n');
    if let Some(owner) = &view.owner {
        out.push_str(&format!("- Owner: @{}\n", md_text(owner)));
    }
    if !view.tags.is_empty() {
        let tags: Vec<String> = view
            .tags
            .iter()
            .map(|t| md_link(&format!("#{t}"), &format!("{base}/tags/{}", segment(t))))
            .collect();
        out.push_str(&format!("- Tags: {}\n", tags.join(", ")));
    }
    if !view.query.is_empty() {
        out.push_str(&format!("- Search: {}\n", md_text(&view.query)));
    }
    out.push_str(&format!("- Insight: {base}/insights/{}\n\n", view.id));
    if !view.problem.is_empty() {
        out.push_str(&format!("## Problem\n\n{}\n\n", md_quote(&view.problem)));
    }
    out.push_str("## Evidence\n\n");
    out.push_str(&format!(
        "{} notes from {} responders across {} incidents (as of {}).\n\n",
        view.posts, view.responders, view.incidents, view.updated_at
    ));
    if !view.pinned_posts.is_empty() {
        out.push_str("### Pinned notes\n\n");
        for post in &view.pinned_posts {
            let incident = post
                .incident
                .as_ref()
                .map(|k| format!(", {}", md_link(k, &format!("{base}/incidents/{}", segment(k)))))
                .unwrap_or_default();
            let label = format!(
                "@{} on {}",
                post.author.username,
                post.created_at.get(..10).unwrap_or(&post.created_at)
            );
            out.push_str(&format!(
                "- {}{incident}: {}\n",
                md_link(&label, &format!("{base}/posts/{}", post.id)),
                md_text(&post.body)
            ));
        }
        out.push('\n');
    }
    if !view.pinned_incidents.is_empty() {
        out.push_str("### Pinned incidents\n\n");
        for incident in &view.pinned_incidents {
            out.push_str(&format!(
                "- {}: {} ({})\n",
                md_link(&incident.key, &format!("{base}/incidents/{}", segment(&incident.key))),
                md_text(&incident.title),
                md_text(&incident.status)
            ));
        }
        out.push('\n');
    }
    if !view.comments.is_empty() {
        out.push_str("## Discussion\n\n");
        for c in &view.comments {
            out.push_str(&format!("- @{} ({}): {}\n", md_text(&c.author), c.created_at, md_text(&c.body)));
        }
    }
    out
}

/// The board as CSV rows, with live counts per insight.
pub async fn board_csv(state: &AppState, base: &str) -> Result<Vec<u8>, AppError> {
    let items = state.db.read(|conn| board(conn, None)).await?;
    let mut records = vec![[
        "id",
        "title",
        "status",
        "owner",
        "tags",
        "posts",
        "incidents",
        "responders",
        "evidence",
        "updated_at",
        "url",
    ]
    .map(String::from)];
    for item in items {
        let view = live_counts(state, item.id).await?;
        records.push([
            item.id.to_string(),
            item.title.clone(),
            item.status.clone(),
            item.owner.clone().unwrap_or_default(),
            item.tags.join(" "),
            view.posts.to_string(),
            view.incidents.to_string(),
            view.responders.to_string(),
            item.evidence.to_string(),
            item.updated_at.clone(),
            format!("{base}/insights/{}", item.id),
        ]);
    }
    export::csv(records)
}

/// A notification in the signed-in user's feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    /// `evidence`: one of your notes was pinned to an insight.
    pub kind: String,
    pub insight_id: Option<i64>,
    pub insight_title: Option<String>,
    pub post_id: Option<i64>,
    pub by: Option<String>,
    pub created_at: String,
    pub read: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationView>,
    pub unread: i64,
}

/// The signed-in user's notifications, newest first (at most 50).
pub fn notifications(conn: &mut crate::db::DbConn, user_id: i64) -> Result<NotificationList, AppError> {
    let rows = table::notifications_of(conn, user_id, 50)?;
    let people: Vec<i64> = rows.iter().filter_map(|n| n.actor_id).collect();
    let names = insights::usernames(conn, &people)?;
    let insight_ids: Vec<i64> = rows.iter().filter_map(|n| n.insight_id).collect();
    let titles = table::titles(conn, &insight_ids)?;
    let items: Vec<NotificationView> = rows
        .into_iter()
        .map(|n| NotificationView {
            kind: n.kind,
            insight_id: n.insight_id,
            insight_title: n.insight_id.and_then(|id| titles.get(&id).cloned()),
            post_id: n.post_id,
            by: n.actor_id.and_then(|id| names.get(&id).cloned()),
            created_at: format_ms(n.created_at),
            read: n.read_at.is_some(),
        })
        .collect();
    let unread = items.iter().filter(|n| !n.read).count() as i64;
    Ok(NotificationList { items, unread })
}
