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
-- Grain: one row per facility event. Key: event_id.
WITH runs AS (
    SELECT
        e.*,
        ROW_NUMBER() OVER w AS facility_seq,
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
    FROM facility_events e
    WINDOW w AS (
        PARTITION BY facility_id
        ORDER BY facility_version, event_time, kafka_partition, kafka_offset
        ROWS UNBOUNDED PRECEDING
    )
)
SELECT
        event_id, event_type, event_time, city_code, district_code, district_name, street_code,
        street_name, community_code, community_name, event_date, facility_id, facility_version,
        op, aspect_code, facility_type, facility_subtype, facility_name, operator_type, status,
        opened_date, closed_date, other_capacity_unit, address, lng, lat, life_circle_id,
        change_reason, district, kafka_partition, kafka_offset,
        MAX(is_inclusive) OVER (PARTITION BY facility_id, run_is_inclusive) AS is_inclusive,
        MAX(is_embedded) OVER (PARTITION BY facility_id, run_is_embedded) AS is_embedded,
        MAX(floor_area_m2) OVER (PARTITION BY facility_id, run_floor_area_m2) AS floor_area_m2,
        MAX(land_area_m2) OVER (PARTITION BY facility_id, run_land_area_m2) AS land_area_m2,
        MAX(childcare_places) OVER (PARTITION BY facility_id, run_childcare_places) AS childcare_places,
        MAX(kindergarten_places) OVER (PARTITION BY facility_id, run_kindergarten_places) AS kindergarten_places,
        MAX(kindergarten_classes) OVER (PARTITION BY facility_id, run_kindergarten_classes) AS kindergarten_classes,
        MAX(elderly_beds) OVER (PARTITION BY facility_id, run_elderly_beds) AS elderly_beds,
        MAX(meal_capacity_per_day) OVER (PARTITION BY facility_id, run_meal_capacity_per_day) AS meal_capacity_per_day,
        MAX(parking_spaces) OVER (PARTITION BY facility_id, run_parking_spaces) AS parking_spaces,
        MAX(charging_points) OVER (PARTITION BY facility_id, run_charging_points) AS charging_points,
        MAX(ebike_charging_ports) OVER (PARTITION BY facility_id, run_ebike_charging_ports) AS ebike_charging_ports,
        MAX(other_capacity_value) OVER (PARTITION BY facility_id, run_other_capacity_value) AS other_capacity_value,
        facility_seq,
        event_date AS valid_from,
        MIN(event_date) OVER (
            PARTITION BY facility_id ORDER BY facility_seq
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS valid_to
FROM runs
