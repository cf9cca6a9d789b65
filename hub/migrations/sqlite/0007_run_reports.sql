-- Run reports that say what happened (issue 8): what started a run
-- (manual, schedule, replay, resume) and which token holder asked for it
-- (the token's name, never the token).
ALTER TABLE runs ADD COLUMN trigger_kind TEXT;
ALTER TABLE runs ADD COLUMN token_name TEXT;
