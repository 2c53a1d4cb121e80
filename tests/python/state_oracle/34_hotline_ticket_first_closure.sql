-- hotline_ticket_first_closure: each ticket's FIRST closure: of the ticket's
-- 'hotline.ticket_closed' events, the first by ticket_version, then event_time, then Kafka
-- position (partition * 2^40 + offset); a resend is the same event. A re-closure after a reopen
-- is not a first closure. The base of K30's on-time closure: closed_time (this event's
-- closed_time, its event_time when the feed sent none), closed_on (the Asia/Shanghai date of
-- closed_time) and the due_time this event carries (NULL: the ticket has no due time at closure).
-- Grain: one row per ticket with a closure event. Key: ticket_id.
-- Aggregates and joins over the closure events, no window (see hotline_ticket_latest).
SELECT
    x.ticket_id,
    x.event_id,
    x.event_time,
    x.event_date,
    x.district,
    x.district_code,
    x.month,
    x.received_time,
    x.due_time,
    COALESCE(x.closed_time, x.event_time) AS closed_time,
    CAST(COALESCE(x.closed_time, x.event_time) AT TIME ZONE 'Asia/Shanghai' AS DATE) AS closed_on,
    x.kafka_partition,
    x.kafka_offset
FROM hotline_tickets x
JOIN (
    SELECT c.ticket_id, MIN(c.kafka_partition * 1099511627776 + c.kafka_offset) AS position
    FROM hotline_tickets c
    JOIN (
        SELECT t.ticket_id, t.ticket_version, MIN(t.event_time) AS first_time
        FROM hotline_tickets t
        JOIN (
            SELECT ticket_id, MIN(ticket_version) AS first_version
            FROM hotline_tickets
            WHERE event_type = 'hotline.ticket_closed'
            GROUP BY ticket_id
        ) v ON v.ticket_id = t.ticket_id AND v.first_version = t.ticket_version
        WHERE t.event_type = 'hotline.ticket_closed'
        GROUP BY t.ticket_id, t.ticket_version
    ) ft ON ft.ticket_id = c.ticket_id
        AND ft.ticket_version = c.ticket_version
        AND ft.first_time = c.event_time
    WHERE c.event_type = 'hotline.ticket_closed'
    GROUP BY c.ticket_id
) chosen ON chosen.ticket_id = x.ticket_id
    AND chosen.position = x.kafka_partition * 1099511627776 + x.kafka_offset
WHERE x.event_type = 'hotline.ticket_closed'
