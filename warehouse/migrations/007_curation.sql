-- The publication policy, curators' decisions and correction links.

-- Fields whose absence no longer holds a project back (published, with a warning).
DROP INDEX project_versions_projet;
ALTER TABLE project_versions ALTER COLUMN image_url DROP NOT NULL;
ALTER TABLE project_versions ALTER COLUMN mise_en_oeuvre DROP NOT NULL;
ALTER TABLE project_versions ALTER COLUMN herbergement DROP NOT NULL;
ALTER TABLE project_versions ALTER COLUMN nom_algorithme DROP NOT NULL;
ALTER TABLE project_versions ALTER COLUMN type_algorithme DROP NOT NULL;
ALTER TABLE project_versions ALTER COLUMN donnees_source DROP NOT NULL;
ALTER TABLE project_versions ALTER COLUMN donnees_acces DROP NOT NULL;
CREATE INDEX project_versions_projet ON project_versions (projet_id);

ALTER TABLE project_versions ADD COLUMN lien_correction VARCHAR;  -- the form's link for this version
ALTER TABLE project_versions ADD COLUMN projet_ref VARCHAR;       -- submission it updates (link)
ALTER TABLE project_versions ADD COLUMN curation JSON;            -- fields set by curators

-- A held submission, with what a curator needs to write to its contributor.
ALTER TABLE quarantine ADD COLUMN coll_siret VARCHAR;
ALTER TABLE quarantine ADD COLUMN projet_contact VARCHAR;
ALTER TABLE quarantine ADD COLUMN projet_id VARCHAR;        -- the project it would be a version of
ALTER TABLE quarantine ADD COLUMN projet_ref VARCHAR;
ALTER TABLE quarantine ADD COLUMN lien_correction VARCHAR;
ALTER TABLE quarantine ADD COLUMN curation JSON;
ALTER TABLE quarantine ADD COLUMN released_by VARCHAR;      -- a later submission of its project

-- The decisions of the curators' file as the last run applied them.
CREATE TABLE curator_decisions (
    decision_id    VARCHAR PRIMARY KEY,
    action         VARCHAR NOT NULL CHECK (action IN ('correct', 'withdraw')),
    submission_id  VARCHAR,            -- correct: the submission corrected
    field          VARCHAR,            -- correct: the field set
    value          JSON,               -- correct: the value set
    projet_id      VARCHAR,            -- the project (withdraw: the one kept out of the exports)
    reason         VARCHAR NOT NULL,
    decided_by     VARCHAR NOT NULL,
    decided_at     TIMESTAMP NOT NULL, -- UTC
    ended_by       VARCHAR,
    ended_at       TIMESTAMP,          -- UTC: revoked, or restored
    end_reason     VARCHAR,
    state          VARCHAR NOT NULL CHECK (state IN ('in_force', 'no_longer_applies', 'unknown', 'ended'))
);

-- The register: withdrawn projects are kept out of it (and so out of both exports).
CREATE OR REPLACE VIEW projects AS
SELECT *
FROM project_versions
WHERE submission_id IN (
    SELECT max_by(submission_id, (submitted_at, submission_id))
    FROM project_versions
    GROUP BY projet_id
)
AND projet_id NOT IN (
    SELECT projet_id FROM curator_decisions
    WHERE action = 'withdraw' AND state = 'in_force' AND projet_id IS NOT NULL
);

CREATE OR REPLACE VIEW restricted_projects AS
SELECT projet_id, coll_nom, nom_projet, coll_siret, coll_type, projet_date, projet_status,
       status_abandon, partenaires, usage_description, theme, sous_theme, audience_service,
       url_infos, image_url, date, latitude, longitude,
       projet_contact, financement, budget, mise_en_oeuvre, herbergement, nom_algorithme,
       algorithme_description, algorithme_operations, type_algorithme, impact_environnement,
       donnees_source, donnees_acces, url_ressources, lien_correction
FROM projects
ORDER BY projet_id;
