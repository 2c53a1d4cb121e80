-- id: K21
-- name_zh: 项目平均建设周期
-- name_en: Mean build duration
-- unit: 天
-- kind: ratio
-- grain: district × month
-- definition: renovation projects (every project_type) whose counted completion (renovation_milestones: the first event of the project's final unbroken run of 'completed'/'accepted' events; a withdrawn completion is not one) has its status_date in the period, paired with the project's counted start (the first 'started' event after its last 'declared'/'approved' event; progress reports and resumptions are not starts): days = completion status_date − start status_date; numerator = SUM(days), denominator = COUNT(projects), value = numerator / denominator; district and period of the completion. The pairing uses the project's own status history (events ordered by status_date (the date the status took effect), then event_time, then Kafka position; a resend counts once), never from_status, which feeds may leave out. Left out: projects without a start (no 'started' event) and pairs with negative days (a completion dated before the start: a data error). Suspensions are inside the duration. Official rule not found: this rule is ours.
-- published: none (operations KPI, reference.md §5)
WITH completions AS (
    SELECT project_id, district, status_date AS completed_on
    FROM renovation_milestones
    WHERE milestone = 'completed'
      AND status_date >= {from}
      AND status_date <= {to}
),
starts AS (
    SELECT project_id, status_date AS started_on
    FROM renovation_milestones
    WHERE milestone = 'started'
),
durations AS (
    SELECT
        c.district,
        CAST(date_trunc({grain}, c.completed_on) AS DATE) AS period,
        CAST(c.completed_on - s.started_on AS BIGINT) AS days
    FROM completions c
    JOIN starts s ON s.project_id = c.project_id
    WHERE s.started_on <= c.completed_on
)
SELECT
    district,
    period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(days) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(SUM(days) AS DOUBLE) AS numerator,
    CAST(COUNT(*) AS DOUBLE) AS denominator
FROM durations
GROUP BY district, period
