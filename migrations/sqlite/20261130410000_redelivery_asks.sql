-- How many times Maxion asked GitHub to redeliver each event: a redelivery
-- that fails again is asked for again at a later check, up to a bound.
ALTER TABLE redelivery_requests ADD COLUMN asks INTEGER NOT NULL DEFAULT 1;
