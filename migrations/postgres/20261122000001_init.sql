-- Maxion's store, PostgreSQL flavour. Times are Unix milliseconds (BIGINT) so
-- both backends share one Rust code path through sqlx's Any driver.

CREATE TABLE installations (
    id            BIGINT PRIMARY KEY,
    account_login TEXT    NOT NULL,
    account_id    BIGINT  NOT NULL,
    suspended_at  BIGINT,
    deleted_at    BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE installation_repositories (
    installation_id BIGINT  NOT NULL,
    repo_id         BIGINT  NOT NULL,
    full_name       TEXT    NOT NULL,
    PRIMARY KEY (installation_id, repo_id)
);

CREATE TABLE jobs (
    id                 BIGSERIAL PRIMARY KEY,
    state              TEXT    NOT NULL,
    installation_id    BIGINT  NOT NULL,
    repo_id            BIGINT  NOT NULL,
    repo_full_name     TEXT    NOT NULL,
    clone_url          TEXT    NOT NULL,
    default_branch     TEXT    NOT NULL,
    issue_number       BIGINT  NOT NULL,
    issue_title        TEXT    NOT NULL,
    trigger_kind       TEXT    NOT NULL,
    trigger_comment_id BIGINT,
    sender_login       TEXT    NOT NULL,
    sender_id          BIGINT  NOT NULL,
    instructions       TEXT,
    delivery_id        TEXT    NOT NULL,
    attempts           BIGINT  NOT NULL DEFAULT 0,
    step               TEXT,
    error              TEXT,
    lease_owner        TEXT,
    lease_expires_at   BIGINT,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    started_at         BIGINT,
    finished_at        BIGINT
);

-- At most one active job per (repository, issue).
CREATE UNIQUE INDEX jobs_one_active ON jobs (repo_id, issue_number) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_state ON jobs (state, id);

CREATE TABLE deliveries (
    id          TEXT    PRIMARY KEY,
    event       TEXT    NOT NULL,
    action      TEXT,
    received_at BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL,
    detail      TEXT,
    job_id      BIGINT  REFERENCES jobs (id)
);

CREATE TABLE job_triggers (
    id           BIGSERIAL PRIMARY KEY,
    job_id       BIGINT  NOT NULL REFERENCES jobs (id),
    delivery_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    sender_login TEXT    NOT NULL,
    instructions TEXT,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX job_triggers_by_job ON job_triggers (job_id);

CREATE TABLE job_events (
    id     BIGSERIAL PRIMARY KEY,
    job_id BIGINT  NOT NULL REFERENCES jobs (id),
    at     BIGINT  NOT NULL,
    kind   TEXT    NOT NULL,
    data   TEXT    NOT NULL
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);
