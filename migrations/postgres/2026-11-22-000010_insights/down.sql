DROP TABLE notifications;
DROP TABLE insight_comments;
DROP TABLE insight_evidence;
DROP TABLE insight_tags;
DROP TABLE insights;
