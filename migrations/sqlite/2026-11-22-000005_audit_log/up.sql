-- The audit log: one row per security-relevant action (logins, failed logins, logouts,
-- account changes, admins deleting others' posts), written in the action's transaction.
-- actor_id is NULL when nobody was logged in (a failed login) or the command line acted;
-- target names what was acted on, e.g. `user:alice` or `post:42`; detail is a JSON object.
-- AUTOINCREMENT so an id is never reused: ids are the paging cursor and stay stable.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users(id),
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    ip TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_action ON audit_events(action, id);
