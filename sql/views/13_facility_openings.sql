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
-- Reads facility_history for facility_seq (its order); aggregates, not windows over each
-- facility's events: a window sorts every event of the registry for each query.
-- Grain: one row per facility that has been operating. Key: facility_id.
WITH registry AS (
    SELECT district, MIN(event_date) AS registry_start
    FROM facility_history
    GROUP BY district
),
opening AS (
    SELECT facility_id, MIN(facility_seq) AS opening_seq
    FROM facility_history
    WHERE status = 'operating'
    GROUP BY facility_id
),
first_event AS (
    SELECT
        facility_id,
        (change_reason = '存量登记' AND status NOT IN ('planned', 'under_construction'))
            AS loaded_as_stock
    FROM facility_history
    WHERE facility_seq = 1
),
opened AS (
    SELECT
        h.facility_id, h.district, h.city_code, h.street_code, h.community_code,
        h.facility_type, h.facility_subtype, h.life_circle_id, h.event_id, h.facility_seq,
        h.event_date, COALESCE(h.opened_date, h.event_date) AS opened_on
    FROM facility_history h
    JOIN opening o ON o.facility_id = h.facility_id AND o.opening_seq = h.facility_seq
)
SELECT
    o.facility_id, o.district, o.city_code, o.street_code, o.community_code, o.facility_type,
    o.facility_subtype, o.life_circle_id,
    o.event_id AS opening_event_id,
    o.facility_seq AS opening_seq,
    o.opened_on,
    o.event_date AS registered_on,
    (COALESCE(f.loaded_as_stock, FALSE) OR o.opened_on < r.registry_start) AS stock,
    CASE
        WHEN COALESCE(f.loaded_as_stock, FALSE) THEN 'stock_loaded'
        WHEN o.opened_on < r.registry_start THEN 'before_registry'
    END AS stock_reason
FROM opened o
JOIN first_event f ON f.facility_id = o.facility_id
JOIN registry r ON r.district = o.district
