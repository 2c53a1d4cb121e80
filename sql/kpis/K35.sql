-- id: K35
-- name_zh: 主动治理占比
-- name_en: Share of proactive items
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: over K23's tickets (hotline_ticket_received: each ticket once, by received_date, in the intake's district): numerator = the tickets whose intake event has is_proactive = TRUE (主动治理/未诉先办: raised by grid staff or inspection), denominator = all of them (K23). is_proactive FALSE or NULL: not proactive (in the denominator only). Rule chosen (the official rule was not found): the flag as received at intake; a later change of it does not move the ticket
-- published: none (reference.md §5, supplementary)
SELECT
    district,
    CAST(date_trunc({grain}, day) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(hits) AS DOUBLE) / CAST(SUM(tickets) AS DOUBLE) AS value,
    CAST(SUM(hits) AS DOUBLE) AS numerator,
    CAST(SUM(tickets) AS DOUBLE) AS denominator
FROM (
    -- per district and day first: the period's truncation then runs once a day, not a ticket
    SELECT
        district,
        received_date AS day,
        SUM(CASE WHEN is_proactive THEN 1 ELSE 0 END) AS hits,
        COUNT(*) AS tickets
    FROM hotline_ticket_received
    WHERE received_date >= {from}
      AND received_date <= {to}
      AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
    GROUP BY district, received_date
) per_day
GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
