-- Aliases: a tag merged into another (its canonical tag). Posts keep the spelling they were
-- written with (post_tags is untouched); timelines, search, counters and trends read the
-- alias as its canonical tag. A canonical tag is never itself an alias (one level only).
-- Who merged and when; the full history is in audit_events (tag_merged, tag_unmerged).
CREATE TABLE tag_aliases (
    tag_id BIGINT PRIMARY KEY REFERENCES tags(id),
    canonical_id BIGINT NOT NULL REFERENCES tags(id),
    merged_by BIGINT REFERENCES users(id),
    merged_at BIGINT NOT NULL
);
CREATE INDEX tag_aliases_canonical ON tag_aliases (canonical_id);
