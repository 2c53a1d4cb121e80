-- facility_state (REFERENCE definition): the facility registry's history, one row per facility
-- change event (each landed event once), computed here from all landed events in
-- facility_changes. The lake's Delta table facility_state is kept by the state service, which
-- recomputes the rows of every facility a new batch of events touches (an event landing late
-- changes the rows after it: validity, carried values); this SELECT is what that table must
-- equal, and what the tests compare it with. facility_events and facility_history (and through
-- them every facility view and KPI) are projections of it.
-- Columns, in this order:
-- 1. Every column of facility_changes, in the table's order, as the event landed (facility_events:
--    an upstream resend lands as a row of its own with the same event_id; the row at the lowest
--    (kafka_partition, kafka_offset) is kept. A resend repeats the event's bytes, so its district
--    and month too: the rank is within (district, month, event_id)).
-- 2. facility_seq BIGINT, valid_from DATE, valid_to DATE: the event's place in the facility's
--    history (facility_history's rules, see its header: order by facility_version, event_time,
--    Kafka position; valid_from = event_date; valid_to = the earliest event_date of the later
--    events, NULL for the latest).
-- 3. *_cf: is_inclusive, is_embedded and the capacities carried forward (facility_history's
--    rule: an event that sends NULL keeps the facility's last known value; never reported stays
--    NULL), named after their column with the suffix _cf.
-- Grain: one row per facility event. Key: event_id within (district, month); a row is
-- identified by its Kafka position (kafka_partition, kafka_offset). The Delta table is
-- partitioned by district.
WITH events AS (
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
    FROM (
        SELECT
            f.*,
            ROW_NUMBER() OVER (
                PARTITION BY district, month, event_id ORDER BY kafka_partition, kafka_offset
            ) AS landing_rank
        FROM facility_changes f
    ) ranked
    WHERE landing_rank = 1
),
runs AS (
    SELECT
        e.*,
        -- BIGINT: DataFusion numbers rows as an unsigned type, which Delta cannot store.
        CAST(ROW_NUMBER() OVER w AS BIGINT) AS facility_seq,
        COUNT(is_inclusive) OVER w AS run_is_inclusive,
        COUNT(is_embedded) OVER w AS run_is_embedded,
        COUNT(floor_area_m2) OVER w AS run_floor_area_m2,
        COUNT(land_area_m2) OVER w AS run_land_area_m2,
        COUNT(childcare_places) OVER w AS run_childcare_places,
        COUNT(kindergarten_places) OVER w AS run_kindergarten_places,
        COUNT(kindergarten_classes) OVER w AS run_kindergarten_classes,
        COUNT(elderly_beds) OVER w AS run_elderly_beds,
        COUNT(meal_capacity_per_day) OVER w AS run_meal_capacity_per_day,
        COUNT(parking_spaces) OVER w AS run_parking_spaces,
        COUNT(charging_points) OVER w AS run_charging_points,
        COUNT(ebike_charging_ports) OVER w AS run_ebike_charging_ports,
        COUNT(other_capacity_value) OVER w AS run_other_capacity_value
    FROM events e
    WINDOW w AS (
        PARTITION BY facility_id
        ORDER BY facility_version, event_time, kafka_partition, kafka_offset
        ROWS UNBOUNDED PRECEDING
    )
)
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
    district, month, kafka_partition, kafka_offset,
    facility_seq,
    event_date AS valid_from,
    MIN(event_date) OVER (
        PARTITION BY facility_id ORDER BY facility_seq
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    ) AS valid_to,
    MAX(is_inclusive) OVER (PARTITION BY facility_id, run_is_inclusive) AS is_inclusive_cf,
    MAX(is_embedded) OVER (PARTITION BY facility_id, run_is_embedded) AS is_embedded_cf,
    MAX(floor_area_m2) OVER (PARTITION BY facility_id, run_floor_area_m2) AS floor_area_m2_cf,
    MAX(land_area_m2) OVER (PARTITION BY facility_id, run_land_area_m2) AS land_area_m2_cf,
    MAX(childcare_places) OVER (PARTITION BY facility_id, run_childcare_places)
        AS childcare_places_cf,
    MAX(kindergarten_places) OVER (PARTITION BY facility_id, run_kindergarten_places)
        AS kindergarten_places_cf,
    MAX(kindergarten_classes) OVER (PARTITION BY facility_id, run_kindergarten_classes)
        AS kindergarten_classes_cf,
    MAX(elderly_beds) OVER (PARTITION BY facility_id, run_elderly_beds) AS elderly_beds_cf,
    MAX(meal_capacity_per_day) OVER (PARTITION BY facility_id, run_meal_capacity_per_day)
        AS meal_capacity_per_day_cf,
    MAX(parking_spaces) OVER (PARTITION BY facility_id, run_parking_spaces) AS parking_spaces_cf,
    MAX(charging_points) OVER (PARTITION BY facility_id, run_charging_points)
        AS charging_points_cf,
    MAX(ebike_charging_ports) OVER (PARTITION BY facility_id, run_ebike_charging_ports)
        AS ebike_charging_ports_cf,
    MAX(other_capacity_value) OVER (PARTITION BY facility_id, run_other_capacity_value)
        AS other_capacity_value_cf
FROM runs
