-- id: K24
-- name_zh: 完整社区相关诉求占比
-- name_en: Share of community-related requests
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: numerator = COUNT(DISTINCT ticket_id) of hotline events WHERE event_type = 'hotline.ticket_created' AND wc_category IS NOT NULL, denominator = the same without the wc_category condition (K23), by event_date
-- published: none (leaders' weekly summary, reference.md §5)
WITH received AS (
    SELECT
        district,
        CAST(date_trunc({grain}, event_date) AS DATE) AS period,
        COUNT(DISTINCT CASE WHEN wc_category IS NOT NULL THEN ticket_id END) AS wc_tickets,
        COUNT(DISTINCT ticket_id) AS tickets
    FROM hotline_tickets
    WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
      AND event_date >= {from}
      AND event_date <= {to}
      AND event_type = 'hotline.ticket_created'
    GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
)
SELECT
    district,
    period,
    CAST(NULL AS VARCHAR) AS item,
    CASE WHEN tickets > 0 THEN CAST(wc_tickets AS DOUBLE) / CAST(tickets AS DOUBLE) END AS value,
    CAST(wc_tickets AS DOUBLE) AS numerator,
    CAST(tickets AS DOUBLE) AS denominator
FROM received
