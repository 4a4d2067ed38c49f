-- Updates that change nothing are skipped by PostgreSQL's own
-- suppress_redundant_updates_trigger, which compares the new row with the
-- old one in C: no hash of every row, and nothing at all on insert (where
-- the plpgsql hash of 0004 cost about a fifth of the database's time).
-- A skipped update writes nothing and returns no RETURNING row, hence no
-- event. Triggers of one event fire in name order: changed_at is stamped
-- only on updates that survive the check.
DROP TRIGGER paper_content_hash ON paper;
DROP FUNCTION paper_content_hash ();
ALTER TABLE paper DROP COLUMN content_hash;

CREATE TRIGGER paper_1_skip_unchanged BEFORE UPDATE ON paper
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger ();

CREATE FUNCTION paper_changed_at () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := now ();
    RETURN NEW;
END
$$;

CREATE TRIGGER paper_2_changed_at BEFORE UPDATE ON paper
    FOR EACH ROW EXECUTE FUNCTION paper_changed_at ();

-- lz4 compresses the long texts (abstracts, author lists) several times
-- faster than the default pglz, which was the database's largest single
-- cost in a bulk ingest; reads decompress faster too.
ALTER TABLE paper
    ALTER COLUMN title SET COMPRESSION lz4,
    ALTER COLUMN abstract SET COMPRESSION lz4,
    ALTER COLUMN authors SET COMPRESSION lz4,
    ALTER COLUMN comment SET COMPRESSION lz4;
