-- The audit log's subject filter at tens of thousands of rows.
--
-- The dashboard filters the audit log by a case-insensitive substring of the subject. A
-- substring cannot use an index, and the log only grows, so the substring is matched
-- against every distinct subject once (a resource, branch or tool is the subject of many
-- rows) and the rows are then found by subject through an index. A trigger keeps the
-- subjects complete whoever writes the row.
--
-- A subject has no length limit and a b-tree entry does (about 2.7 kB), so subjects are
-- kept unique by their MD5 and the log is indexed by a hash of the subject, which
-- answers the equality lookups the filter makes.
CREATE TABLE audit_subjects (
    subject TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_subjects_digest ON audit_subjects (md5(subject));
INSERT INTO audit_subjects (subject) SELECT DISTINCT subject FROM audit_log;
CREATE FUNCTION audit_log_subject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_subjects (subject) VALUES (NEW.subject)
        ON CONFLICT (md5(subject)) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_log_subject AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_subject();
CREATE INDEX audit_log_subject ON audit_log USING hash (subject);
