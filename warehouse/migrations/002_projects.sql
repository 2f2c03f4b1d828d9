-- Derived layer: re-derivable at any time from the raw layer (`bibia rebuild`).
-- Columns of project_versions follow schemas/project.py (a test checks they match).

CREATE TABLE project_versions (
    projet_id               VARCHAR NOT NULL,
    coll_nom                VARCHAR NOT NULL,
    nom_projet              VARCHAR NOT NULL,
    coll_siret              VARCHAR NOT NULL,
    coll_type               VARCHAR NOT NULL,
    projet_date             VARCHAR NOT NULL,
    projet_status           VARCHAR NOT NULL,
    status_abandon          VARCHAR,
    partenaires             VARCHAR,
    usage_description       VARCHAR NOT NULL,
    theme                   VARCHAR NOT NULL,
    sous_theme              VARCHAR[],
    audience_service        VARCHAR[] NOT NULL,
    url_infos               VARCHAR,
    image_url               VARCHAR NOT NULL,
    date                    VARCHAR NOT NULL,
    latitude                DOUBLE,
    longitude               DOUBLE,
    projet_contact          VARCHAR,
    financement             VARCHAR,
    budget                  VARCHAR,
    mise_en_oeuvre          VARCHAR NOT NULL,
    herbergement            VARCHAR NOT NULL,
    nom_algorithme          VARCHAR NOT NULL,
    algorithme_description  VARCHAR,
    algorithme_operations   VARCHAR,
    type_algorithme         VARCHAR[] NOT NULL,
    impact_environnement    VARCHAR,
    donnees_source          VARCHAR[] NOT NULL,
    donnees_acces           VARCHAR[] NOT NULL,
    url_ressources          VARCHAR,
    submission_id           VARCHAR PRIMARY KEY,
    submitted_at            TIMESTAMP NOT NULL,
    coll_groupe             VARCHAR,
    extra                   JSON
);
CREATE INDEX project_versions_projet ON project_versions (projet_id);

CREATE TABLE quarantine (
    submission_id   VARCHAR PRIMARY KEY,
    submitted_at    TIMESTAMP NOT NULL,
    since_run_id    VARCHAR NOT NULL,   -- first run that held it back (kept across rebuilds)
    since_at        TIMESTAMP NOT NULL,
    reason          VARCHAR NOT NULL    -- the errors, field by field
);

CREATE TABLE validation_issues (
    run_id          VARCHAR NOT NULL,   -- run that found it
    submission_id   VARCHAR NOT NULL,
    field           VARCHAR NOT NULL,
    value           VARCHAR,
    severity        VARCHAR NOT NULL CHECK (severity IN ('error', 'warning')),
    message         VARCHAR NOT NULL
);
CREATE INDEX validation_issues_submission ON validation_issues (submission_id);

-- The taxonomy in force at the last run, for analysts' joins (codes, groups, parents).
CREATE TABLE taxonomy_terms (
    vocabulary        VARCHAR NOT NULL,
    code              VARCHAR NOT NULL,
    label             VARCHAR NOT NULL,
    parent_code       VARCHAR,
    group_label       VARCHAR,
    position          INTEGER NOT NULL,
    taxonomy_version  VARCHAR NOT NULL,
    PRIMARY KEY (vocabulary, code)
);
