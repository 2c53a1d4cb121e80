-- id: K18
-- name_zh: 项目开工率 / 完工率
-- name_en: Project start rate / completion rate
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × month, item = 'start_rate' | 'completion_rate'
-- definition: over the state of each project, where the state of each renovation project at the stock date (the earlier of the period's last day and the range's end) is its latest event with status_date <= the stock date, events ordered by status_date (the date the status took effect), then event_time, then Kafka position (a resend counts once; renovation_history): start_rate = COUNT(status IN ('started', 'suspended', 'completed', 'accepted')) / COUNT(status <> 'cancelled'); completion_rate = COUNT(status IN ('completed', 'accepted')) / the same denominator; NULL when the denominator is 0. 'suspended' counts as started (a project can be suspended only after it started; reference.md §5 lists started, completed, accepted: suspended is our addition). A completion later withdrawn (status back to started) counts as started, not completed, from the withdrawal's status_date on. from_status is not used.
-- published: 重庆 2024 项目 395个 (pipeline, published-figures.md)
WITH periods AS (
    -- one row per period: its stock date, the period's last day within the range
    SELECT
        CAST(date_trunc({grain}, day) AS DATE) AS period,
        day AS stock_date
    FROM calendar
    WHERE day >= {from}
      AND day <= {to}
      AND (day = {to}
           OR CAST(date_trunc({grain}, CAST(day + INTERVAL '1 day' AS DATE)) AS DATE)
              <> CAST(date_trunc({grain}, day) AS DATE))
),
counts AS (
    SELECT
        h.district,
        p.period,
        SUM(CASE WHEN h.to_status IN ('started', 'suspended', 'completed', 'accepted')
                 THEN 1 ELSE 0 END)
            AS started,
        SUM(CASE WHEN h.to_status IN ('completed', 'accepted') THEN 1 ELSE 0 END) AS completed,
        SUM(CASE WHEN h.to_status <> 'cancelled' THEN 1 ELSE 0 END) AS not_cancelled
    FROM periods p
    JOIN renovation_history h
      ON h.valid_from <= p.stock_date
     AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
    WHERE h.valid_from <= {to}
      AND (h.valid_to IS NULL OR h.valid_to > {from})
    GROUP BY h.district, p.period
)
SELECT
    district,
    period,
    'start_rate' AS item,
    CASE WHEN not_cancelled > 0
         THEN CAST(started AS DOUBLE) / CAST(not_cancelled AS DOUBLE) END AS value,
    CAST(started AS DOUBLE) AS numerator,
    CAST(not_cancelled AS DOUBLE) AS denominator
FROM counts
UNION ALL
SELECT
    district,
    period,
    'completion_rate' AS item,
    CASE WHEN not_cancelled > 0
         THEN CAST(completed AS DOUBLE) / CAST(not_cancelled AS DOUBLE) END AS value,
    CAST(completed AS DOUBLE) AS numerator,
    CAST(not_cancelled AS DOUBLE) AS denominator
FROM counts
