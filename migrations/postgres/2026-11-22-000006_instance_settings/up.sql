-- Settings every node of an instance shares, such as the token signing secret when none is
-- configured: the first node to start generates it, and every node then reads the same one.
CREATE TABLE instance_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
