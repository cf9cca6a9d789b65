-- A quarantine that follows the files (issue 8): an entry is open while the
-- record it stands for is still refused in the latest version of its file;
-- closed, it says why and when. Earlier entries closed by a replay say so.
ALTER TABLE quarantine ADD COLUMN closed_at TIMESTAMPTZ;
ALTER TABLE quarantine ADD COLUMN closed_reason TEXT;
ALTER TABLE quarantine ADD COLUMN closed_by BIGINT;
-- Set when its file starts being read again (re-sent, or a full re-read);
-- cleared when the new version refuses the record again; the entries still
-- set when the stream ends are closed.
ALTER TABLE quarantine ADD COLUMN stale BOOLEAN NOT NULL DEFAULT FALSE;
-- The partner's record id, when its connector declares the stream's keys
-- non-personal (a subscription id, never a dossier number).
ALTER TABLE quarantine ADD COLUMN partner_key TEXT;
UPDATE quarantine SET closed_reason = 'replayed', closed_by = replayed_by,
    closed_at = coalesce((SELECT r.ended_at FROM runs r WHERE r.id = quarantine.replayed_by), created_at)
WHERE replayed_by IS NOT NULL;
CREATE INDEX quarantine_open ON quarantine(source, stream, origin) WHERE closed_at IS NULL;
