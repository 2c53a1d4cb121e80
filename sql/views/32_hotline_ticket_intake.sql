-- hotline_ticket_intake: each ticket as received (hotline_ticket_received: its intake event,
-- received_date, district, request_type, is_proactive … as received) with the community it is
-- located in. The base of K29 and of the report's list of communities.
-- * community_code, community_name, street_code, street_name: the intake's when it names a
--   community; otherwise those of the ticket's FIRST event that names one (by ticket_version,
--   event_time, Kafka position; in practice the dispatch). community_source says which:
--   'intake', 'later' (a later event), NULL (no event names a community). A later move of the
--   ticket to another community does not move it.
-- * community_related: some event of the ticket carries a wc_category (the latest known non-NULL
--   wc_category exists); an event without wc_category does not erase an earlier one (K24).
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
    CASE WHEN intake_community_code IS NOT NULL THEN intake_street_code
         WHEN located_community_code IS NOT NULL THEN located_street_code
         ELSE intake_street_code END AS street_code,
    CASE WHEN intake_community_code IS NOT NULL THEN intake_street_name
         WHEN located_community_code IS NOT NULL THEN located_street_name
         ELSE intake_street_name END AS street_name,
    COALESCE(intake_community_code, located_community_code) AS community_code,
    CASE WHEN intake_community_code IS NOT NULL THEN intake_community_name
         ELSE located_community_name END AS community_name,
    CASE WHEN intake_community_code IS NOT NULL THEN 'intake'
         WHEN located_community_code IS NOT NULL THEN 'later' END AS community_source,
    intake_channel AS channel,
    intake_request_type AS request_type,
    intake_category_l1 AS category_l1,
    intake_category_l2 AS category_l2,
    intake_category_l3 AS category_l3,
    intake_wc_category AS wc_category,
    community_related,
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
