-- id: K16
-- name_zh: 老旧小区改造完工小区数 / 户数
-- name_en: Old compounds renovated (compounds / households)
-- unit: 个 / 户
-- kind: flow
-- grain: district × month, item = 'compounds' (个) | 'households' (户)
-- definition: renovation events WHERE project_type = 'old_compound_renovation' AND to_status = 'completed', by status_date: item 'compounds' = COUNT(DISTINCT compound_id), item 'households' = SUM(households_benefited)
-- published: none (national / provincial annual targets, reference.md §5)
WITH completed AS (
    SELECT
        district,
        CAST(date_trunc({grain}, status_date) AS DATE) AS period,
        compound_id,
        households_benefited
    FROM renovation_events
    WHERE status_date >= {from}
      AND status_date <= {to}
      AND project_type = 'old_compound_renovation'
      AND to_status = 'completed'
)
SELECT
    district,
    period,
    'compounds' AS item,
    CAST(COUNT(DISTINCT compound_id) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM completed
GROUP BY district, period
UNION ALL
SELECT
    district,
    period,
    'households' AS item,
    CAST(COALESCE(SUM(households_benefited), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM completed
GROUP BY district, period
