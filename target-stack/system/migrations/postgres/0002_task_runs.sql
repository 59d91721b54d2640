-- One row per delivery a worker handled: which task, on which worker, when it started and
-- ended and how. Scenario 2 correlates enqueue → start → end from it, and the local stack
-- counts each worker's open rows to protect busy workers from scale-in.
-- Keep in step with ../sqlite/0002_task_runs.sql.
CREATE TABLE task_runs (
    id            BIGSERIAL PRIMARY KEY,
    task_id       TEXT    NOT NULL,
    video_id      BIGINT  NOT NULL,
    worker        TEXT    NOT NULL,
    receive_count BIGINT  NOT NULL,
    enqueued_at   BIGINT  NOT NULL,
    started_at    BIGINT  NOT NULL,
    finished_at   BIGINT,
    -- processed | already_done | gone | failed; NULL while the task runs.
    outcome       TEXT
);
CREATE INDEX task_runs_task ON task_runs (task_id);
CREATE INDEX task_runs_started ON task_runs (started_at);
CREATE INDEX task_runs_open ON task_runs (worker) WHERE finished_at IS NULL;
