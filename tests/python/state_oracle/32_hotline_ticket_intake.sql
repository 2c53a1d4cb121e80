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
-- The one window ranks only the events of tickets received without a community.
SELECT
    i.ticket_id,
    i.event_id,
    i.event_time,
    i.event_date,
    i.district,
    i.district_code,
    i.month,
    i.received_time,
    i.received_date,
    CASE WHEN i.community_code IS NOT NULL THEN i.street_code
         WHEN l.community_code IS NOT NULL THEN l.street_code
         ELSE i.street_code END AS street_code,
    CASE WHEN i.community_code IS NOT NULL THEN i.street_name
         WHEN l.community_code IS NOT NULL THEN l.street_name
         ELSE i.street_name END AS street_name,
    COALESCE(i.community_code, l.community_code) AS community_code,
    CASE WHEN i.community_code IS NOT NULL THEN i.community_name ELSE l.community_name END
        AS community_name,
    CASE WHEN i.community_code IS NOT NULL THEN 'intake'
         WHEN l.community_code IS NOT NULL THEN 'later' END AS community_source,
    i.channel,
    i.request_type,
    i.category_l1,
    i.category_l2,
    i.category_l3,
    i.wc_category,
    CASE WHEN r.ticket_id IS NOT NULL THEN TRUE ELSE FALSE END AS community_related,
    i.is_proactive,
    i.intake_disposition,
    i.ticket_nature,
    i.due_time,
    i.kafka_partition,
    i.kafka_offset
FROM hotline_ticket_received i
LEFT JOIN (
    -- the first event naming a community, of tickets with an intake event without one
    SELECT ticket_id, street_code, street_name, community_code, community_name
    FROM (
        SELECT
            e.ticket_id, e.street_code, e.street_name, e.community_code, e.community_name,
            ROW_NUMBER() OVER (
                PARTITION BY e.ticket_id
                ORDER BY e.ticket_version, e.event_time, e.kafka_partition, e.kafka_offset
            ) AS located_rank
        FROM hotline_tickets e
        JOIN (
            SELECT DISTINCT ticket_id
            FROM hotline_tickets
            WHERE event_type = 'hotline.ticket_created' AND community_code IS NULL
        ) unlocated ON unlocated.ticket_id = e.ticket_id
        WHERE e.community_code IS NOT NULL
    ) ranked
    WHERE located_rank = 1
) l ON l.ticket_id = i.ticket_id
LEFT JOIN (
    SELECT DISTINCT ticket_id
    FROM hotline_tickets
    WHERE wc_category IS NOT NULL
) r ON r.ticket_id = i.ticket_id
