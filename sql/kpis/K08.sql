-- id: K08
-- name_zh: 在册设施总数（一张图）
-- name_en: Operating facilities (one-map stock), by facility type
-- unit: 个
-- kind: stock
-- grain: district × week, item = facility_type
-- definition: COUNT of the facilities operating at the stock date, by facility_type (item); stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock). The total is the sum over items. The official rule of 在册 was not found; the rule chosen counts operating facilities only (a closed, suspended or not yet open facility is not in the one-map stock).
-- published: 重庆 一张图 服务设施 8.6万余; 杭州 设施数据 3.5万条; 杭州 社区综合服务站 368, 养老服务中心 377, 文化服务中心 844, 卫生服务中心(站) 225, 婴幼儿照护驿站 340, 百姓健身房 361, 社区食堂 230 (published-figures.md)
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
    h.facility_type AS item,
    CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN facility_history h
  ON h.valid_from <= p.stock_date
 AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
WHERE h.valid_from <= {to}
  AND (h.valid_to IS NULL OR h.valid_to > {from})
  AND h.status = 'operating'
GROUP BY h.district, p.period, h.facility_type
