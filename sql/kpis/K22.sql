-- id: K22
-- name_zh: 飞线下地 / 管网改造工程量
-- name_en: Overhead-line burial and pipe renewal (quantities completed)
-- unit: the item's quantity_unit (米, 公里, …)
-- kind: flow
-- grain: district × month, item = quantity_unit
-- definition: renovation events of projects WHERE project_type IN ('overhead_lines_burial', 'pipe_network', 'rain_sewage_separation'), by status_date: SUM(Δ) GROUP BY the unit, where (renovation_history, events of a project ordered by status_date, then event_time, then Kafka position; a resend counts once) the project's cumulative quantity and unit are carried forward (an event without quantity_completed_cum or quantity_unit keeps the last value the project sent: missing is not zero) and Δ = the carried-forward cumulative − that of the project's previous event in the same unit (0 before the first). An event without a quantity adds 0 (no negative delta from a NULL). A cumulative lower than the last one sent is a correction: its negative Δ counts in the period of the correcting event (the data about that period), so a project's periods add up to its latest cumulative quantity; the data-quality rule flags the decrease. Quantities of a project that never sent a quantity_unit are left out (a quantity without a unit cannot be added). Official rule not found: this rule is ours.
-- published: none (飞线下地, 管网改造: qualitative seed, reference.md §5)
SELECT
    district,
    CAST(date_trunc({grain}, status_date) AS DATE) AS period,
    quantity_unit_cf AS item,
    CAST(SUM(quantity_delta) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM renovation_history
WHERE status_date >= {from}
  AND status_date <= {to}
  AND project_type IN ('overhead_lines_burial', 'pipe_network', 'rain_sewage_separation')
  AND quantity_unit_cf IS NOT NULL
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE), quantity_unit_cf
