-- What no sender may do: stop a run, or make a withdrawal come undone.

-- What a run received and could not land as it was (a text that is not valid UTF-8, a number
-- past 64 bits, nesting past the landing's limit, a respondent that is not a text, an event of
-- another form...): set aside with its reason, never a failed run. One row for one thing
-- received, however many runs meet it again; `bibia status` shows them.
CREATE TABLE set_aside (
    set_aside_id  VARCHAR PRIMARY KEY,  -- sha256 of where it came from and what it was
    source        VARCHAR NOT NULL CHECK (source IN ('api', 'webhook')),
    submission_id VARCHAR,              -- when it names one
    reason        VARCHAR NOT NULL,     -- in French, for the curators
    received      VARCHAR NOT NULL,     -- what came, escaped, cut at 4,000 characters
    spool_file    VARCHAR,              -- webhook: the event's file, under the spool's set_aside/
    first_run_id  VARCHAR NOT NULL,
    first_at      TIMESTAMP NOT NULL,   -- UTC
    last_run_id   VARCHAR NOT NULL,
    last_at       TIMESTAMP NOT NULL    -- UTC
);

-- A withdrawal follows its project across corrections: the submissions that made the project
-- withdrawn, kept from run to run (a curator's correction of its name, or the contributor's
-- edit, gives it a new `projet_id`; its submissions stay the same).
CREATE TABLE withdrawn_submissions (
    decision_id   VARCHAR NOT NULL,
    submission_id VARCHAR NOT NULL,
    PRIMARY KEY (decision_id, submission_id)
);

-- Every project a withdrawal in force keeps out, under whichever id it has now.
CREATE TABLE withdrawn_projects (
    decision_id VARCHAR NOT NULL,
    projet_id   VARCHAR NOT NULL,
    PRIMARY KEY (decision_id, projet_id)
);

-- A hand-written decision that does not hold is refused (and applied to nothing).
CREATE TABLE curator_decisions_013 (
    decision_id    VARCHAR PRIMARY KEY,
    action         VARCHAR NOT NULL CHECK (action IN ('correct', 'withdraw')),
    submission_id  VARCHAR,
    field          VARCHAR,
    value          JSON,
    projet_id      VARCHAR,
    reason         VARCHAR NOT NULL,
    decided_by     VARCHAR NOT NULL,
    decided_at     TIMESTAMP NOT NULL,
    ended_by       VARCHAR,
    ended_at       TIMESTAMP,
    end_reason     VARCHAR,
    state          VARCHAR NOT NULL
        CHECK (state IN ('in_force', 'no_longer_applies', 'unknown', 'ended', 'refused')),
    state_note     VARCHAR              -- refused: why; a withdrawal that follows: the new ids
);
INSERT INTO curator_decisions_013 SELECT *, NULL FROM curator_decisions;
DROP TABLE curator_decisions;
ALTER TABLE curator_decisions_013 RENAME TO curator_decisions;

CREATE OR REPLACE VIEW projects AS
SELECT *
FROM project_versions
WHERE submission_id IN (
    SELECT max_by(submission_id, (submitted_at, submission_id))
    FROM project_versions
    GROUP BY projet_id
)
AND projet_id NOT IN (SELECT projet_id FROM withdrawn_projects);
