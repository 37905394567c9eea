-- What a job produced: the brief it gave the agent (shown by the API) and
-- the branch and pull request it shipped (so a follow-up or a retry can find
-- them without asking GitHub).
ALTER TABLE jobs ADD COLUMN brief TEXT;
ALTER TABLE jobs ADD COLUMN branch TEXT;
ALTER TABLE jobs ADD COLUMN pr_number BIGINT;
