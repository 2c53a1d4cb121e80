-- id: K14
-- name_zh: 加装电梯开工数
-- name_en: Elevator retrofits started
-- unit: 部
-- kind: flow
-- grain: district × week
-- definition: SUM(elevators_count) of elevator_retrofit projects whose counted start (renovation_milestones) has its status_date in the period; district of the start event. A project counts once, at its first event with to_status 'started' after its last event with status 'declared' or 'approved', taken from the project's own status history (events ordered by status_date (the date the status took effect), then event_time, then Kafka position; a resend counts once), not from from_status, which feeds may leave out. Progress reports and resumptions after a suspension also carry to_status 'started' and are not starts; a project sent back to approved/declared that starts again counts at the new start (the old start leaves its period); a project with no 'started' event has no start. elevators_count is the start event's, else the last value sent before it (carried forward), else 0. Official rule not found: this rule is ours.
-- published: 北京 "开工212部完工119部" (pattern, reference.md §5)
SELECT
    district,
    CAST(date_trunc({grain}, status_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(SUM(elevators_cf), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM renovation_milestones
WHERE status_date >= {from}
  AND status_date <= {to}
  AND milestone = 'started'
  AND project_type = 'elevator_retrofit'
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
