-- Several hub nodes on one warehouse (PostgreSQL), and on SQLite the one node
-- allowed: each `vivres serve` process registers itself and beats while it runs.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    stopped_at TIMESTAMP
);
CREATE INDEX nodes_live ON nodes(heartbeat_at) WHERE stopped_at IS NULL;

-- The node holding a running run's lease (NULL: queued, no node has taken
-- it yet); `heartbeat_at` is the lease, renewed by that node. A node whose
-- lease went stale has its run taken over by another, counted here.
ALTER TABLE runs ADD COLUMN node_id TEXT;
ALTER TABLE runs ADD COLUMN takeovers BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_node ON runs(node_id) WHERE status = 'running';

-- Each tick of a source's schedule, claimed by the one node that queues it:
-- every node's cron fires, the primary key lets one through.
CREATE TABLE schedule_ticks (
    source TEXT NOT NULL,
    tick_at BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    claimed_at TIMESTAMP NOT NULL,
    run_id BIGINT,
    PRIMARY KEY (source, tick_at)
);
