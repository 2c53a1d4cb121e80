-- id: K13
-- name_zh: 加装电梯完工数
-- name_en: Elevators installed (completed)
-- unit: 部
-- kind: flow
-- grain: district × week
-- definition: SUM(elevators_count) of renovation events WHERE project_type = 'elevator_retrofit' AND to_status = 'completed', by status_date
-- published: 海淀 2024 老楼加装电梯 280部; 重庆 加装电梯 6800余部 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, status_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(SUM(elevators_count), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM renovation_events
WHERE status_date >= {from}
  AND status_date <= {to}
  AND project_type = 'elevator_retrofit'
  AND to_status = 'completed'
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
