-- hotline_ticket_received: each ticket's intake as received, one row per ticket: its intake
-- event ('hotline.ticket_created'). A resend (same event_id) counts once; should a feed send
-- several distinct intake events for one ticket, the first by ticket_version, then event_time,
-- then Kafka position (partition, offset) is the intake. A ticket without a landed intake event
-- has no row (it is not counted as received).
-- * received_date: the Asia/Shanghai date of the intake's received_time (its event_date when the
--   feed sent no received_time): the period a ticket is received in (K23, K24, K34, K35).
-- * district and every other column: the intake event's values, as received (community_code is
--   the intake's; hotline_ticket_intake adds the community a later event gives).
-- Grain: one row per ticket. Key: ticket_id.
-- The window ranks only the intake events (one or two per ticket), not all of a ticket's events
-- (see hotline_ticket_latest). Measured on Beijing 2024 at scale 0.03 (3.6 M events, 631 k
-- tickets, debug build), K23 for 2024 by week: DataFusion 30.9 s, DuckDB 0.8 s (before, when
-- K23 counted distinct ticket_ids of the intake events by event_date and pruned months: 14.6 s
-- and 0.3 s).
SELECT
    ticket_id, event_id, event_time, event_date, district, district_code, month, received_time,
    COALESCE(CAST(received_time AT TIME ZONE 'Asia/Shanghai' AS DATE), event_date)
        AS received_date,
    street_code, street_name, community_code, community_name, channel, request_type,
    category_l1, category_l2, category_l3, wc_category, is_proactive, intake_disposition,
    ticket_nature, due_time, kafka_partition, kafka_offset
FROM (
    SELECT
        h.*,
        ROW_NUMBER() OVER (
            PARTITION BY ticket_id
            ORDER BY ticket_version, event_time, kafka_partition, kafka_offset
        ) AS intake_rank
    FROM hotline_tickets h
    WHERE event_type = 'hotline.ticket_created'
) ranked
WHERE intake_rank = 1
