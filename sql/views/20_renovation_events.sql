-- renovation_events: renovation progress events, each once. An upstream resend lands as a row
-- of its own with the same event_id; the row at the lowest (kafka_partition, kafka_offset) is
-- kept. A resend repeats the event's bytes, so its district and month too: the rank is within
-- (district, month, event_id). (month is of event_date, not status_date: the renovation KPIs
-- cannot use it.)
-- A projection of renovation_project_state (sql/state/renovation_project_state.sql), where the
-- rank is taken.
-- Grain: one row per renovation progress event. Key: event_id.
SELECT
    event_id, event_type, schema_version, source_system, source_record_id, event_time,
    ingest_time, city_code, district_code, district_name, street_code, street_name,
    community_code, community_name, event_date, project_id, parent_project_id, project_name,
    project_type, renovation_class, compound_id, compound_name, compound_built_year,
    buildings_count, from_status, to_status, status_date, planned_start_date, planned_end_date,
    quantity_planned, quantity_completed_cum, quantity_unit, households_benefited,
    residents_benefited, elevators_count, progress_pct, investment_planned_yuan,
    investment_completed_cum_yuan, funding_central_yuan, funding_local_yuan,
    funding_resident_yuan, funding_social_yuan, amount_unit_raw, implementing_unit,
    owner_consent_pct, remarks, district, month, kafka_partition, kafka_offset
FROM renovation_project_state
