-- Small key/value settings the bot keeps for itself (e.g. a generated webhook secret).
-- Numbered 0003: 0002 belongs to another change; IF NOT EXISTS keeps a re-run harmless.
CREATE TABLE IF NOT EXISTS kv_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
