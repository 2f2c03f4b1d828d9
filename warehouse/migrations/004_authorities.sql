-- Authorities as the official register knows them, keyed by SIRET: the enrichment's cache and
-- analysts' reference. No personal data (the register's list of elected officials is dropped).

CREATE TABLE authorities (
    siret                   VARCHAR PRIMARY KEY,
    siren                   VARCHAR NOT NULL,
    found                   BOOLEAN NOT NULL,      -- known to the register
    official_name           VARCHAR,               -- nom_raison_sociale
    legal_category          VARCHAR,               -- INSEE nature juridique, 4 digits
    legal_category_label    VARCHAR,
    unit_state              VARCHAR,               -- A active, C ceased (legal unit)
    establishment_state     VARCHAR,               -- A active, F closed (this SIRET)
    commune_insee           VARCHAR,               -- INSEE code of the seat's commune
    latitude                DOUBLE,                -- the authority's seat (WGS84)
    longitude               DOUBLE,
    coords_source           VARCHAR,               -- recherche-entreprises, geo-commune, geo-epci, ban
    fetched_at              TIMESTAMP NOT NULL,    -- UTC
    expires_at              TIMESTAMP NOT NULL     -- UTC; after it, looked up again
);
