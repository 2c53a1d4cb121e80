-- renovation_project_latest: each renovation project's last event in the order of
-- renovation_history (status_date, then event_time, then Kafka position): its current status,
-- with the values carried forward (*_cf) of renovation_history.
-- Grain: one row per project. Key: project_id.
SELECT *
FROM renovation_history
WHERE valid_to IS NULL
