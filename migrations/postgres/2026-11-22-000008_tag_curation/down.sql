DROP TABLE tag_curation;
