-- hotline_ticket_survey: each ticket's LAST VALID RETURN VISIT: of the ticket's
-- 'hotline.ticket_surveyed' events with is_valid_visit = TRUE (FALSE or NULL: not a valid
-- visit), the one with the latest event_time, then the highest Kafka position (partition * 2^40
-- + offset) of the event's first landing (a resend is one event, ranked at its first landing).
-- The base of the three rates (K25–K28): a ticket counts once, in the period of this survey's
-- event_date, with this survey's flags (contacted, resolved, satisfaction) and district.
-- Later events that are not valid surveys (archive, reopen, a re-closure, an invalid survey) do
-- not move it; a valid survey after a reopen replaces the earlier one.
-- Grain: one row per ticket with a valid survey. Key: ticket_id.
-- reads hotline_ticket_state (one row per ticket, kept by the state service; its reference
-- definition is sql/state/hotline_ticket_state.sql).
SELECT
    ticket_id,
    survey_event_id AS event_id,
    survey_event_time AS event_time,
    survey_event_date AS event_date,
    survey_district AS district,
    survey_district_code AS district_code,
    survey_month AS month,
    survey_street_code AS street_code,
    survey_community_code AS community_code,
    survey_ticket_version AS ticket_version,
    survey_request_type AS request_type,
    survey_is_valid_visit AS is_valid_visit,
    survey_contacted AS contacted,
    survey_resolved AS resolved,
    survey_satisfaction AS satisfaction,
    survey_reopen_count AS reopen_count,
    survey_kafka_partition AS kafka_partition,
    survey_kafka_offset AS kafka_offset
FROM hotline_ticket_state
-- survey_event_date is set exactly when the ticket has a valid survey (an event_date never is
-- NULL); filtering on it reads one date column instead of the survey event ids
WHERE survey_event_date IS NOT NULL
