-- `projects`: each project's latest valid version, now picked by an aggregate over three narrow
-- columns instead of a window over whole rows. The same rows; the window sorted every column
-- of every version, which needed memory in proportion to the warehouse, and a run gives DuckDB
-- 64 MB. Views that read `projects` pick this definition up by name.
CREATE OR REPLACE VIEW projects AS
SELECT *
FROM project_versions
WHERE submission_id IN (
    SELECT max_by(submission_id, (submitted_at, submission_id))
    FROM project_versions
    GROUP BY projet_id
);
