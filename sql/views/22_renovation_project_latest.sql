-- renovation_project_latest: each renovation project's latest event (the last in the order of
-- renovation_history: event_time, then Kafka position): its current status, with the values
-- carried forward (*_cf) of renovation_history.
-- Grain: one row per project. Key: project_id.
SELECT *
FROM renovation_history
WHERE valid_to IS NULL
