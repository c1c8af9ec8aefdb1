DROP INDEX audit_events_action;
DROP TABLE audit_events;
