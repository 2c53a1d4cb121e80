-- id: K09
-- name_zh: 社区基本公共服务设施配齐率
-- name_en: Basic-facility completeness rate
-- unit: %
-- kind: ratio
-- grain: district × month
-- definition: share of the communities at the stock date that have, at the stock date, at least one operating facility (by the facility's community_code) of EACH of the five groups: community_service_station; kindergarten; childcare_center; elderly_care_station or elderly_day_care; health_station (完整社区建设标准 2020, items 1–5). numerator = complete communities, denominator = communities, value = numerator / denominator (a fraction, 0–1); stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock); the communities at the stock date = dim_community rows with valid_from <= stock date AND (valid_to IS NULL OR valid_to > stock date), district = their district_code; a facility counts for the community it is registered in, whatever its district. One row per district with communities at the stock date. The official rule of 配齐 was not found beyond the list of items; this is the rule chosen.
-- published: 完整社区建设指南 (2021) 基本公共服务设施 items 1–5; 杭州 体检 20项重点服务设施 (reference.md §5)
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
community_at AS (
    SELECT c.district_code AS district, c.community_code, p.period
    FROM periods p
    JOIN dim_community c
      ON c.valid_from <= p.stock_date
     AND (c.valid_to IS NULL OR c.valid_to > p.stock_date)
),
present AS (
    SELECT DISTINCT
        h.community_code,
        p.period,
        CASE
                WHEN h.facility_type IN ('elderly_care_station', 'elderly_day_care')
                    THEN 'elderly_care'
                ELSE h.facility_type
            END AS facility_group
    FROM periods p
    JOIN facility_history h
      ON h.valid_from <= p.stock_date
     AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
    WHERE h.valid_from <= {to}
      AND (h.valid_to IS NULL OR h.valid_to > {from})
      AND h.status = 'operating'
      AND h.facility_type IN ('community_service_station', 'kindergarten', 'childcare_center',
                              'elderly_care_station', 'elderly_day_care', 'health_station')
),
per_community AS (
    SELECT c.district, c.period, c.community_code, COUNT(DISTINCT f.facility_group) AS groups
    FROM community_at c
    LEFT JOIN present f
      ON f.community_code = c.community_code
     AND f.period = c.period
    GROUP BY c.district, c.period, c.community_code
)
SELECT
    district,
    period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(CASE WHEN groups = 5 THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(SUM(CASE WHEN groups = 5 THEN 1 ELSE 0 END) AS DOUBLE) AS numerator,
    CAST(COUNT(*) AS DOUBLE) AS denominator
FROM per_community
GROUP BY district, period
