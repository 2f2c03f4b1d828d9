-- Two paths bring a submission: polling Tally's API, and Tally's webhook (`bibia webhook`).
-- Each raw row records the path that brought it first, and when polling last brought it: a
-- submission only the webhook has brought never moves the polling's high-water mark (a missed
-- delivery before it would be skipped) and is never withdrawn by a full refresh.
ALTER TABLE raw_tally_submissions ADD COLUMN landed_by VARCHAR DEFAULT 'api';
ALTER TABLE raw_tally_submissions ADD COLUMN polled_at TIMESTAMP;
UPDATE raw_tally_submissions SET polled_at = content_seen_at;
