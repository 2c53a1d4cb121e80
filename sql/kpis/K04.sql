-- id: K04
-- name_zh: 新增普惠性托位数
-- name_en: New inclusive childcare places
-- unit: 个
-- kind: flow
-- grain: district × week
-- definition: SUM(childcare_places_delta) of facility events WHERE facility_type = 'childcare_center' AND is_inclusive, by event_date
-- published: 海淀 2024 普惠性托位 4334个 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, event_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(SUM(childcare_places_delta), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM facility_events
WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
  AND event_date >= {from}
  AND event_date <= {to}
  AND facility_type = 'childcare_center'
  AND is_inclusive
GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
