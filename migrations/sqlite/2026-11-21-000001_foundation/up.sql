-- Foundation schema (SQLite). Times are Unix milliseconds (BIGINT) so both backends
-- compare, bucket and sort them the same way.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    severity TEXT,
    status TEXT NOT NULL,
    service TEXT,
    started_at BIGINT NOT NULL,
    resolved_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX incidents_status ON incidents(status, started_at);

CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    author_id BIGINT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL,
    incident_id BIGINT REFERENCES incidents(id),
    reply_to BIGINT REFERENCES posts(id),
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    deleted_at BIGINT,
    replies_count INTEGER NOT NULL DEFAULT 0,
    reactions_count INTEGER NOT NULL DEFAULT 0,
    import_key TEXT UNIQUE
);
CREATE INDEX posts_created ON posts(created_at, id);
CREATE INDEX posts_incident ON posts(incident_id, created_at, id);
CREATE INDEX posts_author ON posts(author_id, created_at, id);
CREATE INDEX posts_reply_to ON posts(reply_to);

CREATE TABLE post_versions (
    id INTEGER PRIMARY KEY,
    post_id BIGINT NOT NULL REFERENCES posts(id),
    body TEXT NOT NULL,
    written_at BIGINT NOT NULL,
    replaced_at BIGINT NOT NULL
);
CREATE INDEX post_versions_post ON post_versions(post_id, id);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    display TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- created_at is the post's, copied here so a tag timeline is one index range scan.
CREATE TABLE post_tags (
    post_id BIGINT NOT NULL REFERENCES posts(id),
    tag_id BIGINT NOT NULL REFERENCES tags(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, tag_id)
);
CREATE INDEX post_tags_tag ON post_tags(tag_id, created_at, post_id);

CREATE TABLE post_mentions (
    post_id BIGINT NOT NULL REFERENCES posts(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (post_id, user_id)
);

CREATE TABLE reactions (
    post_id BIGINT NOT NULL REFERENCES posts(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, user_id)
);

-- The change feed: one row per post insert, edit or delete. With a single writer,
-- AUTOINCREMENT positions are handed out in commit order, so the feed has no gaps.
CREATE TABLE post_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
