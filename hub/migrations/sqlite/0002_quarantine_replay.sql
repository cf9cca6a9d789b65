-- A quarantine entry is closed when a later replay run re-read its record
-- (stored it, or quarantined it again as a new entry).
ALTER TABLE quarantine ADD COLUMN replayed_by INTEGER;
