-- What a curator needs to recognise a held submission at a glance (as typed, before checks).
ALTER TABLE quarantine ADD COLUMN coll_nom VARCHAR;
ALTER TABLE quarantine ADD COLUMN nom_projet VARCHAR;
