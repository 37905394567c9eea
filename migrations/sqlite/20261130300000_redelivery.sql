-- Missed-delivery recovery. One row per kind of check: the lease that lets
-- one instance at a time page through GitHub's delivery log, and how far back
-- the last completed check looked.
CREATE TABLE redelivery_checks (
    name            TEXT PRIMARY KEY,
    holder          TEXT,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    last_checked_at INTEGER
);

-- Every redelivery Maxion asked GitHub for, one per event (guid): the
-- primary key is what keeps two instances from asking twice.
CREATE TABLE redelivery_requests (
    guid         TEXT PRIMARY KEY,
    delivery_id  INTEGER NOT NULL,
    event        TEXT NOT NULL,
    action       TEXT,
    holder       TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT
);
