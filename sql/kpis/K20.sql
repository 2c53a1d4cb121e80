-- id: K20
-- name_zh: 投资覆盖社区数
-- name_en: Communities with investment
-- unit: 个
-- kind: stock
-- grain: district × month
-- definition: COUNT(DISTINCT community_code) of renovation projects whose last known investment_completed_cum_yuan as of the stock date (the earlier of the period's last day and the range's end) is > 0: the project's state is its latest event with status_date <= the stock date (events ordered by status_date (the date the status took effect), then event_time, then Kafka position; a resend counts once), and an event without the figure carries the project's last value sent before it forward (an event with NULL investment does not drop the community). Community of that state.
-- published: 重庆 2024 投资覆盖 108个社区 (published-figures.md)
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
    CAST(COUNT(DISTINCT h.community_code) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN renovation_history h
  ON h.valid_from <= p.stock_date
 AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
WHERE h.valid_from <= {to}
  AND (h.valid_to IS NULL OR h.valid_to > {from})
  AND h.investment_cum_cf > 0
GROUP BY h.district, p.period
