-- id: K07
-- name_zh: 新增停车位数
-- name_en: New parking spaces
-- unit: 个
-- kind: flow
-- grain: district × week
-- definition: facility part + renovation part, per district and period. Facility part (the facility registry; defs of K01–K04): SUM(parking_spaces_added) of facility_additions WHERE facility_type = 'parking_lot' AND NOT stock_load, by counted_on: spaces of operating parking lots that open (by their opening date, stock loaded into the registry and facilities registered before the registry began excluded) or grow beyond their previous maximum (by the event's date); planned and under-construction lots count when they open. Renovation part: SUM(quantity_delta) of renovation_history WHERE project_type = 'parking_facility' AND the carried-forward quantity_unit = '个', by status_date: the growth of the project's cumulative completed quantity, an event without quantity_completed_cum keeping the last value sent (no negative delta from a NULL; a lower cumulative is a correction counted negative in its own period). Both streams: a parking project is the same as a registry facility when a facility_events row of facility_type 'parking_lot' has source_record_id = the project's project_id; such a project is left out of the renovation part in every period (the registry is preferred, its spaces count once, when the lot opens in the registry). Official de-duplication rule not found: this matching rule is ours.
-- published: 重庆 新增停车位 6.3万个 (2023–2025, published-figures.md)
WITH in_registry AS (
    -- parking projects the facility registry also holds
    SELECT DISTINCT source_record_id AS project_id
    FROM facility_events
    WHERE facility_type = 'parking_lot'
      AND source_record_id IS NOT NULL
),
parts AS (
    SELECT
        district,
        CAST(date_trunc({grain}, counted_on) AS DATE) AS period,
        CAST(SUM(parking_spaces_added) AS DOUBLE) AS spaces
    FROM facility_additions
    WHERE counted_on >= {from}
      AND counted_on <= {to}
      AND facility_type = 'parking_lot'
      AND NOT stock_load
    GROUP BY district, CAST(date_trunc({grain}, counted_on) AS DATE)
    UNION ALL
    SELECT
        h.district,
        CAST(date_trunc({grain}, h.status_date) AS DATE) AS period,
        CAST(SUM(h.quantity_delta) AS DOUBLE) AS spaces
    FROM renovation_history h
    LEFT JOIN in_registry r ON r.project_id = h.project_id
    WHERE h.status_date >= {from}
      AND h.status_date <= {to}
      AND h.project_type = 'parking_facility'
      AND h.quantity_unit_cf = '个'
      AND r.project_id IS NULL
    GROUP BY h.district, CAST(date_trunc({grain}, h.status_date) AS DATE)
)
SELECT
    district,
    period,
    CAST(NULL AS VARCHAR) AS item,
    COALESCE(SUM(spaces), 0) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM parts
GROUP BY district, period
