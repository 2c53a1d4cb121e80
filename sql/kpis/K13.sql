-- id: K13
-- name_zh: 加装电梯完工数
-- name_en: Elevators installed (completed)
-- unit: 部
-- kind: flow
-- grain: district × week
-- definition: SUM(elevators_count) of elevator_retrofit projects whose counted completion (renovation_milestones) has its status_date in the period; district of the completion event. A project counts once: at the first event of its final unbroken run of to_status 'completed'/'accepted' events (a project that jumps to 'accepted' completes there), its events ordered by status_date (the date the status took effect), then event_time, then Kafka position, a resend counting once; a second completion event, a correction repeating 'completed' and the acceptance count nothing more. A completion later withdrawn (the status leaves completed/accepted again, e.g. back to started) leaves the count: the figure of the period it was counted in goes down when the withdrawal lands (data about that period); if the project completes again it counts at the new completion. elevators_count is the completion event's, else the last value the project sent before it (carried forward), else 0; later corrections of the number do not revise the figure. from_status is not used. Official rule on withdrawals and double reports not found: this rule is ours (reference.md §5: first completion, once per project).
-- published: 海淀 2024 老楼加装电梯 280部; 重庆 加装电梯 6800余部 (published-figures.md)
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
  AND milestone = 'completed'
  AND project_type = 'elevator_retrofit'
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
