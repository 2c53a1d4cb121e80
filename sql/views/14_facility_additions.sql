-- facility_additions: capacity that became available, per facility event (the rule of K04; K07
-- may use the parking columns). For each measure, at each event of a facility (facility_seq
-- order), the AVAILABLE capacity is the facility's value of the field (carried forward as in
-- facility_history; before the field's first report, the first reported value: a capacity
-- reported late belongs to the opening, not to the day it was reported) when status =
-- 'operating', else 0. inclusive_childcare_places are childcare_places while is_inclusive
-- (carried forward the same way; never known = not inclusive). The capacity ADDED at an event is
-- max(0, available − the highest available of the facility's earlier events, 0 if none): places
-- that come back after a suspension, closure or cut are not new again; only growth beyond the
-- facility's previous maximum is. Reductions are not subtracted (they show in the stocks).
-- counted_on dates an addition: the opening date (facility_openings.opened_on) at the
-- facility's opening event, else the event's event_date. stock_load marks the opening event of
-- a stock facility (facility_openings.stock): its additions are stock loaded into the registry,
-- not new; later growth of a stock facility is new.
-- Grain: one row per facility event. Key: event_id.
WITH first_reported AS (
    -- each facility's first event reporting each field (the carried values are non-NULL from
    -- there on)
    SELECT
        facility_id,
        MIN(CASE WHEN is_inclusive IS NOT NULL THEN facility_seq END) AS inclusive_seq,
        MIN(CASE WHEN childcare_places IS NOT NULL THEN facility_seq END) AS places_seq,
        MIN(CASE WHEN parking_spaces IS NOT NULL THEN facility_seq END) AS spaces_seq,
        MIN(CASE WHEN charging_points IS NOT NULL THEN facility_seq END) AS points_seq
    FROM facility_history
    GROUP BY facility_id
),
first_values AS (
    SELECT
        f.facility_id,
        MAX(CASE WHEN h.facility_seq = f.inclusive_seq THEN h.is_inclusive END) AS inclusive,
        MAX(CASE WHEN h.facility_seq = f.places_seq THEN h.childcare_places END) AS places,
        MAX(CASE WHEN h.facility_seq = f.spaces_seq THEN h.parking_spaces END) AS spaces,
        MAX(CASE WHEN h.facility_seq = f.points_seq THEN h.charging_points END) AS points
    FROM first_reported f
    JOIN facility_history h ON h.facility_id = f.facility_id
    GROUP BY f.facility_id
),
known AS (
    SELECT
        h.event_id, h.facility_id, h.facility_seq, h.district, h.facility_type,
        h.community_code, h.life_circle_id, h.event_date, h.status,
        COALESCE(h.is_inclusive, v.inclusive) AS inclusive,
        COALESCE(h.childcare_places, v.places) AS places,
        COALESCE(h.parking_spaces, v.spaces) AS spaces,
        COALESCE(h.charging_points, v.points) AS points
    FROM facility_history h
    JOIN first_values v ON v.facility_id = h.facility_id
),
available AS (
    SELECT
        event_id, facility_id, facility_seq, district, facility_type, community_code,
        life_circle_id, event_date,
        CASE WHEN status = 'operating' AND inclusive THEN COALESCE(places, 0) ELSE 0 END
            AS inclusive_childcare_places,
        CASE WHEN status = 'operating' THEN COALESCE(spaces, 0) ELSE 0 END AS parking_spaces,
        CASE WHEN status = 'operating' THEN COALESCE(points, 0) ELSE 0 END AS charging_points
    FROM known
),
marks AS (
    SELECT
        a.*,
        COALESCE(MAX(inclusive_childcare_places) OVER w, 0) AS inclusive_childcare_places_before,
        COALESCE(MAX(parking_spaces) OVER w, 0) AS parking_spaces_before,
        COALESCE(MAX(charging_points) OVER w, 0) AS charging_points_before
    FROM available a
    WINDOW w AS (
        PARTITION BY facility_id ORDER BY facility_seq
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    )
)
SELECT
    m.event_id, m.facility_id, m.facility_seq, m.district, m.facility_type, m.community_code,
    m.life_circle_id, m.event_date,
    CASE WHEN m.facility_seq = o.opening_seq THEN o.opened_on ELSE m.event_date END
        AS counted_on,
    COALESCE(m.facility_seq = o.opening_seq, FALSE) AS opening,
    COALESCE(m.facility_seq = o.opening_seq AND o.stock, FALSE) AS stock_load,
    m.inclusive_childcare_places,
    CASE WHEN m.inclusive_childcare_places > m.inclusive_childcare_places_before
         THEN m.inclusive_childcare_places - m.inclusive_childcare_places_before ELSE 0
    END AS inclusive_childcare_places_added,
    m.parking_spaces,
    CASE WHEN m.parking_spaces > m.parking_spaces_before
         THEN m.parking_spaces - m.parking_spaces_before ELSE 0
    END AS parking_spaces_added,
    m.charging_points,
    CASE WHEN m.charging_points > m.charging_points_before
         THEN m.charging_points - m.charging_points_before ELSE 0
    END AS charging_points_added
FROM marks m
LEFT JOIN facility_openings o ON o.facility_id = m.facility_id
