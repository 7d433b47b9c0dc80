-- The audit log's subject filter at tens of thousands of rows.
--
-- The dashboard filters the audit log by a case-insensitive substring of the subject. A
-- substring cannot use an index, and the log only grows, so the substring is matched
-- against every distinct subject once (a resource, branch or tool is the subject of many
-- rows) and the rows are then found by subject through an index. A trigger keeps the
-- subjects complete whoever writes the row. (Same tables as the PostgreSQL migration.)
CREATE TABLE audit_subjects (
    subject TEXT PRIMARY KEY NOT NULL
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO audit_subjects (subject) SELECT DISTINCT subject FROM audit_log;
CREATE TRIGGER audit_log_subject AFTER INSERT ON audit_log
BEGIN
    INSERT OR IGNORE INTO audit_subjects (subject) VALUES (NEW.subject);
END;
-- By subject with the columns the other filters and the order read (seq is the rowid).
CREATE INDEX audit_log_subject ON audit_log (subject, action, actor, at);
