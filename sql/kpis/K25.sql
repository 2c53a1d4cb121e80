-- id: K25
-- name_zh: 响应率
-- name_en: Response rate
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: over hotline_ticket_latest (per ticket_id the row with the highest ticket_version) rows WHERE status IN ('surveyed', 'archived') AND is_valid_visit, by that row's event_date: COUNT(contacted) / COUNT(*)
-- published: none (三率, reference.md §2.2)
SELECT
    district,
    CAST(date_trunc({grain}, event_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(CASE WHEN contacted THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(SUM(CASE WHEN contacted THEN 1 ELSE 0 END) AS DOUBLE) AS numerator,
    CAST(COUNT(*) AS DOUBLE) AS denominator
FROM hotline_ticket_latest
WHERE event_date >= {from}
  AND event_date <= {to}
  AND status IN ('surveyed', 'archived')
  AND is_valid_visit
GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
