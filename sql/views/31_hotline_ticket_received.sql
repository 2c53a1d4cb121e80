-- hotline_ticket_received: each ticket's intake as received, one row per ticket: its intake
-- event ('hotline.ticket_created'). A resend (same event_id) counts once; should a feed send
-- several distinct intake events for one ticket, the first by ticket_version, then event_time,
-- then Kafka position (partition, offset) is the intake. A ticket without a landed intake event
-- has no row (it is not counted as received).
-- * received_date: the Asia/Shanghai date of the intake's received_time (its event_date when the
--   feed sent no received_time): the period a ticket is received in (K23, K24, K34, K35).
-- * received_month: 'YYYY-MM' of received_date, the state's partition: a query that also bounds
--   it by its range's months reads only those months' files.
-- * district and every other column: the intake event's values, as received (community_code is
--   the intake's; hotline_ticket_intake adds the community a later event gives).
-- Grain: one row per ticket. Key: ticket_id.
-- reads hotline_ticket_state (one row per ticket, kept by the state service; its reference
-- definition is sql/state/hotline_ticket_state.sql).
SELECT
    ticket_id,
    intake_event_id AS event_id,
    intake_event_time AS event_time,
    intake_event_date AS event_date,
    intake_district AS district,
    intake_district_code AS district_code,
    intake_month AS month,
    intake_received_time AS received_time,
    received_date,
    received_month,
    intake_street_code AS street_code,
    intake_street_name AS street_name,
    intake_community_code AS community_code,
    intake_community_name AS community_name,
    intake_channel AS channel,
    intake_request_type AS request_type,
    intake_category_l1 AS category_l1,
    intake_category_l2 AS category_l2,
    intake_category_l3 AS category_l3,
    intake_wc_category AS wc_category,
    intake_is_proactive AS is_proactive,
    intake_intake_disposition AS intake_disposition,
    intake_ticket_nature AS ticket_nature,
    intake_due_time AS due_time,
    intake_kafka_partition AS kafka_partition,
    intake_kafka_offset AS kafka_offset
FROM hotline_ticket_state
-- received_date is set exactly when the ticket has an intake event (an event_date never is NULL);
-- filtering on it reads one date column instead of the intake event ids
WHERE received_date IS NOT NULL
