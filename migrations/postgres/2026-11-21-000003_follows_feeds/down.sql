DROP TABLE feed_tokens;
DROP TABLE follows;
