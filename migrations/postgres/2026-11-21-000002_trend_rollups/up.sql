-- Trend rollups, written in the same transaction as the post they count. `hour` is
-- created_at / 3 600 000 (hours since the epoch, UTC). The set tables keep a post count per
-- member so an edit or delete can take a member out exactly when its last post goes.
CREATE TABLE tag_hours (
    tag_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    posts INTEGER NOT NULL,
    PRIMARY KEY (tag_id, hour)
);
CREATE INDEX tag_hours_hour ON tag_hours(hour, tag_id);

CREATE TABLE tag_hour_authors (
    tag_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    author_id BIGINT NOT NULL,
    posts INTEGER NOT NULL,
    PRIMARY KEY (tag_id, hour, author_id)
);
CREATE INDEX tag_hour_authors_hour ON tag_hour_authors(hour, tag_id);

CREATE TABLE tag_hour_incidents (
    tag_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    incident_id BIGINT NOT NULL,
    posts INTEGER NOT NULL,
    PRIMARY KEY (tag_id, hour, incident_id)
);
CREATE INDEX tag_hour_incidents_hour ON tag_hour_incidents(hour, tag_id);

-- Co-occurrence: posts carrying both tags, tag_a < tag_b.
CREATE TABLE tag_pair_hours (
    tag_a BIGINT NOT NULL,
    tag_b BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    posts INTEGER NOT NULL,
    PRIMARY KEY (tag_a, tag_b, hour)
);
CREATE INDEX tag_pair_hours_hour ON tag_pair_hours(hour);

-- All posts per hour (tagged or not): the denominator of co-occurrence statistics.
CREATE TABLE post_hours (
    hour BIGINT PRIMARY KEY NOT NULL,
    posts INTEGER NOT NULL
);
