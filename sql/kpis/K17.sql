-- id: K17
-- name_zh: 项目在库数（按状态）
-- name_en: Projects in pipeline by status
-- unit: 个
-- kind: stock
-- grain: district × week, item = status
-- definition: COUNT(projects) GROUP BY the to_status of their state, where the state of each renovation project at the stock date (the earlier of the period's last day and the range's end) is its latest event with status_date <= the stock date, events ordered by status_date (the date the status took effect), then event_time, then Kafka position (a resend counts once; renovation_history). A report filed late about an earlier date takes its place at that date (an old completion sent again does not undo a later acceptance); a withdrawn completion shows as the status it went back to from the withdrawal's status_date; from_status is not used. Every project with an event by the stock date is counted, cancelled and accepted ones too (item = status).
-- published: 重庆 2024 完整社区项目 申报→竣工 全程跟踪 395个 (published-figures.md)
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
)
SELECT
    h.district,
    p.period,
    h.to_status AS item,
    CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN renovation_history h
  ON h.valid_from <= p.stock_date
 AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
WHERE h.valid_from <= {to}
  AND (h.valid_to IS NULL OR h.valid_to > {from})
GROUP BY h.district, p.period, h.to_status
