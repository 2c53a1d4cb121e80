-- facility_events: facility registry changes, each event once. An upstream resend lands as a
-- row of its own with the same event_id; the row at the lowest (kafka_partition, kafka_offset)
-- is kept. A resend repeats the event's bytes, so its district and month too: the rank is
-- within (district, month, event_id).
-- A projection of facility_state (sql/state/facility_state.sql), where the rank is taken.
-- Grain: one row per facility change event. Key: event_id.
SELECT
    event_id, event_type, schema_version, source_system, source_record_id, event_time,
    ingest_time, city_code, district_code, district_name, street_code, street_name,
    community_code, community_name, event_date, facility_id, facility_version, op, aspect_code,
    facility_type, facility_subtype, facility_name, operator_type, is_inclusive, is_embedded,
    status, opened_date, closed_date, floor_area_m2, land_area_m2, childcare_places,
    childcare_places_delta, kindergarten_places, kindergarten_classes, elderly_beds,
    elderly_beds_delta, meal_capacity_per_day, parking_spaces, parking_spaces_delta,
    charging_points, charging_points_delta, ebike_charging_ports, other_capacity_value,
    other_capacity_unit, address, lng, lat, coord_sys_raw, life_circle_id, change_reason,
    district, month, kafka_partition, kafka_offset
FROM facility_state
