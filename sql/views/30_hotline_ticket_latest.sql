-- hotline_ticket_latest: each hotline ticket's current snapshot: of all the ticket's landed
-- events, the one with the highest ticket_version; among events of that version, the latest
-- event_time; among those, the highest Kafka position (partition * 2^40 + offset). An upstream
-- resend (same event_id) repeats the event, so the ticket still has one row; the resend's own
-- position takes part in the last tie-break (only two DIFFERENT events with the same version
-- and event_time are told apart by position, and there a late resend of the first one makes
-- it win: not seen in feeds, and ranking each event at its first landing doubled the time).
-- Grain: one row per ticket. Key: ticket_id. No KPI reads it (the intake, survey and closure
-- views serve them); it is the current state for ad-hoc queries.
-- reads hotline_ticket_state (one row per ticket, kept by the state service; its reference
-- definition is sql/state/hotline_ticket_state.sql).
SELECT
    event_id, event_type, schema_version, source_system, source_record_id, event_time,
    ingest_time, city_code, district_code, district_name, street_code, street_name,
    community_code, community_name, event_date, ticket_id, ticket_version, channel, request_type,
    category_l1, category_l2, category_l3, wc_category, tags, title, content, ticket_nature,
    is_emergency_sensitive, intake_disposition, caller_hash, compound_name, location_text, lng,
    lat, coord_sys_raw, handling_unit, handling_unit_level, received_time, dispatched_time,
    accepted_time, contacted_time, due_time, closed_time, status, return_count, reopen_count,
    handling_result, reply_text, is_valid_visit, contacted, resolved, satisfaction, is_proactive,
    related_project_id, related_facility_id, district, month, kafka_partition, kafka_offset
FROM hotline_ticket_state
