-- Run reports that say what happened (issue 8): what started a run
-- (manual, schedule, replay, resume) and which token holder asked for it
-- (the token's name, never the token).
ALTER TABLE runs ADD COLUMN trigger_kind TEXT;
ALTER TABLE runs ADD COLUMN token_name TEXT;
-- When the run last committed a batch: an interrupted run ends there, not
-- when its lease was last renewed nor when the next run noticed.
ALTER TABLE runs ADD COLUMN committed_at TIMESTAMP;
-- The inbox files a run read, and those no stream of its connector reads
-- (a misnamed export), by name: JSON arrays of file names.
ALTER TABLE runs ADD COLUMN files_read TEXT;
ALTER TABLE runs ADD COLUMN files_ignored TEXT;
