-- Contract 0.2: a refused record names its workbook cell; several records of
-- one line refused for the same reason and field in a run are one entry
-- (looked up by run, file and line).
ALTER TABLE quarantine ADD COLUMN cell TEXT;
CREATE INDEX quarantine_by_line ON quarantine(run_id, origin, line);
