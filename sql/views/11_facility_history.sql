-- facility_history: SCD2 of the facility registry. Each facility event is the facility's state
-- from valid_from = its event_date (inclusive) to valid_to = the event_date of the facility's
-- next event (exclusive), NULL for the latest event. Events are ordered by facility_version,
-- then event_time (then event_id, for determinism). valid_to is taken as the earliest
-- event_date of all the later events: the same as the next event's date while dates follow
-- the versions, and still right if a later version carries an earlier date. The state at a
-- date d is then the one row with valid_from <= d AND (valid_to IS NULL OR valid_to > d): the
-- facility's latest event with event_date <= d (two events on one day leave the earlier an
-- empty interval).
-- Grain: one row per facility event. Key: event_id.
SELECT
    event_id, event_type, event_time, city_code, district_code, district_name, street_code,
    street_name, community_code, community_name, event_date, facility_id, facility_version, op,
    aspect_code, facility_type, facility_subtype, facility_name, operator_type, is_inclusive,
    is_embedded, status, opened_date, closed_date, floor_area_m2, land_area_m2,
    childcare_places, kindergarten_places, kindergarten_classes, elderly_beds,
    meal_capacity_per_day, parking_spaces, charging_points, ebike_charging_ports,
    other_capacity_value, other_capacity_unit, address, lng, lat, life_circle_id, district,
    event_date AS valid_from,
    MIN(event_date) OVER (
        PARTITION BY facility_id ORDER BY facility_version, event_time, event_id
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    ) AS valid_to
FROM facility_events
