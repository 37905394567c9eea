-- The status comment posted when a job is admitted: the job edits it by id
-- instead of searching the issue's comments for its marker.
ALTER TABLE jobs ADD COLUMN status_comment_id BIGINT;
