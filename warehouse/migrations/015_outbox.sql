-- Messages to contributors and curators (issue 33). A message is written here in the run's own
-- transaction and sent after the commit: a crash between the two sends it at the next run, and
-- its `key` (what it is about) makes it once: a hold is told once, a first publication once.
CREATE TABLE outbox (
    key             VARCHAR PRIMARY KEY,  -- retenue:<submission_id>, rappel:..., publie:<projet_id>, curateurs:<run_id>
    message_id      VARCHAR NOT NULL,     -- <...@...>, the same at every attempt
    kind            VARCHAR NOT NULL CHECK (kind IN ('retenue', 'rappel', 'publie', 'curateurs')),
    recipient       VARCHAR NOT NULL,     -- the address, as it will be written to ('' when none)
    subject         VARCHAR NOT NULL,
    body_text       VARCHAR NOT NULL,
    body_html       VARCHAR NOT NULL,
    state           VARCHAR NOT NULL CHECK (state IN ('pending', 'sent', 'refused', 'cancelled')),
    attempts        INTEGER NOT NULL,
    last_error      VARCHAR,              -- French: why it waits, was refused or cancelled
    created_run_id  VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL,   -- UTC
    last_attempt_at TIMESTAMP,            -- UTC
    sent_at         TIMESTAMP,            -- UTC
    sent_via        VARCHAR               -- smtp, or log (an .eml file written, nothing sent)
);

-- What was held or published before there were messages is not told now: nobody receives,
-- the day mail is switched on, a message about a project published months ago.
INSERT INTO outbox
SELECT 'retenue:' || submission_id, '', 'retenue', '', '', '', '', 'cancelled', 0,
       'retenue avant les messages (migration 015)', 'migration_015', current_timestamp::TIMESTAMP,
       NULL, NULL, NULL
FROM quarantine WHERE released_by IS NULL;
INSERT INTO outbox
SELECT DISTINCT 'publie:' || projet_id, '', 'publie', '', '', '', '', 'cancelled', 0,
       'publié avant les messages (migration 015)', 'migration_015', current_timestamp::TIMESTAMP,
       NULL, NULL, NULL
FROM projects;

-- A target that falls behind is news for the curators once, not at every run it stays behind.
ALTER TABLE deliveries ADD COLUMN behind_since_at TIMESTAMP;  -- UTC
UPDATE deliveries SET behind_since_at = last_attempt_at WHERE behind;
