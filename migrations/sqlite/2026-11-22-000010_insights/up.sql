-- The insights board: a pattern someone has named, with its status, owner, the tags and
-- saved search that define it, and its evidence (pinned posts and incidents), comments,
-- and notifications to responders whose notes became evidence.
CREATE TABLE insights (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    problem TEXT NOT NULL,
    -- proposed, investigating, accepted, shipped or dismissed
    status TEXT NOT NULL,
    dismissed_reason TEXT,
    owner_id BIGINT REFERENCES users(id),
    -- a search query (the i2i query language) that also defines it; "" when none
    query TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX insights_status ON insights (status, updated_at);

CREATE TABLE insight_tags (
    insight_id BIGINT NOT NULL REFERENCES insights(id),
    tag_id BIGINT NOT NULL REFERENCES tags(id),
    PRIMARY KEY (insight_id, tag_id)
);

-- kind is 'post' or 'incident'; ref_id is the post's or the incident's id
CREATE TABLE insight_evidence (
    insight_id BIGINT NOT NULL REFERENCES insights(id),
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    pinned_by BIGINT NOT NULL REFERENCES users(id),
    pinned_at BIGINT NOT NULL,
    PRIMARY KEY (insight_id, kind, ref_id)
);

CREATE TABLE insight_comments (
    id INTEGER PRIMARY KEY,
    insight_id BIGINT NOT NULL REFERENCES insights(id),
    author_id BIGINT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX insight_comments_insight ON insight_comments (insight_id, created_at);

-- What a user is told in their feed: for now, that a note of theirs became evidence.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    insight_id BIGINT REFERENCES insights(id),
    post_id BIGINT REFERENCES posts(id),
    actor_id BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
