-- id: K19
-- name_zh: 累计完成投资额
-- name_en: Cumulative completed investment
-- unit: 元
-- kind: stock
-- grain: district × month
-- definition: SUM over renovation projects of the last known investment_completed_cum_yuan as of the stock date (the earlier of the period's last day and the range's end): the project's state is its latest event with status_date <= the stock date (events ordered by status_date (the date the status took effect), then event_time, then Kafka position; a resend counts once), and an event without the figure carries the project's last value sent before it forward (missing is not zero; a project that never sent one adds 0). Every project counts, cancelled ones too (money spent stays spent). A lower figure than before is taken as sent (a correction; the data-quality rule flags it). yuan (reports show 亿元)
-- published: 重庆 2024 投资到社区 9.15亿元 (published-figures.md)
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
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(SUM(h.investment_cum_cf), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN renovation_history h
  ON h.valid_from <= p.stock_date
 AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
WHERE h.valid_from <= {to}
  AND (h.valid_to IS NULL OR h.valid_to > {from})
GROUP BY h.district, p.period
