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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn card_with(segments: Vec<SegmentView>) -> CardView {
        CardView {
            id: 1,
            author_username: "alice".into(),
            author_name: "Alice".into(),
            segments,
            incident: None,
            incident_href: String::new(),
            reply_to: None,
            created_iso: "2024-03-01T12:00:00Z".into(),
            created_human: "2024-03-01 12:00 UTC".into(),
            edited: false,
            replies_count: 0,
            reactions_count: 0,
            reacted: false,
            focus: false,
        }
    }

    /// Counts of the characters that make markup.
    fn markup(html: &str) -> [usize; 3] {
        [html.matches('<').count(), html.matches('>').count(), html.matches('"').count()]
    }

    /// Loading every template takes a while in a debug build: once for all cases.
    static TEMPLATES: std::sync::LazyLock<handlebars::Handlebars<'static>> =
        std::sync::LazyLock::new(|| crate::startup::load_templates().unwrap());

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever a body holds, the card has exactly the template's markup plus one
        /// `<a …>…</a>` (two quoted attributes) per link: nothing from the body is unescaped.
        #[test]
        fn bodies_never_add_markup(body in prop_oneof!["\\PC{0,60}", "[<>\"'&#@a-z: /INC0-9-]{0,60}"]) {
            let templates = &*TEMPLATES;
            let pattern = Regex::new(r"INC-\d+").unwrap();
            let users: Vec<String> = crate::domain::text::mentions(&body).into_iter().map(|m| m.username).collect();
            let segments = body_segments(&body, &pattern, &users);
            let links = segments.iter().filter(|s| s.kind != "text").count();
            let base = markup(&templates.render("partials/post_card", &card_with(Vec::new())).unwrap());
            let html = templates.render("partials/post_card", &card_with(segments)).unwrap();
            prop_assert_eq!(markup(&html), [base[0] + 2 * links, base[1] + 2 * links, base[2] + 4 * links]);
        }
    }
}
