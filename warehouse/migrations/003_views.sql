-- Views: the latest valid version of each project, the two exports, and analysts' counts.
-- Export column lists follow schemas/project.py's access metadata (a test checks they match).

CREATE VIEW projects AS
SELECT *
FROM project_versions
QUALIFY row_number() OVER (
    PARTITION BY projet_id ORDER BY submitted_at DESC, submission_id DESC
) = 1;

CREATE VIEW public_projects AS
SELECT projet_id, coll_nom, nom_projet, coll_siret, coll_type, projet_date, projet_status,
       status_abandon, partenaires, usage_description, theme, sous_theme, audience_service,
       url_infos, image_url, date, latitude, longitude
FROM projects
ORDER BY projet_id;

CREATE VIEW restricted_projects AS
SELECT projet_id, coll_nom, nom_projet, coll_siret, coll_type, projet_date, projet_status,
       status_abandon, partenaires, usage_description, theme, sous_theme, audience_service,
       url_infos, image_url, date, latitude, longitude,
       projet_contact, financement, budget, mise_en_oeuvre, herbergement, nom_algorithme,
       algorithme_description, algorithme_operations, type_algorithme, impact_environnement,
       donnees_source, donnees_acces, url_ressources
FROM projects
ORDER BY projet_id;

CREATE VIEW stats_by_theme AS
SELECT t.label AS theme, count(p.projet_id) AS projects
FROM taxonomy_terms t LEFT JOIN projects p ON p.theme = t.label
WHERE t.vocabulary = 'theme'
GROUP BY t.label, t.position ORDER BY t.position;

CREATE VIEW stats_by_sous_theme AS
SELECT th.label AS theme, t.label AS sous_theme, count(p.projet_id) AS projects
FROM taxonomy_terms t
JOIN taxonomy_terms th ON th.vocabulary = 'theme' AND th.code = t.parent_code
LEFT JOIN (SELECT projet_id, unnest(sous_theme) AS sous_theme FROM projects) p
       ON p.sous_theme = t.label
WHERE t.vocabulary = 'sous_theme'
GROUP BY th.label, th.position, t.label, t.position ORDER BY th.position, t.position;

CREATE VIEW stats_by_coll_type AS
SELECT coll_groupe, coll_type, count(*) AS projects, count(DISTINCT left(coll_siret, 9)) AS authorities
FROM projects GROUP BY coll_groupe, coll_type ORDER BY projects DESC, coll_type;

CREATE VIEW stats_by_coll_groupe AS
SELECT coll_groupe, count(*) AS projects, count(DISTINCT left(coll_siret, 9)) AS authorities
FROM projects GROUP BY coll_groupe ORDER BY projects DESC, coll_groupe;

CREATE VIEW stats_by_maturity AS
SELECT t.label AS projet_status, count(p.projet_id) AS projects
FROM taxonomy_terms t LEFT JOIN projects p ON p.projet_status = t.label
WHERE t.vocabulary = 'projet_status'
GROUP BY t.label, t.position ORDER BY t.position;

CREATE VIEW stats_by_start_year AS
SELECT CAST(left(projet_date, 4) AS INTEGER) AS start_year, count(*) AS projects
FROM projects GROUP BY start_year ORDER BY start_year;
