-- id: K11
-- name_zh: 议事厅数
-- name_en: Deliberation halls
-- unit: 个
-- kind: stock
-- grain: district × week
-- definition: COUNT of the deliberation_hall facilities operating at the stock date; stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock). The official rule was not found; the rule chosen counts operating halls only.
-- published: 海淀 社区会客议事厅 122 (published-figures.md)
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
    CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN facility_history h
  ON h.valid_from <= p.stock_date
 AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
WHERE h.valid_from <= {to}
  AND (h.valid_to IS NULL OR h.valid_to > {from})
  AND h.facility_type = 'deliberation_hall'
  AND h.status = 'operating'
GROUP BY h.district, p.period
