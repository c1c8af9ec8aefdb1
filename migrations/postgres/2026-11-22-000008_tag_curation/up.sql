-- What designers and analysts say about a tag: a description (shown on the tag page), an
-- optional type (service, symptom, cause, customer-impact, workaround or a custom word),
-- and whether trends leave it out (noise such as #degraded); who changed it last and when.
-- The full history of changes is in audit_events (action tag_curated).
CREATE TABLE tag_curation (
    tag_id BIGINT PRIMARY KEY REFERENCES tags(id),
    description TEXT NOT NULL,
    kind TEXT,
    hidden_from_trends INTEGER NOT NULL,
    updated_by BIGINT REFERENCES users(id),
    updated_at BIGINT NOT NULL
);
