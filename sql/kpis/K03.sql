-- id: K03
-- name_zh: 新增养老助餐点数
-- name_en: New meal-assistance points
-- unit: 家
-- kind: flow
-- grain: district × week
-- definition: COUNT facility events op = 'create' AND facility_type IN ('meal_assistance_point', 'community_canteen'), by event_date
-- published: 海淀 2024 养老助餐点 72家 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, event_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM facility_events
WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
  AND event_date >= {from}
  AND event_date <= {to}
  AND op = 'create'
  AND facility_type IN ('meal_assistance_point', 'community_canteen')
GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
