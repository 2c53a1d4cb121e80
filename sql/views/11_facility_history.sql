-- facility_history: SCD2 of the facility registry. Each facility event is the facility's state
-- from valid_from = its event_date (inclusive) to valid_to = the event_date of the facility's
-- next event (exclusive), NULL for the latest event. A facility's events are ordered by
-- facility_version, then event_time, then Kafka position (kafka_partition, kafka_offset);
-- facility_seq numbers them 1, 2, … in that order. valid_to is taken as the earliest event_date
-- of all the later events: the same as the next event's date while dates follow the versions,
-- and still right if a later version carries an earlier date. The state at a date d is then the
-- one row with valid_from <= d AND (valid_to IS NULL OR valid_to > d): the facility's latest
-- event with event_date <= d (two events on one day leave the earlier an empty interval).
-- Missing is not zero: a capacity field (floor_area_m2, land_area_m2, childcare_places,
-- kindergarten_places, kindergarten_classes, elderly_beds, meal_capacity_per_day,
-- parking_spaces, charging_points, ebike_charging_ports, other_capacity_value) or is_inclusive /
-- is_embedded that an event sends as NULL carries the facility's last known value forward (a
-- snapshot feed that leaves a field out has not reported it as 0); a value never reported stays
-- NULL. (Portable carry-forward: the count of non-NULL values so far numbers the runs, and each
-- run takes its one non-NULL value; LAST_VALUE … IGNORE NULLS is spelt differently by DuckDB and
-- DataFusion.) The source's *_delta fields are left out: KPIs derive changes from the carried
-- values (facility_additions).
-- A projection of facility_state (sql/state/facility_state.sql), which holds these rules' SQL.
-- Grain: one row per facility event. Key: event_id.
SELECT
    event_id, event_type, event_time, city_code, district_code, district_name, street_code,
    street_name, community_code, community_name, event_date, facility_id, facility_version,
    op, aspect_code, facility_type, facility_subtype, facility_name, operator_type, status,
    opened_date, closed_date, other_capacity_unit, address, lng, lat, life_circle_id,
    change_reason, district, kafka_partition, kafka_offset,
    is_inclusive_cf AS is_inclusive,
    is_embedded_cf AS is_embedded,
    floor_area_m2_cf AS floor_area_m2,
    land_area_m2_cf AS land_area_m2,
    childcare_places_cf AS childcare_places,
    kindergarten_places_cf AS kindergarten_places,
    kindergarten_classes_cf AS kindergarten_classes,
    elderly_beds_cf AS elderly_beds,
    meal_capacity_per_day_cf AS meal_capacity_per_day,
    parking_spaces_cf AS parking_spaces,
    charging_points_cf AS charging_points,
    ebike_charging_ports_cf AS ebike_charging_ports,
    other_capacity_value_cf AS other_capacity_value,
    facility_seq, valid_from, valid_to
FROM facility_state
