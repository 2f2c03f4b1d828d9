"""Enrichment of authorities from their SIRET through the government's open APIs (API Recherche
d'entreprises, geo.api.gouv.fr, the BAN), with a loopback emulator of the three."""
