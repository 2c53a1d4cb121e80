-- id: K21
-- name_zh: 项目平均建设周期
-- name_en: Mean build duration
-- unit: 天
-- kind: ratio
-- grain: district × month
-- definition: projects with a to_status = 'completed' event whose status_date is in the period (the first such date in the period if several): days = that status_date − the status_date of the project's first (by event_time, then event_id) 'renovation.started' event with from_status = 'approved'; numerator = SUM(days), denominator = COUNT(projects), value = numerator / denominator; projects without such a start are left out
-- published: none (operations KPI, reference.md §5)
WITH starts AS (
    SELECT project_id, status_date AS started_on
    FROM (
        SELECT
            project_id,
            status_date,
            ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY event_time, event_id) AS nth
        FROM renovation_events
        WHERE event_type = 'renovation.started'
          AND from_status = 'approved'
    ) s
    WHERE nth = 1
),
completions AS (
    SELECT
        district,
        project_id,
        CAST(date_trunc({grain}, status_date) AS DATE) AS period,
        MIN(status_date) AS completed_on
    FROM renovation_events
    WHERE status_date >= {from}
      AND status_date <= {to}
      AND to_status = 'completed'
    GROUP BY district, project_id, CAST(date_trunc({grain}, status_date) AS DATE)
),
durations AS (
    SELECT
        c.district,
        c.period,
        CAST(c.completed_on - s.started_on AS BIGINT) AS days
    FROM completions c
    JOIN starts s ON s.project_id = c.project_id
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
