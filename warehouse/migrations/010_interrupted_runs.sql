-- A run whose process was killed (SIGKILL, a power cut) is recorded as `interrupted` by the next
-- run, and so is one stopped by SIGTERM or Ctrl-C. DuckDB cannot change a CHECK constraint in
-- place: the table is made again, rows kept.
CREATE TABLE sync_runs_next (
    run_id        VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,          -- sync, sync_full, rebuild
    form_id       VARCHAR,
    started_at    TIMESTAMP NOT NULL,        -- UTC
    ended_at      TIMESTAMP,                 -- UTC
    status        VARCHAR NOT NULL
                  CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    fetched       INTEGER,                   -- completed submissions read from Tally
    new           INTEGER,                   -- never seen before
    updated       INTEGER,                   -- seen before with another content
    quarantined   INTEGER,                   -- in quarantine after the run
    exported      INTEGER,                   -- projects in the exports after the run
    requests      INTEGER,                   -- HTTP requests made to Tally
    error         VARCHAR,
    files_written INTEGER                    -- export files rewritten (0: left as they were)
);
INSERT INTO sync_runs_next
SELECT run_id, kind, form_id, started_at, ended_at, status, fetched, new, updated, quarantined,
       exported, requests, error, files_written
FROM sync_runs;
DROP TABLE sync_runs;
ALTER TABLE sync_runs_next RENAME TO sync_runs;
