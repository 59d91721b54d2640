-- The ANB schema on PostgreSQL. Keep in step with ../sqlite/0001_init.sql: the queries in
-- src/db are shared, so column names and types must mean the same on both.
-- Times are milliseconds since the Unix epoch (BIGINT), UTC.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    first_name    TEXT    NOT NULL,
    last_name     TEXT    NOT NULL,
    city          TEXT    NOT NULL,
    -- city lower-cased by the application (Unicode-aware on both backends; SQLite's
    -- lower() folds ASCII only), for the rankings filter.
    city_key      TEXT    NOT NULL,
    country       TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX users_city_key ON users (city_key);

CREATE TABLE videos (
    id             BIGSERIAL PRIMARY KEY,
    owner_id       BIGINT  NOT NULL REFERENCES users (id),
    title          TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('uploaded', 'processing', 'processed', 'failed')),
    task_id        TEXT    NOT NULL UNIQUE,
    original_key   TEXT    NOT NULL,
    processed_key  TEXT,
    uploaded_at    BIGINT  NOT NULL,
    started_at     BIGINT,
    processed_at   BIGINT,
    attempts       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX videos_owner ON videos (owner_id, id);
CREATE INDEX videos_status ON videos (status, id);

CREATE TABLE votes (
    video_id   BIGINT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (video_id, user_id)
);
