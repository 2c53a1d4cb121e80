-- id: K04
-- name_zh: 新增普惠性托位数
-- name_en: New inclusive childcare places
-- unit: 个
-- kind: flow
-- grain: district × week
-- definition: SUM of inclusive places that became available at childcare_center facilities (facility_type = 'childcare_center'), gross additions (reductions are not subtracted; they show in the stock K05), from the registry snapshots (not the source's childcare_places_delta). At each event of a centre, available inclusive places A = childcare_places when status = 'operating' AND is_inclusive, else 0; a NULL childcare_places or is_inclusive carries the last reported value forward (missing is not zero), and before the first report takes the first reported value (capacity reported late belongs to the opening); is_inclusive never reported = not inclusive. Places added at an event = max(0, A − the highest A of the centre's earlier events, 0 if none): places coming back after a suspension, closure or cut are not new again. Dated by the opening date (facility_openings.opened_on: opened_date of the first operating state, else its event_date) for the addition at the centre's opening event, by event_date for later additions. Excluded: the addition at the opening event of a stock facility (存量登记 loaded while existing, or opened before the district's registry start); later growth of a stock centre counts. A late entry (补录) adds its places in its opening period. The official rule (新增 = additions vs net) was not found; this is the rule chosen.
-- published: 海淀 2024 普惠性托位 4334个 (published-figures.md)
-- Per-event additions are computed by the view facility_additions.
SELECT
    district,
    CAST(date_trunc({grain}, counted_on) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(inclusive_childcare_places_added) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM facility_additions
WHERE counted_on >= {from}
  AND counted_on <= {to}
  AND facility_type = 'childcare_center'
  AND NOT stock_load
  AND inclusive_childcare_places_added > 0
GROUP BY district, CAST(date_trunc({grain}, counted_on) AS DATE)
