-- One counter, bumped in the same transaction as every write that changes the trend
-- rollups of an hour already past (a backdated or imported post, an edit or delete of an
-- older post, a bulk load, a rebuild) or an incident's title. Answers about windows that
-- ended a while ago are remembered under it, so live posting (which only touches the
-- current hour) leaves them valid, and any change to the past invalidates them at once.
CREATE TABLE rollup_epoch (
    id INTEGER PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO rollup_epoch (id, epoch) VALUES (1, 0);
