-- id: K02
-- name_zh: 新建养老驿站数
-- name_en: New elderly care stations
-- unit: 家
-- kind: flow
-- grain: district × week
-- definition: COUNT facility events op = 'create' AND facility_type IN ('elderly_care_station', 'elderly_day_care'), by event_date
-- published: 海淀 2024 养老驿站 25家 (published-figures.md)
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
  AND facility_type IN ('elderly_care_station', 'elderly_day_care')
GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
