-- Maxion's store, SQLite flavour. Times are Unix milliseconds (INTEGER) so
-- both backends share one Rust code path through sqlx's Any driver.

CREATE TABLE installations (
    id            INTEGER PRIMARY KEY,
    account_login TEXT    NOT NULL,
    account_id    INTEGER NOT NULL,
    suspended_at  INTEGER,
    deleted_at    INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE installation_repositories (
    installation_id INTEGER NOT NULL,
    repo_id         INTEGER NOT NULL,
    full_name       TEXT    NOT NULL,
    PRIMARY KEY (installation_id, repo_id)
);

CREATE TABLE jobs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    state              TEXT    NOT NULL,
    installation_id    INTEGER NOT NULL,
    repo_id            INTEGER NOT NULL,
    repo_full_name     TEXT    NOT NULL,
    clone_url          TEXT    NOT NULL,
    default_branch     TEXT    NOT NULL,
    issue_number       INTEGER NOT NULL,
    issue_title        TEXT    NOT NULL,
    trigger_kind       TEXT    NOT NULL,
    trigger_comment_id INTEGER,
    sender_login       TEXT    NOT NULL,
    sender_id          INTEGER NOT NULL,
    instructions       TEXT,
    delivery_id        TEXT    NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    step               TEXT,
    error              TEXT,
    lease_owner        TEXT,
    lease_expires_at   INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    started_at         INTEGER,
    finished_at        INTEGER
);

-- At most one active job per (repository, issue).
CREATE UNIQUE INDEX jobs_one_active ON jobs (repo_id, issue_number) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_state ON jobs (state, id);

CREATE TABLE deliveries (
    id          TEXT    PRIMARY KEY,
    event       TEXT    NOT NULL,
    action      TEXT,
    received_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    detail      TEXT,
    job_id      INTEGER REFERENCES jobs (id)
);

CREATE TABLE job_triggers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL REFERENCES jobs (id),
    delivery_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    sender_login TEXT    NOT NULL,
    instructions TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX job_triggers_by_job ON job_triggers (job_id);

CREATE TABLE job_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    data   TEXT    NOT NULL
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);
