-- id: K01
-- name_zh: 新建养老服务中心数
-- name_en: New elderly service centres
-- unit: 家
-- kind: flow
-- grain: district × week
-- definition: COUNT facility events op = 'create' AND facility_type = 'elderly_service_center', by event_date
-- published: 海淀 2024 新建养老服务中心 15家 (published-figures.md)
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
  AND facility_type = 'elderly_service_center'
GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
