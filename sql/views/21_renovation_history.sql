-- renovation_history: SCD2 of renovation projects, with each project's status history and the
-- values it carries forward. Grain: one row per renovation event. Key: event_id.
--
-- Order of a project's events (event_seq, 1, 2, …): status_date (状态变更日期, the date the
-- status took effect), then event_time, then Kafka position (kafka_partition, kafka_offset; the
-- same order as kafka_partition * 2^40 + kafka_offset); a resend is one event
-- (renovation_events). Within one status_date this is the catalogue's rule (event_time, then
-- Kafka position); status_date comes first so that a report filed late about an earlier date
-- (a re-sent old completion, a late progress report) takes its place in the project's history
-- instead of overriding what took effect after it, and a correction of a status's date moves
-- it. previous_status is the to_status of the project's previous event in this order: the KPIs
-- use it, never the feed's optional from_status.
--
-- Validity: each event is the project's state from valid_from = its status_date (inclusive) to
-- valid_to = the status_date of the project's next event (exclusive; NULL for the last), so
-- the state at a date d is the one row with valid_from <= d AND (valid_to IS NULL OR valid_to >
-- d): the project's last event (in the order above) with status_date <= d (of several events
-- of one status_date, the last by event_time, then Kafka position).
--
-- Carried forward (missing is not zero): *_cf is the last non-NULL value of the column among
-- the project's events up to and including this one, NULL only while no value was ever sent:
-- investment_cum_cf (investment_completed_cum_yuan), quantity_cum_cf (quantity_completed_cum),
-- quantity_unit_cf, elevators_cf (elevators_count), households_cf (households_benefited),
-- compound_cf (compound_id).
-- quantity_delta: quantity_cum_cf − the quantity_cum_cf of the project's previous event with
-- the same quantity_unit_cf (0 before the first): what this event adds to the completed
-- quantity. An event without a quantity adds 0; a lower cumulative than before (a correction)
-- gives a negative delta, so a project's deltas sum to its latest cumulative quantity.
-- A projection of renovation_project_state (sql/state/renovation_project_state.sql), which
-- holds these rules' SQL.
SELECT
    event_id, event_type, event_time, city_code, district_code, district_name, street_code,
    street_name, community_code, community_name, event_date, project_id, parent_project_id,
    project_name, project_type, renovation_class, compound_id, compound_name,
    compound_built_year, buildings_count, from_status, to_status, status_date,
    planned_start_date, planned_end_date, quantity_planned, quantity_completed_cum,
    quantity_unit, households_benefited, residents_benefited, elevators_count, progress_pct,
    investment_planned_yuan, investment_completed_cum_yuan, funding_central_yuan,
    funding_local_yuan, funding_resident_yuan, funding_social_yuan, implementing_unit,
    district, kafka_partition, kafka_offset, event_seq, previous_status, valid_from, valid_to,
    investment_cum_cf, quantity_cum_cf, quantity_unit_cf, elevators_cf, households_cf,
    compound_cf,
    quantity_delta
FROM renovation_project_state
