-- id: K30
-- name_zh: 按时办结率 / 重办率
-- name_en: On-time closure rate / reopen rate
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week, item = 'on_time_closure_rate' | 'reopen_rate'
-- definition: over hotline_ticket_latest (per ticket_id the row with the highest ticket_version) rows WHERE closed_time IS NOT NULL, by the Asia/Shanghai date of closed_time: on_time_closure_rate = COUNT(closed_time <= due_time) / COUNT(*); reopen_rate = COUNT(reopen_count > 0) / COUNT(*)
-- published: 连云港 按时办结率 96.27% (practice, reference.md §2.2)
WITH closed AS (
    SELECT
        district,
        CAST(closed_time AT TIME ZONE 'Asia/Shanghai' AS DATE) AS closed_on,
        CASE WHEN closed_time <= due_time THEN 1 ELSE 0 END AS on_time,
        CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END AS reopened
    FROM hotline_ticket_latest
    WHERE closed_time IS NOT NULL
),
counts AS (
    SELECT
        district,
        CAST(date_trunc({grain}, closed_on) AS DATE) AS period,
        COUNT(*) AS closed_tickets,
        SUM(on_time) AS on_time,
        SUM(reopened) AS reopened
    FROM closed
    WHERE closed_on >= {from}
      AND closed_on <= {to}
    GROUP BY district, CAST(date_trunc({grain}, closed_on) AS DATE)
),
-- both items from one pass over counts (a CTE used twice is computed twice by DataFusion)
items AS (
    SELECT 'on_time_closure_rate' AS item
    UNION ALL
    SELECT 'reopen_rate' AS item
)
SELECT
    c.district,
    c.period,
    i.item,
    CAST(CASE WHEN i.item = 'reopen_rate' THEN c.reopened ELSE c.on_time END AS DOUBLE)
        / CAST(c.closed_tickets AS DOUBLE) AS value,
    CAST(CASE WHEN i.item = 'reopen_rate' THEN c.reopened ELSE c.on_time END AS DOUBLE)
        AS numerator,
    CAST(c.closed_tickets AS DOUBLE) AS denominator
FROM counts c
CROSS JOIN items i
