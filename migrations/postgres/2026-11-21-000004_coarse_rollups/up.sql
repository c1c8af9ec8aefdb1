-- Coarser trend rollups, kept with the hourly ones in the post's transaction, so a long
-- window (recurring's 90 days, related's year) reads one row per tag and week or day
-- instead of one per tag and hour, and a distinct count becomes a sum.
--
-- tag_authors / tag_incidents: per tag and member, the first and the last hour it was
-- seen (what tag_hour_authors / tag_hour_incidents hold, folded over the hours).
-- tag_days / tag_weeks: per tag and period, the posts, and how many members were last
-- seen in that period. A member seen in a window is counted once, in the period of its
-- last hour when that falls inside the window; the few members seen again after the window
-- are found through the `last_hour` index. `day` = hour / 24, `week` = hour / 168 (floored).
CREATE TABLE tag_authors (
    tag_id BIGINT NOT NULL,
    author_id BIGINT NOT NULL,
    first_hour BIGINT NOT NULL,
    last_hour BIGINT NOT NULL,
    PRIMARY KEY (tag_id, author_id)
);
CREATE INDEX tag_authors_last ON tag_authors(last_hour, tag_id, first_hour);

CREATE TABLE tag_incidents (
    tag_id BIGINT NOT NULL,
    incident_id BIGINT NOT NULL,
    first_hour BIGINT NOT NULL,
    last_hour BIGINT NOT NULL,
    PRIMARY KEY (tag_id, incident_id)
);
CREATE INDEX tag_incidents_last ON tag_incidents(last_hour, tag_id, first_hour);

CREATE TABLE tag_days (
    day BIGINT NOT NULL,
    tag_id BIGINT NOT NULL,
    posts INTEGER NOT NULL,
    last_authors INTEGER NOT NULL,
    last_incidents INTEGER NOT NULL,
    PRIMARY KEY (day, tag_id)
);
CREATE INDEX tag_days_tag ON tag_days(tag_id, day);

CREATE TABLE tag_weeks (
    week BIGINT NOT NULL,
    tag_id BIGINT NOT NULL,
    posts INTEGER NOT NULL,
    last_authors INTEGER NOT NULL,
    last_incidents INTEGER NOT NULL,
    PRIMARY KEY (week, tag_id)
);
CREATE INDEX tag_weeks_tag ON tag_weeks(tag_id, week);

-- One member's hours in order: its first and last hour again after an edit or delete, and
-- whether it was seen within a window.
CREATE INDEX tag_hour_authors_member ON tag_hour_authors(tag_id, author_id, hour);
CREATE INDEX tag_hour_incidents_member ON tag_hour_incidents(tag_id, incident_id, hour);
-- The members seen in a range of hours, read from the index alone (a short window in the
-- past, where counting them directly is cheaper than following what came after).
DROP INDEX tag_hour_authors_hour;
CREATE INDEX tag_hour_authors_hour ON tag_hour_authors(hour, tag_id, author_id);
DROP INDEX tag_hour_incidents_hour;
CREATE INDEX tag_hour_incidents_hour ON tag_hour_incidents(hour, tag_id, incident_id);

-- Fill from the hourly rollups of an existing database (the indexes above make the
-- grouping a walk in order). `(x - ((x % n) + n) % n) / n` is x / n floored, also below 0.
INSERT INTO tag_authors (tag_id, author_id, first_hour, last_hour)
SELECT tag_id, author_id, MIN(hour), MAX(hour) FROM tag_hour_authors GROUP BY tag_id, author_id;
INSERT INTO tag_incidents (tag_id, incident_id, first_hour, last_hour)
SELECT tag_id, incident_id, MIN(hour), MAX(hour) FROM tag_hour_incidents GROUP BY tag_id, incident_id;
INSERT INTO tag_days (day, tag_id, posts, last_authors, last_incidents)
SELECT day, tag_id, SUM(posts), SUM(last_authors), SUM(last_incidents) FROM (
    SELECT (hour - ((hour % 24) + 24) % 24) / 24 AS day, tag_id, posts,
           0 AS last_authors, 0 AS last_incidents FROM tag_hours
    UNION ALL
    SELECT (last_hour - ((last_hour % 24) + 24) % 24) / 24, tag_id, 0, 1, 0 FROM tag_authors
    UNION ALL
    SELECT (last_hour - ((last_hour % 24) + 24) % 24) / 24, tag_id, 0, 0, 1 FROM tag_incidents
) AS parts
GROUP BY day, tag_id;
INSERT INTO tag_weeks (week, tag_id, posts, last_authors, last_incidents)
SELECT (day - ((day % 7) + 7) % 7) / 7 AS week, tag_id, SUM(posts), SUM(last_authors), SUM(last_incidents)
FROM tag_days
GROUP BY week, tag_id;

-- One tag's pairs over a window (related tags), from either side of the pair; with the
-- counts, so a year of a busy tag's pairs is read from the index alone.
CREATE INDEX tag_pair_hours_a ON tag_pair_hours(tag_a, hour, tag_b, posts);
CREATE INDEX tag_pair_hours_b ON tag_pair_hours(tag_b, hour, tag_a, posts);
-- And all pairs over a window (strongest and emerging pairs), likewise.
DROP INDEX tag_pair_hours_hour;
CREATE INDEX tag_pair_hours_hour ON tag_pair_hours(hour, tag_a, tag_b, posts);
