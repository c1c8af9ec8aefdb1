DROP TABLE post_hours;
DROP TABLE tag_pair_hours;
DROP TABLE tag_hour_incidents;
DROP TABLE tag_hour_authors;
DROP TABLE tag_hours;
