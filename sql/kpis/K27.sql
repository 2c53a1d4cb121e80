-- id: K27
-- name_zh: 满意率
-- name_en: Satisfaction rate
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: over hotline_ticket_latest (per ticket_id the row with the highest ticket_version) rows WHERE status IN ('surveyed', 'archived') AND is_valid_visit, by that row's event_date: (COUNT(satisfaction = 'satisfied') + k · COUNT(satisfaction = 'basic')) / COUNT(*); k = basic_credit of the 'default' kpi_weights version valid at the stock date (the earlier of the period's last day and the range's end), 0.9 without one
-- published: none (三率, reference.md §2.2; k = 0.9 ◐)
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
credit AS (
    SELECT p.period, COALESCE(w.basic_credit, CAST(0.9 AS DOUBLE)) AS k
    FROM periods p
    LEFT JOIN kpi_weights w
      ON w.scheme = 'default'
     AND w.valid_from <= p.stock_date
     AND (w.valid_to IS NULL OR w.valid_to > p.stock_date)
),
visits AS (
    SELECT
        district,
        CAST(date_trunc({grain}, event_date) AS DATE) AS period,
        satisfaction
    FROM hotline_ticket_latest
    WHERE event_date >= {from}
      AND event_date <= {to}
      AND status IN ('surveyed', 'archived')
      AND is_valid_visit
)
-- Aggregated after the join with credit (MAX(c.k): one k per period). A join on top of the
-- KPI, under kpi-query's ORDER BY district, period, item, fails DataFusion 55's plan sanity
-- check, and so does a GROUP BY of c.k.
SELECT
    v.district,
    v.period,
    CAST(NULL AS VARCHAR) AS item,
    (CAST(SUM(CASE WHEN v.satisfaction = 'satisfied' THEN 1 ELSE 0 END) AS DOUBLE)
        + MAX(c.k) * CAST(SUM(CASE WHEN v.satisfaction = 'basic' THEN 1 ELSE 0 END) AS DOUBLE))
        / CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(SUM(CASE WHEN v.satisfaction = 'satisfied' THEN 1 ELSE 0 END) AS DOUBLE)
        + MAX(c.k) * CAST(SUM(CASE WHEN v.satisfaction = 'basic' THEN 1 ELSE 0 END) AS DOUBLE)
        AS numerator,
    CAST(COUNT(*) AS DOUBLE) AS denominator
FROM visits v
JOIN credit c ON c.period = v.period
GROUP BY v.district, v.period
