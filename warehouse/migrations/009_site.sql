-- The site: one page per project, made again only when what it is made from changes. Each
-- published file may record a digest of its inputs (for a project's page: its row, the site's
-- code, the edition and the taxonomy's version); NULL for files made anew at every publication.
ALTER TABLE published_files ADD COLUMN made_from VARCHAR;
