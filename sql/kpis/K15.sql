-- id: K15
-- name_zh: 适老化改造户数
-- name_en: Households with age-friendly retrofits
-- unit: 户
-- kind: flow
-- grain: district × week
-- definition: SUM(households_benefited) of renovation events WHERE project_type = 'aging_friendly_retrofit' AND to_status = 'completed', by status_date
-- published: 海淀 2024 适老化改造 5410户 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, status_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(SUM(households_benefited), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM renovation_events
WHERE status_date >= {from}
  AND status_date <= {to}
  AND project_type = 'aging_friendly_retrofit'
  AND to_status = 'completed'
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
