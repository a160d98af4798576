-- Every accepted /draw is a job; limits are counted from jobs.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    request_key       TEXT    NOT NULL UNIQUE,
    chat_id           INTEGER NOT NULL,
    thread_id         INTEGER,
    user_id           INTEGER NOT NULL,
    message_id        INTEGER NOT NULL,
    language          TEXT,
    prompt            TEXT    NOT NULL,
    options           TEXT    NOT NULL DEFAULT '{}',
    state             TEXT    NOT NULL,
    reason            TEXT,
    operation_id      TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    status_message_id INTEGER,
    day               TEXT    NOT NULL,
    created_at        REAL    NOT NULL,
    updated_at        REAL    NOT NULL,
    deadline_at       REAL    NOT NULL,
    submitted_at      REAL,
    generated_at      REAL,
    finished_at       REAL
);

CREATE INDEX jobs_unfinished ON jobs (state)
    WHERE state IN ('queued', 'submitting', 'submitted', 'generated');
CREATE INDEX jobs_user_day ON jobs (user_id, day);
CREATE INDEX jobs_chat_message ON jobs (chat_id, message_id);

-- A paid image waits here until Telegram has it.
CREATE TABLE job_images (
    job_id INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    image  BLOB NOT NULL
);
