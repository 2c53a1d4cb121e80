-- id: K12
-- name_zh: 生活圈达标数
-- name_en: Compliant life circles (5-/10-/15-minute)
-- unit: 个
-- kind: stock
-- grain: district × quarter, item = level
-- definition: COUNT of the life circles at the stock date (dim_life_circle rows with valid_from <= stock date AND (valid_to IS NULL OR valid_to > stock date), district = their district_code) that meet every requirement of their level (view life_circle_requirements: level, requirement, facility_type; a requirement is met when at least one facility operating at the stock date has life_circle_id = the circle and a facility_type of the requirement), by level (item '5min', '10min', '15min'). A facility counts only for the circle it names (a 5-minute circle's facilities do not count for the 15-minute circle around it unless registered there). stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock). One row per district and level with circles at the stock date (value 0 when none complies). The requirement list is GB 50180-2018 附录 B as remembered (○, not retrieved), restricted to items the standard requires and the registry can express; the official rule of 达标 was not found: this is the rule chosen.
-- published: 杭州 5分钟生活圈 1690, 15分钟生活圈 344 (published-figures.md)
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
circles AS (
    SELECT lc.district_code AS district, lc.life_circle_id, lc.level, p.period
    FROM periods p
    JOIN dim_life_circle lc
      ON lc.valid_from <= p.stock_date
     AND (lc.valid_to IS NULL OR lc.valid_to > p.stock_date)
),
needed AS (
    SELECT level, COUNT(DISTINCT requirement) AS requirements
    FROM life_circle_requirements
    GROUP BY level
),
met AS (
    SELECT DISTINCT h.life_circle_id, p.period, r.level, r.requirement
    FROM periods p
    JOIN facility_history h
      ON h.valid_from <= p.stock_date
     AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
    JOIN life_circle_requirements r ON r.facility_type = h.facility_type
    WHERE h.valid_from <= {to}
      AND (h.valid_to IS NULL OR h.valid_to > {from})
      AND h.status = 'operating'
      AND h.life_circle_id IS NOT NULL
),
per_circle AS (
    SELECT c.district, c.period, c.level, c.life_circle_id, MAX(n.requirements) AS requirements,
           COUNT(DISTINCT m.requirement) AS met
    FROM circles c
    JOIN needed n ON n.level = c.level
    LEFT JOIN met m
      ON m.life_circle_id = c.life_circle_id
     AND m.period = c.period
     AND m.level = c.level
    GROUP BY c.district, c.period, c.level, c.life_circle_id
)
SELECT
    district,
    period,
    level AS item,
    CAST(SUM(CASE WHEN met = requirements THEN 1 ELSE 0 END) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM per_circle
GROUP BY district, period, level
