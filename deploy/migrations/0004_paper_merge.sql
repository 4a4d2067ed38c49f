-- A paper's content hash is computed by the database, from the row as it
-- will be stored, and an update that would not change it is skipped: no
-- write, no RETURNING row, hence no event. Merging happens in ingest's
-- INSERT ... ON CONFLICT DO UPDATE against the current, locked row, so two
-- writers of the same paper cannot overwrite each other's fill-ins.
-- %L quotes each field, so the hash input is unambiguous.
CREATE FUNCTION paper_content_hash () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.content_hash := md5 (format ('%s|%L|%L|%L|%L|%L|%L|%L|%L|%L|%L', NEW.version, NEW.title,
        NEW.abstract, NEW.authors, NEW.categories, NEW.published, NEW.updated, NEW.listed,
        NEW.doi, NEW.comment, NEW.journal_ref));
    IF TG_OP = 'UPDATE' AND NEW.content_hash = OLD.content_hash THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER paper_content_hash BEFORE INSERT OR UPDATE ON paper
    FOR EACH ROW EXECUTE FUNCTION paper_content_hash ();

-- Rows stored before this migration get their hash in the new form.
UPDATE paper SET content_hash = '';
