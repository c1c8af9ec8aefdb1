//! Turning a post (with its author, tags and incident) into a search document.

use tantivy::{DateTime, TantivyDocument};

use super::schema::Fields;
use crate::db::posts::PostDetails;

/// The document of one live post. Incident fields are copied in (denormalised) so a
/// filter like `service:checkout` needs no join at search time.
pub fn document(fields: &Fields, details: &PostDetails) -> TantivyDocument {
    let post = &details.post;
    let mut doc = TantivyDocument::default();
    doc.add_u64(fields.id, post.id as u64);
    doc.add_text(fields.body, &post.body);
    doc.add_text(fields.body_exact, &post.body);
    for tag in &details.tags {
        doc.add_text(fields.tags, &tag.key);
    }
    doc.add_text(fields.author, &details.author.username);
    if let Some(incident) = &details.incident {
        doc.add_text(fields.incident, &incident.key);
        doc.add_text(fields.status, &incident.status);
        doc.add_text(fields.flags, "incident");
        if let Some(service) = &incident.service {
            doc.add_text(fields.service, service.to_lowercase());
        }
        if let Some(severity) = &incident.severity {
            doc.add_text(fields.severity, severity);
        }
    }
    if post.reply_to.is_some() {
        doc.add_text(fields.flags, "reply");
    }
    doc.add_date(fields.created_at, DateTime::from_timestamp_millis(post.created_at));
    doc
}
