-- Limits, admin control and the fair queue. Usage is still counted from jobs; these rows hold
-- only what an admin decided (overrides, grants, bans, the allow-list) and what was refused.

-- A daily limit set at run time. scope: 'user' / 'chat' (subject_id is that user or chat),
-- or 'user_default' / 'chat_default' / 'global' (subject_id 0) replacing DAILY_LIMIT,
-- CHAT_DAILY_LIMIT and GLOBAL_DAILY_LIMIT. daily_limit NULL = unlimited.
CREATE TABLE limit_overrides (
    scope       TEXT    NOT NULL
                CHECK (scope IN ('user', 'chat', 'user_default', 'chat_default', 'global')),
    subject_id  INTEGER NOT NULL,
    daily_limit INTEGER CHECK (daily_limit IS NULL OR daily_limit >= 0),
    updated_at  REAL    NOT NULL,
    updated_by  INTEGER,
    PRIMARY KEY (scope, subject_id)
);

-- Extra images for one user on one limits day (/grant).
CREATE TABLE limit_grants (
    user_id    INTEGER NOT NULL,
    day        TEXT    NOT NULL,
    extra      INTEGER NOT NULL CHECK (extra >= 0),
    updated_at REAL    NOT NULL,
    PRIMARY KEY (user_id, day)
);

-- Requests turned away by a limit (no job was created), for /stats.
CREATE TABLE limit_refusals (
    id      INTEGER PRIMARY KEY,
    day     TEXT    NOT NULL,
    user_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    at      REAL    NOT NULL
);
CREATE INDEX limit_refusals_day ON limit_refusals (day);

CREATE TABLE bans (
    user_id   INTEGER PRIMARY KEY,
    banned_at REAL    NOT NULL,
    banned_by INTEGER
);

-- ACCESS_MODE=allowlist: users (positive ids) and chats (negative ids) allowed to use the bot.
CREATE TABLE allowlist (
    subject_id INTEGER PRIMARY KEY,
    added_at   REAL    NOT NULL,
    added_by   INTEGER
);

-- Users and chats that were told once that they are not on the allow-list: silence after that.
CREATE TABLE access_refusals (
    subject_id INTEGER PRIMARY KEY,
    refused_at REAL    NOT NULL
);

-- Counting a chat's and the whole bot's jobs of a day, a user's unfinished jobs, and the queue.
CREATE INDEX jobs_chat_day ON jobs (chat_id, day);
CREATE INDEX jobs_day ON jobs (day);
CREATE INDEX jobs_user_unfinished ON jobs (user_id)
    WHERE state IN ('queued', 'submitting', 'submitted', 'generated');
CREATE INDEX jobs_queued ON jobs (id) WHERE state = 'queued';
