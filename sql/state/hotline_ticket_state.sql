-- hotline_ticket_state (REFERENCE definition): one row per hotline ticket holding every fact the
-- ticket views (sql/views/30..34) need, computed here from all of the ticket's landed events in
-- hotline_tickets. The lake's Delta table hotline_ticket_state is kept by the state service,
-- which folds each new batch of landed events into the stored rows
-- (sql/state/hotline_ticket_fold.sql); this SELECT is what that table must equal, and what the
-- tests compare it with. Views 30..34 are projections of it.
-- Every fact is a selection (the best event by an order) or an OR/MIN, so it can be folded:
-- best(A ∪ B) = best(best(A) ∪ B). Position below = kafka_partition * 2^40 + kafka_offset (unique
-- per landed row; an upstream resend lands again with the same event_id at a later position).
-- Columns, in this order:
-- 1. The LATEST event (hotline_ticket_latest's rule, see its header: highest ticket_version, then
--    latest event_time, then highest position): every column of hotline_tickets, in the table's
--    order, from event_id to kafka_offset (ticket_id, district, month included).
-- 2. first_event_date DATE: the earliest event_date of the ticket's events.
-- 3. intake_* and received_date (hotline_ticket_received's rule, see its header: the first
--    'hotline.ticket_created' event by ticket_version, event_time, position; received_date = the
--    Asia/Shanghai date of its received_time, else its event_date). All NULL when no intake event
--    has landed.
-- 4. located_*: the first event that names a community (community_code IS NOT NULL) by
--    ticket_version, event_time, position, kept for every ticket; hotline_ticket_intake uses it
--    when the intake names none. All NULL when no event names a community.
-- 5. community_related BOOLEAN (never NULL): some event of the ticket has a wc_category.
-- 6. survey_* (hotline_ticket_survey's rule, see its header: the valid 'hotline.ticket_surveyed'
--    event with the latest event_time, then the highest position of its event's FIRST landing;
--    survey_kafka_partition/offset are that first landing's). All NULL when none.
-- 7. closure_*, closed_on (hotline_ticket_first_closure's rule, see its header: the first
--    'hotline.ticket_closed' by ticket_version, event_time, position; closure_closed_time =
--    COALESCE(closed_time, event_time), closed_on its Asia/Shanghai date). All NULL when none.
-- 8. received_month VARCHAR 'YYYY-MM' of received_date, else of first_event_date: the Delta
--    table's partition column (a ticket's row moves partition when its intake lands late).
-- Grain: one row per ticket with at least one landed event. Key: ticket_id.
-- Written with the views' aggregate-and-join forms (no window over all events: see
-- hotline_ticket_latest's history); only the intake events are ranked with a window.
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
    h.month, h.kafka_partition, h.kafka_offset,
    f.first_event_date,
    i.event_id AS intake_event_id,
    i.ticket_version AS intake_ticket_version,
    i.event_time AS intake_event_time,
    i.event_date AS intake_event_date,
    i.district AS intake_district,
    i.district_code AS intake_district_code,
    i.month AS intake_month,
    i.received_time AS intake_received_time,
    i.received_date,
    i.street_code AS intake_street_code,
    i.street_name AS intake_street_name,
    i.community_code AS intake_community_code,
    i.community_name AS intake_community_name,
    i.channel AS intake_channel,
    i.request_type AS intake_request_type,
    i.category_l1 AS intake_category_l1,
    i.category_l2 AS intake_category_l2,
    i.category_l3 AS intake_category_l3,
    i.wc_category AS intake_wc_category,
    i.is_proactive AS intake_is_proactive,
    i.intake_disposition AS intake_intake_disposition,
    i.ticket_nature AS intake_ticket_nature,
    i.due_time AS intake_due_time,
    i.kafka_partition AS intake_kafka_partition,
    i.kafka_offset AS intake_kafka_offset,
    l.ticket_version AS located_ticket_version,
    l.event_time AS located_event_time,
    l.kafka_partition AS located_kafka_partition,
    l.kafka_offset AS located_kafka_offset,
    l.street_code AS located_street_code,
    l.street_name AS located_street_name,
    l.community_code AS located_community_code,
    l.community_name AS located_community_name,
    f.community_related,
    s.event_id AS survey_event_id,
    s.event_time AS survey_event_time,
    s.event_date AS survey_event_date,
    s.district AS survey_district,
    s.district_code AS survey_district_code,
    s.month AS survey_month,
    s.street_code AS survey_street_code,
    s.community_code AS survey_community_code,
    s.ticket_version AS survey_ticket_version,
    s.request_type AS survey_request_type,
    s.is_valid_visit AS survey_is_valid_visit,
    s.contacted AS survey_contacted,
    s.resolved AS survey_resolved,
    s.satisfaction AS survey_satisfaction,
    s.reopen_count AS survey_reopen_count,
    s.kafka_partition AS survey_kafka_partition,
    s.kafka_offset AS survey_kafka_offset,
    x.event_id AS closure_event_id,
    x.ticket_version AS closure_ticket_version,
    x.event_time AS closure_event_time,
    x.event_date AS closure_event_date,
    x.district AS closure_district,
    x.district_code AS closure_district_code,
    x.month AS closure_month,
    x.received_time AS closure_received_time,
    x.due_time AS closure_due_time,
    x.closed_time AS closure_closed_time,
    x.closed_on,
    x.kafka_partition AS closure_kafka_partition,
    x.kafka_offset AS closure_kafka_offset,
    substr(CAST(COALESCE(i.received_date, f.first_event_date) AS VARCHAR), 1, 7)
        AS received_month
FROM hotline_tickets h
-- 1. the latest event: the highest position among the events at the top (ticket_version,
--    event_time)
JOIN (
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
-- 2., 5. over all events
JOIN (
    SELECT
        ticket_id,
        MIN(event_date) AS first_event_date,
        COUNT(wc_category) > 0 AS community_related
    FROM hotline_tickets
    GROUP BY ticket_id
) f ON f.ticket_id = h.ticket_id
-- 3. the intake: the first intake event (one or two per ticket are ranked)
LEFT JOIN (
    SELECT
        ticket_id, event_id, ticket_version, event_time, event_date, district, district_code,
        month, received_time,
        COALESCE(CAST(received_time AT TIME ZONE 'Asia/Shanghai' AS DATE), event_date)
            AS received_date,
        street_code, street_name, community_code, community_name, channel, request_type,
        category_l1, category_l2, category_l3, wc_category, is_proactive, intake_disposition,
        ticket_nature, due_time, kafka_partition, kafka_offset
    FROM (
        SELECT
            ic.*,
            ROW_NUMBER() OVER (
                PARTITION BY ticket_id
                ORDER BY ticket_version, event_time, kafka_partition, kafka_offset
            ) AS intake_rank
        FROM hotline_tickets ic
        WHERE event_type = 'hotline.ticket_created'
    ) ranked
    WHERE intake_rank = 1
) i ON i.ticket_id = h.ticket_id
-- 4. the first event naming a community: the lowest position among those at the first
--    (ticket_version, event_time)
LEFT JOIN (
    SELECT
        e.ticket_id, e.ticket_version, e.event_time, e.kafka_partition, e.kafka_offset,
        e.street_code, e.street_name, e.community_code, e.community_name
    FROM hotline_tickets e
    JOIN (
        SELECT lc.ticket_id, MIN(lc.kafka_partition * 1099511627776 + lc.kafka_offset) AS position
        FROM hotline_tickets lc
        JOIN (
            SELECT lt.ticket_id, lt.ticket_version, MIN(lt.event_time) AS first_time
            FROM hotline_tickets lt
            JOIN (
                SELECT ticket_id, MIN(ticket_version) AS first_version
                FROM hotline_tickets
                WHERE community_code IS NOT NULL
                GROUP BY ticket_id
            ) lv ON lv.ticket_id = lt.ticket_id AND lv.first_version = lt.ticket_version
            WHERE lt.community_code IS NOT NULL
            GROUP BY lt.ticket_id, lt.ticket_version
        ) lf ON lf.ticket_id = lc.ticket_id
            AND lf.ticket_version = lc.ticket_version
            AND lf.first_time = lc.event_time
        WHERE lc.community_code IS NOT NULL
        GROUP BY lc.ticket_id
    ) lp ON lp.ticket_id = e.ticket_id
        AND lp.position = e.kafka_partition * 1099511627776 + e.kafka_offset
    WHERE e.community_code IS NOT NULL
) l ON l.ticket_id = h.ticket_id
-- 6. the last valid survey: the highest first-landing position among the valid surveys at the
--    latest event_time
LEFT JOIN (
    SELECT
        sv.ticket_id, sv.event_id, sv.event_time, sv.event_date, sv.district, sv.district_code,
        sv.month, sv.street_code, sv.community_code, sv.ticket_version, sv.request_type,
        sv.is_valid_visit, sv.contacted, sv.resolved, sv.satisfaction, sv.reopen_count,
        sv.kafka_partition, sv.kafka_offset
    FROM hotline_tickets sv
    JOIN (
        SELECT firsts.ticket_id, MAX(firsts.position) AS position
        FROM (
            SELECT
                sc.ticket_id, sc.event_id,
                MIN(sc.kafka_partition * 1099511627776 + sc.kafka_offset) AS position
            FROM hotline_tickets sc
            JOIN (
                SELECT ticket_id, MAX(event_time) AS last_time
                FROM hotline_tickets
                WHERE event_type = 'hotline.ticket_surveyed' AND is_valid_visit
                GROUP BY ticket_id
            ) st ON st.ticket_id = sc.ticket_id AND st.last_time = sc.event_time
            WHERE sc.event_type = 'hotline.ticket_surveyed' AND sc.is_valid_visit
            GROUP BY sc.ticket_id, sc.event_id
        ) firsts
        GROUP BY firsts.ticket_id
    ) sp ON sp.ticket_id = sv.ticket_id
        AND sp.position = sv.kafka_partition * 1099511627776 + sv.kafka_offset
    WHERE sv.event_type = 'hotline.ticket_surveyed'
) s ON s.ticket_id = h.ticket_id
-- 7. the first closure: the lowest position among the closures at the first (ticket_version,
--    event_time)
LEFT JOIN (
    SELECT
        xe.ticket_id, xe.event_id, xe.ticket_version, xe.event_time, xe.event_date, xe.district,
        xe.district_code, xe.month, xe.received_time, xe.due_time,
        COALESCE(xe.closed_time, xe.event_time) AS closed_time,
        CAST(COALESCE(xe.closed_time, xe.event_time) AT TIME ZONE 'Asia/Shanghai' AS DATE)
            AS closed_on,
        xe.kafka_partition, xe.kafka_offset
    FROM hotline_tickets xe
    JOIN (
        SELECT xc.ticket_id, MIN(xc.kafka_partition * 1099511627776 + xc.kafka_offset) AS position
        FROM hotline_tickets xc
        JOIN (
            SELECT xt.ticket_id, xt.ticket_version, MIN(xt.event_time) AS first_time
            FROM hotline_tickets xt
            JOIN (
                SELECT ticket_id, MIN(ticket_version) AS first_version
                FROM hotline_tickets
                WHERE event_type = 'hotline.ticket_closed'
                GROUP BY ticket_id
            ) xv ON xv.ticket_id = xt.ticket_id AND xv.first_version = xt.ticket_version
            WHERE xt.event_type = 'hotline.ticket_closed'
            GROUP BY xt.ticket_id, xt.ticket_version
        ) xf ON xf.ticket_id = xc.ticket_id
            AND xf.ticket_version = xc.ticket_version
            AND xf.first_time = xc.event_time
        WHERE xc.event_type = 'hotline.ticket_closed'
        GROUP BY xc.ticket_id
    ) xp ON xp.ticket_id = xe.ticket_id
        AND xp.position = xe.kafka_partition * 1099511627776 + xe.kafka_offset
    WHERE xe.event_type = 'hotline.ticket_closed'
) x ON x.ticket_id = h.ticket_id
