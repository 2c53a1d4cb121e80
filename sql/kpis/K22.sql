-- id: K22
-- name_zh: 飞线下地 / 管网改造工程量
-- name_en: Overhead-line burial and pipe renewal (quantities completed)
-- unit: the item's quantity_unit (米, 公里, …)
-- kind: flow
-- grain: district × month, item = quantity_unit
-- definition: renovation events WHERE project_type IN ('overhead_lines_burial', 'pipe_network', 'rain_sewage_separation'), by status_date: SUM(Δ) GROUP BY quantity_unit, Δ = COALESCE(quantity_completed_cum, 0) − COALESCE(the project's previous event's quantity_completed_cum, 0) (previous by event_time, then event_id; 0 before the first)
-- published: none (飞线下地, 管网改造: qualitative seed, reference.md §5)
WITH deltas AS (
    SELECT
        district,
        status_date,
        quantity_unit,
        COALESCE(quantity_completed_cum, 0)
          - COALESCE(LAG(quantity_completed_cum) OVER (
                PARTITION BY project_id ORDER BY event_time, event_id
            ), 0) AS delta
    FROM renovation_events
    WHERE project_type IN ('overhead_lines_burial', 'pipe_network', 'rain_sewage_separation')
)
SELECT
    district,
    CAST(date_trunc({grain}, status_date) AS DATE) AS period,
    quantity_unit AS item,
    CAST(SUM(delta) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM deltas
WHERE status_date >= {from}
  AND status_date <= {to}
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE), quantity_unit
