-- report: overdue_projects
-- Renovation projects past their planned end date at {to}: the project's state at {to}
-- (renovation_history, as K17) is still open (declared, approved, started or suspended) and
-- planned_end_date < {to}.
SELECT
    district,
    project_id,
    project_name,
    project_type,
    community_name,
    to_status AS status,
    planned_end_date,
    CAST(CAST({to} - planned_end_date AS BIGINT) AS DOUBLE) AS days_overdue,
    CAST(progress_pct AS DOUBLE) AS progress_pct
FROM renovation_history
WHERE valid_from <= {to}
  AND (valid_to IS NULL OR valid_to > {to})
  AND to_status IN ('declared', 'approved', 'started', 'suspended')
  AND planned_end_date < {to}
ORDER BY district, days_overdue DESC, project_id
