-- What each project of the public export puts in the files made from every project: its card
-- in the site's list (and on its map) and its line of the Datami feed, with what they were made
-- from. A run makes them only for the projects that changed, and reads the others from here (at
-- 50,000 projects, making every card and line took 2.6 s of a run that brought 100 new
-- submissions). Written in the run's transaction, with the files it stages.
CREATE TABLE site_cards (
    projet_id VARCHAR NOT NULL,
    made_from VARCHAR NOT NULL,
    html VARCHAR NOT NULL,
    point VARCHAR NOT NULL,
    feed VARCHAR NOT NULL
);
