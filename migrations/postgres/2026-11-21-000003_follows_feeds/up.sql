-- Followed tags, and a per-user token that authenticates feed readers (rotatable).
CREATE TABLE follows (
    user_id BIGINT NOT NULL REFERENCES users(id),
    tag_id BIGINT NOT NULL REFERENCES tags(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, tag_id)
);
CREATE INDEX follows_tag ON follows(tag_id);

CREATE TABLE feed_tokens (
    user_id BIGINT PRIMARY KEY NOT NULL REFERENCES users(id),
    token TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
