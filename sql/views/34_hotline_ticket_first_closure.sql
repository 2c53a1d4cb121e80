-- hotline_ticket_first_closure: each ticket's FIRST closure: of the ticket's
-- 'hotline.ticket_closed' events, the first by ticket_version, then event_time, then Kafka
-- position (partition * 2^40 + offset); a resend is the same event. A re-closure after a reopen
-- is not a first closure. The base of K30's on-time closure: closed_time (this event's
-- closed_time, its event_time when the feed sent none), closed_on (the Asia/Shanghai date of
-- closed_time) and the due_time this event carries (NULL: the ticket has no due time at closure).
-- Grain: one row per ticket with a closure event. Key: ticket_id.
-- reads hotline_ticket_state (one row per ticket, kept by the state service; its reference
-- definition is sql/state/hotline_ticket_state.sql).
SELECT
    ticket_id,
    closure_event_id AS event_id,
    closure_event_time AS event_time,
    closure_event_date AS event_date,
    closure_district AS district,
    closure_district_code AS district_code,
    closure_month AS month,
    closure_received_time AS received_time,
    closure_due_time AS due_time,
    closure_closed_time AS closed_time,
    closed_on,
    closure_kafka_partition AS kafka_partition,
    closure_kafka_offset AS kafka_offset
FROM hotline_ticket_state
-- closure_event_date is set exactly when the ticket has a closure event (an event_date never is
-- NULL); filtering on it reads one date column instead of the closure event ids
WHERE closure_event_date IS NOT NULL
