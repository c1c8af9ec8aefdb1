DROP TABLE tag_aliases;
