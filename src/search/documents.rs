//! Turning a post (with its author, tags and incident) into a search document.

use tantivy::{DateTime, TantivyDocument};

use super::schema::Fields;
use crate::db::posts::PostDetails;

/// What a document is made of, borrowed from wherever the post is held: database rows
/// ([`document`]) or the bulk loader's parsed lines.
pub struct DocumentParts<'a> {
    pub id: i64,
    pub body: &'a str,
    pub tag_keys: Vec<&'a str>,
    pub author: &'a str,
    pub incident: Option<IncidentParts<'a>>,
    pub reply: bool,
    pub created_at: i64,
}

/// The incident fields copied into each of its posts' documents.
#[derive(Clone, Copy)]
pub struct IncidentParts<'a> {
    pub key: &'a str,
    pub status: &'a str,
    pub service: Option<&'a str>,
    pub severity: Option<&'a str>,
}

/// The document of one live post.
pub fn document(fields: &Fields, details: &PostDetails) -> TantivyDocument {
    let post = &details.post;
    build(
        fields,
        &DocumentParts {
            id: post.id,
            body: &post.body,
            tag_keys: details.tags.iter().map(|tag| tag.key.as_str()).collect(),
            author: &details.author.username,
            incident: details.incident.as_ref().map(|incident| IncidentParts {
                key: &incident.key,
                status: &incident.status,
                service: incident.service.as_deref(),
                severity: incident.severity.as_deref(),
            }),
            reply: post.reply_to.is_some(),
            created_at: post.created_at,
        },
    )
}

/// Builds a document from its parts. Incident fields are copied in (denormalised) so a
/// filter like `service:checkout` needs no join at search time.
pub fn build(fields: &Fields, parts: &DocumentParts) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_u64(fields.id, parts.id as u64);
    doc.add_text(fields.body, parts.body);
    doc.add_text(fields.body_exact, parts.body);
    doc.add_text(fields.body_pairs, parts.body);
    for key in &parts.tag_keys {
        doc.add_text(fields.tags, key);
    }
    doc.add_text(fields.author, parts.author);
    if let Some(incident) = &parts.incident {
        doc.add_text(fields.incident, incident.key);
        doc.add_text(fields.status, incident.status);
        doc.add_text(fields.flags, "incident");
        if let Some(service) = incident.service {
            doc.add_text(fields.service, service.to_lowercase());
        }
        if let Some(severity) = incident.severity {
            doc.add_text(fields.severity, severity);
        }
    }
    if parts.reply {
        doc.add_text(fields.flags, "reply");
    }
    // Clamped: a note stored before the range of note times was enforced may lie beyond
    // the nanoseconds the index holds, and would otherwise overflow.
    let created_at = crate::domain::time::clamp_to_index(parts.created_at);
    doc.add_date(fields.created_at, DateTime::from_timestamp_millis(created_at));
    doc
}
