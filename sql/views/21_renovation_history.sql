-- renovation_history: SCD2 of renovation projects. Each renovation event is the project's state
-- from valid_from = its status_date (inclusive) to valid_to = the status_date of the project's
-- next event (exclusive), NULL for the latest. Events are ordered by event_time, then event_id
-- (as renovation_project_latest). valid_to is taken as the earliest status_date of all the
-- later events (the next event's date while dates follow event_time), so the state at a date d
-- is the one row with valid_from <= d AND (valid_to IS NULL OR valid_to > d): the project's
-- latest event with status_date <= d.
-- Grain: one row per renovation event. Key: event_id.
SELECT
    event_id, event_type, event_time, city_code, district_code, district_name, street_code,
    street_name, community_code, community_name, event_date, project_id, parent_project_id,
    project_name, project_type, renovation_class, compound_id, compound_name,
    compound_built_year, buildings_count, from_status, to_status, status_date,
    planned_start_date, planned_end_date, quantity_planned, quantity_completed_cum,
    quantity_unit, households_benefited, residents_benefited, elevators_count, progress_pct,
    investment_planned_yuan, investment_completed_cum_yuan, funding_central_yuan,
    funding_local_yuan, funding_resident_yuan, funding_social_yuan, implementing_unit,
    district,
    status_date AS valid_from,
    MIN(status_date) OVER (
        PARTITION BY project_id ORDER BY event_time, event_id
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    ) AS valid_to
FROM renovation_events
