-- Where the register is delivered beyond the disk (issue 31): each target's last success and
-- what waits. A delivery that fails never fails the run: the target is marked behind, with
-- its reason, and the next run (or `bibia publish`) tries again.
CREATE TABLE deliveries (
    target          VARCHAR PRIMARY KEY CHECK (target IN ('site', 'feed', 'datagouv')),
    address         VARCHAR NOT NULL,  -- the repository or the dataset (never a secret)
    behind          BOOLEAN NOT NULL,  -- what is published on disk has not all reached it
    reason          VARCHAR,           -- why, in French, when behind
    last_attempt_at TIMESTAMP NOT NULL,  -- UTC
    last_success_at TIMESTAMP,         -- UTC
    last_commit     VARCHAR,           -- git: the commit pushed last
    last_run_id     VARCHAR            -- the run (or `publish`) that delivered last
);

-- data.gouv.fr: the resource of each file, kept across runs (its id and stable address stay),
-- and the digest of what it holds (a file that did not change is not uploaded again).
CREATE TABLE datagouv_resources (
    file_name   VARCHAR PRIMARY KEY,
    resource_id VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    uploaded_at TIMESTAMP NOT NULL     -- UTC
);
