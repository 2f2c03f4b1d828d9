-- Raw layer: what Tally sent, exactly as received. Never rewritten by a derivation.

CREATE TABLE sync_runs (
    run_id        VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,          -- sync, sync_full, rebuild
    form_id       VARCHAR,
    started_at    TIMESTAMP NOT NULL,        -- UTC
    ended_at      TIMESTAMP,                 -- UTC
    status        VARCHAR NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    fetched       INTEGER,                   -- completed submissions read from Tally
    new           INTEGER,                   -- never seen before
    updated       INTEGER,                   -- seen before with another content
    quarantined   INTEGER,                   -- in quarantine after the run
    exported      INTEGER,                   -- projects in the exports after the run
    requests      INTEGER,                   -- HTTP requests made to Tally
    error         VARCHAR
);

-- One snapshot of the form's questions and definition per distinct content.
CREATE TABLE raw_tally_forms (
    form_id       VARCHAR NOT NULL,
    content_hash  VARCHAR NOT NULL,
    questions     JSON NOT NULL,
    definition    JSON,
    run_id        VARCHAR NOT NULL,
    fetched_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (form_id, content_hash)
);

CREATE TABLE raw_tally_submissions (
    submission_id      VARCHAR PRIMARY KEY,
    form_id            VARCHAR NOT NULL,
    respondent_id      VARCHAR,
    submitted_at       TIMESTAMP NOT NULL,   -- UTC
    payload            JSON NOT NULL,        -- the submission object exactly as received
    content_hash       VARCHAR NOT NULL,     -- sha256 of the canonical payload
    first_run_id       VARCHAR NOT NULL,     -- run that first saw it
    content_run_id     VARCHAR NOT NULL,     -- run that first saw this content
    first_seen_at      TIMESTAMP NOT NULL,
    content_seen_at    TIMESTAMP NOT NULL,
    deleted_run_id     VARCHAR,              -- full run that no longer found it in Tally
    deleted_at         TIMESTAMP
);
CREATE INDEX raw_tally_submissions_form ON raw_tally_submissions (form_id, submitted_at);

-- Every content a submission ever had (an edit in Tally keeps the id, changes the content).
CREATE TABLE raw_tally_submission_history (
    submission_id  VARCHAR NOT NULL,
    content_hash   VARCHAR NOT NULL,
    payload        JSON NOT NULL,
    run_id         VARCHAR NOT NULL,
    seen_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (submission_id, content_hash)
);
