//! The post card every page shows: a post split into text and link segments, so the
//! template escapes every user-supplied piece and never outputs raw HTML.

use regex::Regex;
use serde::Serialize;

use crate::db::posts::PostDetails;
use crate::domain::text::{segments, Segment};
use crate::domain::time::{format_ms, human_ms};

#[derive(Debug, Serialize)]
pub struct SegmentView {
    /// `text`, `tag`, `mention`, `incident` or `url`.
    pub kind: &'static str,
    pub text: String,
    /// Where a link goes (empty for text).
    pub href: String,
}

#[derive(Debug, Serialize)]
pub struct CardView {
    pub id: i64,
    pub author_username: String,
    pub author_name: String,
    pub segments: Vec<SegmentView>,
    pub incident: Option<String>,
    pub incident_href: String,
    pub reply_to: Option<i64>,
    pub created_iso: String,
    pub created_human: String,
    pub edited: bool,
    pub replies_count: i32,
    pub reactions_count: i32,
    pub reacted: bool,
    /// Marks the post a thread page is about.
    pub focus: bool,
}

/// A path segment safe to put in an href.
pub fn encode_segment(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

fn segment_view(segment: Segment, mentions: &[String]) -> SegmentView {
    match segment {
        Segment::Text(text) => SegmentView { kind: "text", text, href: String::new() },
        Segment::Tag { key, text } => {
            SegmentView { kind: "tag", href: format!("/tags/{}", encode_segment(&key)), text }
        }
        // Only users that exist become links.
        Segment::Mention { username, text } if mentions.contains(&username) => {
            SegmentView { kind: "mention", href: format!("/users/{}", encode_segment(&username)), text }
        }
        Segment::Mention { text, .. } => SegmentView { kind: "text", text, href: String::new() },
        Segment::Incident { key, text } => {
            SegmentView { kind: "incident", href: format!("/incidents/{}", encode_segment(&key)), text }
        }
        Segment::Url { href, text } => SegmentView { kind: "url", href, text },
    }
}

/// The segments a card shows for `body`; `mentions` are the usernames that exist (only those
/// become links). Public so the rendering fuzz target drives exactly what pages use.
pub fn body_segments(body: &str, incident_pattern: &Regex, mentions: &[String]) -> Vec<SegmentView> {
    segments(body, incident_pattern).into_iter().map(|s| segment_view(s, mentions)).collect()
}

/// Builds the card of a post.
pub fn card(details: &PostDetails, incident_pattern: &Regex, focus_id: Option<i64>) -> CardView {
    let post = &details.post;
    CardView {
        id: post.id,
        author_username: details.author.username.clone(),
        author_name: details.author.display_name.clone(),
        segments: body_segments(&post.body, incident_pattern, &details.mentions),
        incident: details.incident.as_ref().map(|i| i.key.clone()),
        incident_href: details
            .incident
            .as_ref()
            .map(|i| format!("/incidents/{}", encode_segment(&i.key)))
            .unwrap_or_default(),
        reply_to: post.reply_to,
        created_iso: format_ms(post.created_at),
        created_human: human_ms(post.created_at),
        edited: post.edited_at.is_some(),
        replies_count: post.replies_count,
        reactions_count: post.reactions_count,
        reacted: details.reacted,
        focus: focus_id == Some(post.id),
    }
}

/// Cards of many posts.
pub fn cards(posts: &[PostDetails], incident_pattern: &Regex) -> Vec<CardView> {
    posts.iter().map(|p| card(p, incident_pattern, None)).collect()
}
