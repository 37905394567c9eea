-- A job's end, recorded before it is shown on GitHub: a process killed while
-- showing it leaves this behind, and the next start records the end and shows
-- it instead of running the job again (which opened a second check run and,
-- killed again, failed a job whose pull request existed as "interrupted").
ALTER TABLE jobs ADD COLUMN pending_end_state TEXT;
ALTER TABLE jobs ADD COLUMN pending_end_reason TEXT;
-- The end as the reporter words it (JSON of jobs::JobEnd, masked).
ALTER TABLE jobs ADD COLUMN pending_end TEXT;
