-- A follow-up job on a pull request Maxion opened: the feedback's source and,
-- for a review comment, the file, line and diff hunk (JSON; NULL otherwise).
ALTER TABLE jobs ADD COLUMN follow_up TEXT;
