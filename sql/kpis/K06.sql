-- id: K06
-- name_zh: 充电桩保有量
-- name_en: EV charging points (stock)
-- unit: 个
-- kind: stock
-- grain: district × week
-- definition: SUM(charging_points) of the ev_charger facilities operating at the stock date; stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock); a NULL charging_points carries the facility's last reported value forward (missing is not zero; never reported adds 0). The official rule of 保有量 was not found; the rule chosen counts operating chargers only.
-- published: 海淀 充电桩 4.5万个 (published-figures.md)
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
    CAST(COALESCE(SUM(h.charging_points), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN facility_history h
  ON h.valid_from <= p.stock_date
 AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
WHERE h.valid_from <= {to}
  AND (h.valid_to IS NULL OR h.valid_to > {from})
  AND h.facility_type = 'ev_charger'
  AND h.status = 'operating'
GROUP BY h.district, p.period
