-- id: K07
-- name_zh: 新增停车位数
-- name_en: New parking spaces
-- unit: 个
-- kind: flow
-- grain: district × week
-- definition: SUM(parking_spaces_delta) of facility events WHERE facility_type = 'parking_lot', by event_date, + SUM(Δquantity_completed_cum) of renovation events WHERE project_type = 'parking_facility' AND quantity_unit = '个', by status_date; Δ = COALESCE(quantity_completed_cum, 0) − COALESCE(the project's previous event's quantity_completed_cum, 0), previous by event_time, then event_id
-- published: 重庆 新增停车位 6.3万个 (2023–2025, published-figures.md)
WITH renovation_deltas AS (
    SELECT
        district,
        status_date,
        quantity_unit,
        COALESCE(quantity_completed_cum, 0)
          - COALESCE(LAG(quantity_completed_cum) OVER (
                PARTITION BY project_id ORDER BY event_time, event_id
            ), 0) AS delta
    FROM renovation_events
    WHERE project_type = 'parking_facility'
),
parts AS (
    SELECT
        district,
        CAST(date_trunc({grain}, event_date) AS DATE) AS period,
        CAST(SUM(parking_spaces_delta) AS DOUBLE) AS spaces
    FROM facility_events
    WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
      AND event_date >= {from}
      AND event_date <= {to}
      AND facility_type = 'parking_lot'
    GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
    UNION ALL
    SELECT
        district,
        CAST(date_trunc({grain}, status_date) AS DATE) AS period,
        CAST(SUM(delta) AS DOUBLE) AS spaces
    FROM renovation_deltas
    WHERE status_date >= {from}
      AND status_date <= {to}
      AND quantity_unit = '个'
    GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
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
