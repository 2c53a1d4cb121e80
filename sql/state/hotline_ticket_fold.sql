-- hotline_ticket_fold: the state service's step. Given `prior` (rows of hotline_ticket_state,
-- every column of sql/state/hotline_ticket_state.sql, for the tickets a batch touches; a ticket
-- seen for the first time has none) and `tail` (the batch's newly landed events, every column of
-- hotline_tickets), gives the new state row of every ticket of tail ∪ prior, with the same
-- columns, names and order as hotline_ticket_state.sql.
-- For each role the candidates are the tail events that pass the role's filter plus the prior
-- row's stored winner (when it has one), and the best one by the role's order wins (the rules:
-- hotline_ticket_state.sql's header and the views' headers it points to):
--   latest   all tail events + prior's latest; ticket_version DESC, event_time DESC, position DESC
--   intake   tail 'hotline.ticket_created' + prior intake_*; ticket_version, event_time, position
--   located  tail events with community_code + prior located_*; ticket_version, event_time,
--            position
--   survey   tail valid 'hotline.ticket_surveyed' + prior survey_*; event_time DESC, then the
--            first-landing position of the event DESC (per event_id and event_time, the lowest
--            position among the candidates: a tail resend of the prior winner ranks at the
--            prior's stored first landing)
--   closure  tail 'hotline.ticket_closed' + prior closure_*; ticket_version, event_time, position
-- first_event_date = MIN, community_related = OR, received_month recomputed as in the reference.
-- Position = kafka_partition * 2^40 + kafka_offset; positions are unique per landed row and a
-- resend (same event_id) lands at a later position, so fold(A(E1), E2) = A(E1 ∪ E2) for every
-- role but one case of the survey, which this SELECT cannot decide and the service must settle
-- by recomputing the ticket with hotline_ticket_state.sql over all of its events:
--   a tail valid survey with event_time = prior.survey_event_time and event_id <>
--   prior.survey_event_id (it may be a resend of an earlier loser, whose first landing is older
--   than the prior winner's, or a new event, whose first landing is newer). Such tickets:
--     SELECT DISTINCT t.ticket_id FROM tail t JOIN prior p ON p.ticket_id = t.ticket_id
--     WHERE t.event_type = 'hotline.ticket_surveyed' AND t.is_valid_visit
--       AND t.event_time = p.survey_event_time AND t.event_id <> p.survey_event_id
--   (this SELECT ranks such a tail event as first landed in the tail).
-- Grain: one row per ticket of tail ∪ prior. Key: ticket_id. Plain ROW_NUMBER windows: tail and
-- prior are batch-sized.
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
    i.intake_event_id, i.intake_ticket_version, i.intake_event_time, i.intake_event_date,
    i.intake_district, i.intake_district_code, i.intake_month, i.intake_received_time,
    i.received_date, i.intake_street_code, i.intake_street_name, i.intake_community_code,
    i.intake_community_name, i.intake_channel, i.intake_request_type, i.intake_category_l1,
    i.intake_category_l2, i.intake_category_l3, i.intake_wc_category, i.intake_is_proactive,
    i.intake_intake_disposition, i.intake_ticket_nature, i.intake_due_time,
    i.intake_kafka_partition, i.intake_kafka_offset,
    l.located_ticket_version, l.located_event_time, l.located_kafka_partition,
    l.located_kafka_offset, l.located_street_code, l.located_street_name,
    l.located_community_code, l.located_community_name,
    f.community_related,
    s.survey_event_id, s.survey_event_time, s.survey_event_date, s.survey_district,
    s.survey_district_code, s.survey_month, s.survey_street_code, s.survey_community_code,
    s.survey_ticket_version, s.survey_request_type, s.survey_is_valid_visit, s.survey_contacted,
    s.survey_resolved, s.survey_satisfaction, s.survey_reopen_count, s.survey_kafka_partition,
    s.survey_kafka_offset,
    x.closure_event_id, x.closure_ticket_version, x.closure_event_time, x.closure_event_date,
    x.closure_district, x.closure_district_code, x.closure_month, x.closure_received_time,
    x.closure_due_time, x.closure_closed_time, x.closed_on, x.closure_kafka_partition,
    x.closure_kafka_offset,
    substr(CAST(COALESCE(i.received_date, f.first_event_date) AS VARCHAR), 1, 7)
        AS received_month
FROM (
    -- latest
    SELECT
        hc.*,
        ROW_NUMBER() OVER (
            PARTITION BY hc.ticket_id
            ORDER BY hc.ticket_version DESC NULLS LAST, hc.event_time DESC NULLS LAST,
                hc.kafka_partition * 1099511627776 + hc.kafka_offset DESC NULLS LAST
        ) AS latest_rank
    FROM (
        SELECT
            event_id, event_type, schema_version, source_system, source_record_id, event_time,
            ingest_time, city_code, district_code, district_name, street_code, street_name,
            community_code, community_name, event_date, ticket_id, ticket_version, channel,
            request_type, category_l1, category_l2, category_l3, wc_category, tags, title,
            content, ticket_nature, is_emergency_sensitive, intake_disposition, caller_hash,
            compound_name, location_text, lng, lat, coord_sys_raw, handling_unit,
            handling_unit_level, received_time, dispatched_time, accepted_time, contacted_time,
            due_time, closed_time, status, return_count, reopen_count, handling_result,
            reply_text, is_valid_visit, contacted, resolved, satisfaction, is_proactive,
            related_project_id, related_facility_id, district, month, kafka_partition,
            kafka_offset
        FROM tail
        UNION ALL
        SELECT
            event_id, event_type, schema_version, source_system, source_record_id, event_time,
            ingest_time, city_code, district_code, district_name, street_code, street_name,
            community_code, community_name, event_date, ticket_id, ticket_version, channel,
            request_type, category_l1, category_l2, category_l3, wc_category, tags, title,
            content, ticket_nature, is_emergency_sensitive, intake_disposition, caller_hash,
            compound_name, location_text, lng, lat, coord_sys_raw, handling_unit,
            handling_unit_level, received_time, dispatched_time, accepted_time, contacted_time,
            due_time, closed_time, status, return_count, reopen_count, handling_result,
            reply_text, is_valid_visit, contacted, resolved, satisfaction, is_proactive,
            related_project_id, related_facility_id, district, month, kafka_partition,
            kafka_offset
        FROM prior
    ) hc
) h
JOIN (
    -- first_event_date, community_related
    SELECT
        fc.ticket_id,
        MIN(fc.first_event_date) AS first_event_date,
        MAX(fc.community_related) AS community_related
    FROM (
        SELECT ticket_id, event_date AS first_event_date, wc_category IS NOT NULL AS community_related
        FROM tail
        UNION ALL
        SELECT ticket_id, first_event_date, community_related
        FROM prior
    ) fc
    GROUP BY fc.ticket_id
) f ON f.ticket_id = h.ticket_id
LEFT JOIN (
    -- intake
    SELECT
        ic.*,
        ROW_NUMBER() OVER (
            PARTITION BY ic.ticket_id
            ORDER BY ic.intake_ticket_version, ic.intake_event_time, ic.intake_kafka_partition,
                ic.intake_kafka_offset
        ) AS intake_rank
    FROM (
        SELECT
            ticket_id,
            event_id AS intake_event_id,
            ticket_version AS intake_ticket_version,
            event_time AS intake_event_time,
            event_date AS intake_event_date,
            district AS intake_district,
            district_code AS intake_district_code,
            month AS intake_month,
            received_time AS intake_received_time,
            COALESCE(CAST(received_time AT TIME ZONE 'Asia/Shanghai' AS DATE), event_date)
                AS received_date,
            street_code AS intake_street_code,
            street_name AS intake_street_name,
            community_code AS intake_community_code,
            community_name AS intake_community_name,
            channel AS intake_channel,
            request_type AS intake_request_type,
            category_l1 AS intake_category_l1,
            category_l2 AS intake_category_l2,
            category_l3 AS intake_category_l3,
            wc_category AS intake_wc_category,
            is_proactive AS intake_is_proactive,
            intake_disposition AS intake_intake_disposition,
            ticket_nature AS intake_ticket_nature,
            due_time AS intake_due_time,
            kafka_partition AS intake_kafka_partition,
            kafka_offset AS intake_kafka_offset
        FROM tail
        WHERE event_type = 'hotline.ticket_created'
        UNION ALL
        SELECT
            ticket_id, intake_event_id, intake_ticket_version, intake_event_time,
            intake_event_date, intake_district, intake_district_code, intake_month,
            intake_received_time, received_date, intake_street_code, intake_street_name,
            intake_community_code, intake_community_name, intake_channel, intake_request_type,
            intake_category_l1, intake_category_l2, intake_category_l3, intake_wc_category,
            intake_is_proactive, intake_intake_disposition, intake_ticket_nature,
            intake_due_time, intake_kafka_partition, intake_kafka_offset
        FROM prior
        WHERE intake_event_id IS NOT NULL
    ) ic
) i ON i.ticket_id = h.ticket_id AND i.intake_rank = 1
LEFT JOIN (
    -- located
    SELECT
        lc.*,
        ROW_NUMBER() OVER (
            PARTITION BY lc.ticket_id
            ORDER BY lc.located_ticket_version, lc.located_event_time,
                lc.located_kafka_partition, lc.located_kafka_offset
        ) AS located_rank
    FROM (
        SELECT
            ticket_id,
            ticket_version AS located_ticket_version,
            event_time AS located_event_time,
            kafka_partition AS located_kafka_partition,
            kafka_offset AS located_kafka_offset,
            street_code AS located_street_code,
            street_name AS located_street_name,
            community_code AS located_community_code,
            community_name AS located_community_name
        FROM tail
        WHERE community_code IS NOT NULL
        UNION ALL
        SELECT
            ticket_id, located_ticket_version, located_event_time, located_kafka_partition,
            located_kafka_offset, located_street_code, located_street_name,
            located_community_code, located_community_name
        FROM prior
        WHERE located_community_code IS NOT NULL
    ) lc
) l ON l.ticket_id = h.ticket_id AND l.located_rank = 1
LEFT JOIN (
    -- survey: ranked by event_time, then the first landing of the event (the lowest position of
    -- its event_id at that event_time), then the landing itself (its first one)
    SELECT
        sf.*,
        ROW_NUMBER() OVER (
            PARTITION BY sf.ticket_id
            ORDER BY sf.survey_event_time DESC NULLS LAST, sf.first_position DESC NULLS LAST,
                sf.survey_kafka_partition * 1099511627776 + sf.survey_kafka_offset
        ) AS survey_rank
    FROM (
        SELECT
            sc.*,
            MIN(sc.survey_kafka_partition * 1099511627776 + sc.survey_kafka_offset) OVER (
                PARTITION BY sc.ticket_id, sc.survey_event_id, sc.survey_event_time
            ) AS first_position
        FROM (
            SELECT
                ticket_id,
                event_id AS survey_event_id,
                event_time AS survey_event_time,
                event_date AS survey_event_date,
                district AS survey_district,
                district_code AS survey_district_code,
                month AS survey_month,
                street_code AS survey_street_code,
                community_code AS survey_community_code,
                ticket_version AS survey_ticket_version,
                request_type AS survey_request_type,
                is_valid_visit AS survey_is_valid_visit,
                contacted AS survey_contacted,
                resolved AS survey_resolved,
                satisfaction AS survey_satisfaction,
                reopen_count AS survey_reopen_count,
                kafka_partition AS survey_kafka_partition,
                kafka_offset AS survey_kafka_offset
            FROM tail
            WHERE event_type = 'hotline.ticket_surveyed' AND is_valid_visit
            UNION ALL
            SELECT
                ticket_id, survey_event_id, survey_event_time, survey_event_date,
                survey_district, survey_district_code, survey_month, survey_street_code,
                survey_community_code, survey_ticket_version, survey_request_type,
                survey_is_valid_visit, survey_contacted, survey_resolved, survey_satisfaction,
                survey_reopen_count, survey_kafka_partition, survey_kafka_offset
            FROM prior
            WHERE survey_event_id IS NOT NULL
        ) sc
    ) sf
) s ON s.ticket_id = h.ticket_id AND s.survey_rank = 1
LEFT JOIN (
    -- first closure
    SELECT
        xc.*,
        ROW_NUMBER() OVER (
            PARTITION BY xc.ticket_id
            ORDER BY xc.closure_ticket_version, xc.closure_event_time,
                xc.closure_kafka_partition, xc.closure_kafka_offset
        ) AS closure_rank
    FROM (
        SELECT
            ticket_id,
            event_id AS closure_event_id,
            ticket_version AS closure_ticket_version,
            event_time AS closure_event_time,
            event_date AS closure_event_date,
            district AS closure_district,
            district_code AS closure_district_code,
            month AS closure_month,
            received_time AS closure_received_time,
            due_time AS closure_due_time,
            COALESCE(closed_time, event_time) AS closure_closed_time,
            CAST(COALESCE(closed_time, event_time) AT TIME ZONE 'Asia/Shanghai' AS DATE)
                AS closed_on,
            kafka_partition AS closure_kafka_partition,
            kafka_offset AS closure_kafka_offset
        FROM tail
        WHERE event_type = 'hotline.ticket_closed'
        UNION ALL
        SELECT
            ticket_id, closure_event_id, closure_ticket_version, closure_event_time,
            closure_event_date, closure_district, closure_district_code, closure_month,
            closure_received_time, closure_due_time, closure_closed_time, closed_on,
            closure_kafka_partition, closure_kafka_offset
        FROM prior
        WHERE closure_event_id IS NOT NULL
    ) xc
) x ON x.ticket_id = h.ticket_id AND x.closure_rank = 1
WHERE h.latest_rank = 1
