-- id: K14
-- name_zh: 加装电梯开工数
-- name_en: Elevator retrofits started
-- unit: 部
-- kind: flow
-- grain: district × week
-- definition: SUM(elevators_count) of renovation events WHERE project_type = 'elevator_retrofit' AND event_type = 'renovation.started' AND from_status = 'approved', by status_date (progress reports and resumptions after a suspension also carry to_status = 'started' and are not starts)
-- published: 北京 "开工212部完工119部" (pattern, reference.md §5)
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
  AND event_type = 'renovation.started'
  AND from_status = 'approved'
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
