-- One row per model call through the LLM gateway: what a job used, and what
-- an installation spent per UTC day (MAXION_DAILY_COST_BUDGET).
CREATE TABLE llm_calls (
    id                BIGSERIAL PRIMARY KEY,
    job_id            BIGINT  NOT NULL REFERENCES jobs(id),
    installation_id   BIGINT  NOT NULL,
    at                BIGINT  NOT NULL,
    provider          TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    status            INTEGER NOT NULL,
    input_tokens      BIGINT  NOT NULL,
    cached_tokens     BIGINT  NOT NULL,
    output_tokens     BIGINT  NOT NULL,
    reasoning_tokens  BIGINT  NOT NULL,
    latency_ms        BIGINT  NOT NULL,
    usage_reported    INTEGER NOT NULL,
    -- Millionths of a USD; NULL: the model is not in the price table.
    cost_micro_usd    BIGINT
);
CREATE INDEX llm_calls_job ON llm_calls (job_id);
CREATE INDEX llm_calls_installation_at ON llm_calls (installation_id, at);
