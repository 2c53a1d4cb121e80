-- facility_openings: when each facility opened, and whether that opening is new or stock.
-- The opening of a facility is its first event (facility_seq order, as in facility_history:
-- facility_version, then event_time, then Kafka position) whose status is 'operating'; a
-- facility that was never operating has no row. opened_on = that event's opened_date, or its
-- event_date when opened_date is NULL. registered_on = that event's event_date (when the
-- registry learnt of the opening: a late entry 补录 has registered_on after opened_on).
-- District, type, community and life circle are those of the opening event. Closing (or
-- suspension) and reopening never makes a second row.
-- stock = the opening is not new:
--   'stock_loaded': the facility's first event has change_reason '存量登记' and a status other
--     than 'planned' / 'under_construction' (an existing facility loaded into the registry;
--     one loaded while still planned or under construction opens later and is new then);
--   'before_registry': opened_on is before the registry start of its district, the earliest
--     event_date of any facility event of that district.
-- Reads facility_events (not facility_history: no capacity is needed here).
-- Grain: one row per facility that has been operating. Key: facility_id.
WITH registry AS (
    SELECT district, MIN(event_date) AS registry_start
    FROM facility_events
    GROUP BY district
),
ordered AS (
    SELECT
        facility_id, district, city_code, street_code, community_code, facility_type,
        facility_subtype, life_circle_id, event_id, event_date, status,
        COALESCE(opened_date, event_date) AS opened_on,
        ROW_NUMBER() OVER w AS facility_seq,
        FIRST_VALUE(
            CASE
                WHEN change_reason = '存量登记'
                 AND status NOT IN ('planned', 'under_construction') THEN 1
                ELSE 0
            END
        ) OVER w AS loaded_as_stock,
        SUM(CASE WHEN status = 'operating' THEN 1 ELSE 0 END) OVER w AS operating_so_far
    FROM facility_events
    WINDOW w AS (
        PARTITION BY facility_id
        ORDER BY facility_version, event_time, kafka_partition, kafka_offset
        ROWS UNBOUNDED PRECEDING
    )
)
SELECT
    o.facility_id, o.district, o.city_code, o.street_code, o.community_code, o.facility_type,
    o.facility_subtype, o.life_circle_id,
    o.event_id AS opening_event_id,
    o.facility_seq AS opening_seq,
    o.opened_on,
    o.event_date AS registered_on,
    (o.loaded_as_stock = 1 OR o.opened_on < r.registry_start) AS stock,
    CASE
        WHEN o.loaded_as_stock = 1 THEN 'stock_loaded'
        WHEN o.opened_on < r.registry_start THEN 'before_registry'
    END AS stock_reason
FROM ordered o
JOIN registry r ON r.district = o.district
WHERE o.status = 'operating'
  AND o.operating_so_far = 1
