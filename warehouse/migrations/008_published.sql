-- What the exports hold as published: each file's digest, size and modification time, and the
-- configuration they were made with. A run that brings nothing new checks the files against
-- it and rewrites nothing; a run whose publication failed after its commit is noticed (and
-- repaired) by the next one.
CREATE TABLE published_files (
    path          VARCHAR PRIMARY KEY,  -- relative to BIBIA_EXPORT_DIR
    sha256        VARCHAR NOT NULL,
    size          BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,      -- of the file once published
    run_id        VARCHAR NOT NULL,     -- run that wrote these bytes
    published_at  TIMESTAMP NOT NULL    -- UTC
);

CREATE TABLE export_inputs (
    fingerprint   VARCHAR NOT NULL,     -- taxonomy, mapping, decisions, links, bibia version
    run_id        VARCHAR NOT NULL
);

-- How many export files a run rewrote (0: nothing new, the exports were left as they were).
ALTER TABLE sync_runs ADD COLUMN files_written INTEGER;
