-- hotline_ticket_survey: each ticket's LAST VALID RETURN VISIT: of the ticket's
-- 'hotline.ticket_surveyed' events with is_valid_visit = TRUE (FALSE or NULL: not a valid
-- visit), the one with the latest event_time, then the highest Kafka position (partition * 2^40
-- + offset) of the event's first landing (a resend is one event, ranked at its first landing).
-- The base of the three rates (K25–K28): a ticket counts once, in the period of this survey's
-- event_date, with this survey's flags (contacted, resolved, satisfaction) and district.
-- Later events that are not valid surveys (archive, reopen, a re-closure, an invalid survey) do
-- not move it; a valid survey after a reopen replaces the earlier one.
-- Grain: one row per ticket with a valid survey. Key: ticket_id.
-- Aggregates and joins over the survey events, no window (see hotline_ticket_latest).
SELECT
    s.ticket_id,
    s.event_id,
    s.event_time,
    s.event_date,
    s.district,
    s.district_code,
    s.month,
    s.street_code,
    s.community_code,
    s.ticket_version,
    s.request_type,
    s.is_valid_visit,
    s.contacted,
    s.resolved,
    s.satisfaction,
    s.reopen_count,
    s.kafka_partition,
    s.kafka_offset
FROM hotline_tickets s
JOIN (
    SELECT firsts.ticket_id, MAX(firsts.position) AS position
    FROM (
        SELECT c.ticket_id, c.event_id, MIN(c.kafka_partition * 1099511627776 + c.kafka_offset) AS position
        FROM hotline_tickets c
        JOIN (
            SELECT ticket_id, MAX(event_time) AS last_time
            FROM hotline_tickets
            WHERE event_type = 'hotline.ticket_surveyed' AND is_valid_visit
            GROUP BY ticket_id
        ) lt ON lt.ticket_id = c.ticket_id AND lt.last_time = c.event_time
        WHERE c.event_type = 'hotline.ticket_surveyed' AND c.is_valid_visit
        GROUP BY c.ticket_id, c.event_id
    ) firsts
    GROUP BY firsts.ticket_id
) chosen ON chosen.ticket_id = s.ticket_id
    AND chosen.position = s.kafka_partition * 1099511627776 + s.kafka_offset
WHERE s.event_type = 'hotline.ticket_surveyed'
