-- Admission and control (issue 6). A new job waits in 'received' until the
-- control loop has checked its sender's permission; 'received' counts as
-- active so that a second trigger joins it instead of creating another job.
DROP INDEX jobs_one_active;
CREATE UNIQUE INDEX jobs_one_active ON jobs (repo_id, issue_number) WHERE state IN ('received', 'queued', 'running');

-- Who asked to cancel a running job. The worker holding the job sees it on
-- its next heartbeat, whichever instance took the request.
ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;

-- What the control loop must act on, written in the same transaction as the
-- delivery that asked for it, processed in order per issue, exactly once.
CREATE TABLE control_requests (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  TEXT    NOT NULL,
    repo_id      BIGINT NOT NULL,
    issue_number BIGINT NOT NULL,
    sender_login TEXT    NOT NULL,
    data         TEXT    NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    not_before   BIGINT NOT NULL DEFAULT 0,
    processed_at BIGINT,
    outcome      TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX control_requests_pending ON control_requests (processed_at, id);
CREATE INDEX control_requests_by_issue ON control_requests (repo_id, issue_number, id);
