-- Monthly, quarterly and yearly pre-aggregates of households' activity and
-- purchases (issue 10): the indicators read these instead of re-deriving
-- periods from a million fact rows at every request. The sync engine keeps
-- them exact in the transaction that writes the facts
-- (`warehouse/aggregates.rs`: new rows added, updated rows moved, rows of a
-- re-sent file subtracted); this migration fills them from the facts already
-- stored. Periods are text: `YYYY-MM`, `YYYY-Qn`, `YYYY`.
--
-- One row per granularity, territory, period, network, household, entity and
-- channel. `household` is the pseudonym ('' when the fact names none);
-- `household_key` the keyed hash of the household record a Cocagne basket
-- names (`households.key`, empty otherwise): it is resolved when read, so a
-- household record that changes changes nothing here.
CREATE TABLE household_periods (
    granularity TEXT NOT NULL,
    territory TEXT NOT NULL,
    period TEXT NOT NULL,
    network TEXT NOT NULL,
    household TEXT NOT NULL,
    household_key BYTEA NOT NULL,
    entity TEXT NOT NULL,
    channel TEXT NOT NULL,
    facts BIGINT NOT NULL,
    active BIGINT NOT NULL,
    collected BIGINT NOT NULL,
    weight_g BIGINT NOT NULL,
    priced BIGINT NOT NULL,
    paid_cents BIGINT NOT NULL,
    reference_cents BIGINT NOT NULL,
    amounts BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    PRIMARY KEY (granularity, territory, period, network, household, household_key, entity, channel)
);
-- Rows whose facts were all removed are deleted at once.
CREATE INDEX household_periods_empty ON household_periods(facts) WHERE facts = 0;

-- Order lines naming a household, by product type (DFC) and period.
CREATE TABLE product_periods (
    granularity TEXT NOT NULL,
    territory TEXT NOT NULL,
    period TEXT NOT NULL,
    network TEXT NOT NULL,
    channel TEXT NOT NULL,
    dfc_type TEXT NOT NULL,
    lines BIGINT NOT NULL,
    weighed BIGINT NOT NULL,
    weight_g BIGINT NOT NULL,
    PRIMARY KEY (granularity, territory, period, network, channel, dfc_type)
);
CREATE INDEX product_periods_empty ON product_periods(lines) WHERE lines = 0;

INSERT INTO household_periods (granularity, territory, period, network, household, household_key,
    entity, channel, facts, active, collected, weight_g, priced, paid_cents, reference_cents,
    amounts, amount_cents)
WITH facts AS (
    SELECT territory, network, coalesce(household, '') AS household,
           coalesce(household_key, ''::bytea) AS household_key,
           'distribution' AS entity, kind AS channel, to_char(date, 'YYYY-MM') AS month,
           CASE WHEN status IS NULL OR status IN ('collected', 'given') THEN 1 ELSE 0 END AS active,
           CASE WHEN status IS NULL OR status = 'collected' THEN 1 ELSE 0 END AS collected,
           CASE WHEN (status IS NULL OR status = 'collected') AND quantity_kg IS NOT NULL
                THEN CAST(trunc(quantity_kg * 1000 + CASE WHEN quantity_kg < 0 THEN CAST(-0.5 AS DOUBLE PRECISION) ELSE CAST(0.5 AS DOUBLE PRECISION) END) AS BIGINT)
                ELSE 0 END AS weight_g,
           0 AS priced, 0 AS paid, 0 AS reference,
           CASE WHEN amount_cents IS NOT NULL THEN 1 ELSE 0 END AS amounts,
           coalesce(amount_cents, 0) AS amount
    FROM distributions
    WHERE date IS NOT NULL
    UNION ALL
    SELECT territory, network, coalesce(household, ''), ''::bytea, 'order_line', channel,
           coalesce(to_char(date, 'YYYY-MM'), substr(month, 1, 7)),
           1, 0, 0,
           CASE WHEN price_paid_cents IS NOT NULL AND reference_price_cents IS NOT NULL THEN 1 ELSE 0 END,
           CASE WHEN price_paid_cents IS NOT NULL AND reference_price_cents IS NOT NULL
                THEN price_paid_cents ELSE 0 END,
           CASE WHEN price_paid_cents IS NOT NULL AND reference_price_cents IS NOT NULL
                THEN reference_price_cents ELSE 0 END,
           0, 0
    FROM order_lines
    WHERE date IS NOT NULL
       OR month ~ '^[0-9]{4}-(0[1-9]|1[0-2])'
),
periods AS (
    SELECT 'month' AS granularity, month AS period, * FROM facts
    UNION ALL
    SELECT 'quarter', substr(month, 1, 4) || '-Q' || CAST((CAST(substr(month, 6, 2) AS INTEGER) + 2) / 3 AS TEXT), *
    FROM facts
    UNION ALL
    SELECT 'year', substr(month, 1, 4), * FROM facts
)
SELECT granularity, territory, period, network, household, household_key, entity, channel,
       count(*), sum(active), sum(collected), sum(weight_g), sum(priced), sum(paid), sum(reference),
       sum(amounts), sum(amount)
FROM periods
GROUP BY granularity, territory, period, network, household, household_key, entity, channel;

INSERT INTO product_periods (granularity, territory, period, network, channel, dfc_type, lines,
    weighed, weight_g)
WITH lines AS (
    SELECT territory, network, channel, dfc_type,
           coalesce(to_char(date, 'YYYY-MM'), substr(month, 1, 7)) AS month,
           CASE WHEN lower(unit) IN ('kg', 'g') THEN 1 ELSE 0 END AS weighed,
           CASE WHEN lower(unit) = 'kg'
                THEN CAST(trunc(quantity * 1000 + CASE WHEN quantity < 0 THEN CAST(-0.5 AS DOUBLE PRECISION) ELSE CAST(0.5 AS DOUBLE PRECISION) END) AS BIGINT)
                WHEN lower(unit) = 'g'
                THEN CAST(trunc(quantity + CASE WHEN quantity < 0 THEN CAST(-0.5 AS DOUBLE PRECISION) ELSE CAST(0.5 AS DOUBLE PRECISION) END) AS BIGINT)
                ELSE 0 END AS weight_g
    FROM order_lines
    WHERE household IS NOT NULL AND (date IS NOT NULL
       OR month ~ '^[0-9]{4}-(0[1-9]|1[0-2])')
),
periods AS (
    SELECT 'month' AS granularity, month AS period, * FROM lines
    UNION ALL
    SELECT 'quarter', substr(month, 1, 4) || '-Q' || CAST((CAST(substr(month, 6, 2) AS INTEGER) + 2) / 3 AS TEXT), *
    FROM lines
    UNION ALL
    SELECT 'year', substr(month, 1, 4), * FROM lines
)
SELECT granularity, territory, period, network, channel, dfc_type, count(*), sum(weighed), sum(weight_g)
FROM periods
GROUP BY granularity, territory, period, network, channel, dfc_type;
