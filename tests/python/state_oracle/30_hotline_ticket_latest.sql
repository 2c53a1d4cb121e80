-- hotline_ticket_latest: each hotline ticket's current snapshot: of all the ticket's landed
-- events, the one with the highest ticket_version; among events of that version, the latest
-- event_time; among those, the highest Kafka position (partition * 2^40 + offset). An upstream
-- resend (same event_id) repeats the event, so the ticket still has one row; the resend's own
-- position takes part in the last tie-break (only two DIFFERENT events with the same version
-- and event_time are told apart by position, and there a late resend of the first one makes
-- it win: not seen in feeds, and ranking each event at its first landing doubled the time).
-- Grain: one row per ticket. Key: ticket_id. No KPI reads it (the intake, survey and closure
-- views serve them); it is the current state for ad-hoc queries.
-- Written with aggregates and joins, no window: DataFusion 55's ROW_NUMBER over millions of
-- one-row partitions spent 12 s of a 24 s K25 on Beijing 2024 at scale 0.2 (24 M events,
-- 4.1 M tickets); the aggregate form took 11 s there (DuckDB about 5 s either way). The
-- event_time tie-break adds one join level: measured on Beijing 2024 at scale 0.03 (3.6 M
-- events, debug build, COUNT(*) of the view) DataFusion 46.6 s (47.3 s without it), DuckDB
-- 1.8 s (1.2 s). No filter can go below it: the latest row depends on all of a ticket's events.
SELECT
    h.event_id, h.event_type, h.schema_version, h.source_system, h.source_record_id,
    h.event_time, h.ingest_time, h.city_code, h.district_code, h.district_name, h.street_code,
    h.street_name, h.community_code, h.community_name, h.event_date, h.ticket_id,
    h.ticket_version, h.channel, h.request_type, h.category_l1, h.category_l2, h.category_l3,
    h.wc_category, h.tags, h.title, h.content, h.ticket_nature, h.is_emergency_sensitive,
    h.intake_disposition, h.caller_hash, h.compound_name, h.location_text, h.lng, h.lat,
    h.coord_sys_raw, h.handling_unit, h.handling_unit_level, h.received_time, h.dispatched_time,
    h.accepted_time, h.contacted_time, h.due_time, h.closed_time, h.status, h.return_count,
    h.reopen_count, h.handling_result, h.reply_text, h.is_valid_visit, h.contacted, h.resolved,
    h.satisfaction, h.is_proactive, h.related_project_id, h.related_facility_id, h.district,
    h.month, h.kafka_partition, h.kafka_offset
FROM hotline_tickets h
JOIN (
    -- per ticket, the highest Kafka position among its events at the top (ticket_version,
    -- event_time)
    SELECT c.ticket_id, MAX(c.kafka_partition * 1099511627776 + c.kafka_offset) AS position
    FROM hotline_tickets c
    JOIN (
        SELECT t.ticket_id, t.ticket_version, MAX(t.event_time) AS top_time
        FROM hotline_tickets t
        JOIN (
            SELECT ticket_id, MAX(ticket_version) AS top_version
            FROM hotline_tickets
            GROUP BY ticket_id
        ) newest ON newest.ticket_id = t.ticket_id AND newest.top_version = t.ticket_version
        GROUP BY t.ticket_id, t.ticket_version
    ) timed ON timed.ticket_id = c.ticket_id
        AND timed.ticket_version = c.ticket_version
        AND timed.top_time = c.event_time
    GROUP BY c.ticket_id
) chosen ON chosen.ticket_id = h.ticket_id
    AND chosen.position = h.kafka_partition * 1099511627776 + h.kafka_offset
