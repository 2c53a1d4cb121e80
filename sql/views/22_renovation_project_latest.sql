-- renovation_project_latest: each renovation project's latest event, by event_time, then
-- event_id: its current status, cumulative quantity and investment.
-- Grain: one row per project. Key: project_id.
SELECT *
FROM renovation_history
WHERE valid_to IS NULL
