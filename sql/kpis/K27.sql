-- id: K27
-- name_zh: 满意率
-- name_en: Satisfaction rate
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: (COUNT(satisfaction = 'satisfied') + k · COUNT(satisfaction = 'basic')) / COUNT(*) over hotline_ticket_survey: each ticket with a valid return visit counts ONCE, in the period of its LAST VALID RETURN VISIT (the last hotline.ticket_surveyed event with is_valid_visit = TRUE, by event_time then Kafka position, a resend counted once; dated by that event's event_date, in its district), with that survey's flags. A later archive, closure or reopen does not move the ticket. A reopened ticket surveyed again (validly) counts in the new survey's period with the new flags and leaves the old period; a reopened ticket not (yet) surveyed again, or surveyed again with an invalid visit (is_valid_visit FALSE or NULL), stays at its last valid survey. Invalid visits never count. A NULL flag counts as no (in the denominator only); k = basic_credit of the 'default' kpi_weights version valid at the stock date (the earlier of the period's last day and the range's end), 0.9 without one
-- published: none (三率, reference.md §2.2; k = 0.9 ◐)
WITH periods AS (
    -- one row per period: its stock date, the period's last day within the range
    SELECT
        CAST(date_trunc({grain}, day) AS DATE) AS period,
        day AS stock_date
    FROM calendar
    WHERE day >= {from}
      AND day <= {to}
      AND (day = {to}
           OR CAST(date_trunc({grain}, CAST(day + INTERVAL '1 day' AS DATE)) AS DATE)
              <> CAST(date_trunc({grain}, day) AS DATE))
),
credit AS (
    SELECT p.period, COALESCE(w.basic_credit, CAST(0.9 AS DOUBLE)) AS k
    FROM periods p
    LEFT JOIN kpi_weights w
      ON w.scheme = 'default'
     AND w.valid_from <= p.stock_date
     AND (w.valid_to IS NULL OR w.valid_to > p.stock_date)
),
daily AS (
    -- per district and day first: the period's truncation then runs once a day, not a ticket
    SELECT
        district,
        event_date AS day,
        SUM(CASE WHEN satisfaction = 'satisfied' THEN 1 ELSE 0 END) AS satisfied,
        SUM(CASE WHEN satisfaction = 'basic' THEN 1 ELSE 0 END) AS basic,
        COUNT(*) AS tickets
    FROM hotline_ticket_survey
    WHERE event_date >= {from}
      AND event_date <= {to}
    GROUP BY district, event_date
),
visits AS (
    -- counted per district and period first: the join with credit then meets ~1k rows
    SELECT
        district,
        CAST(date_trunc({grain}, day) AS DATE) AS period,
        SUM(satisfied) AS satisfied,
        SUM(basic) AS basic,
        SUM(tickets) AS tickets
    FROM daily
    GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
)
-- Aggregated again after the join with credit (MAX(c.k): one k per period). A join on top of the
-- KPI, under kpi-query's ORDER BY district, period, item, fails DataFusion 55's plan sanity
-- check, and so does a GROUP BY of c.k.
SELECT
    v.district,
    v.period,
    CAST(NULL AS VARCHAR) AS item,
    (CAST(SUM(v.satisfied) AS DOUBLE) + MAX(c.k) * CAST(SUM(v.basic) AS DOUBLE))
        / CAST(SUM(v.tickets) AS DOUBLE) AS value,
    CAST(SUM(v.satisfied) AS DOUBLE) + MAX(c.k) * CAST(SUM(v.basic) AS DOUBLE) AS numerator,
    CAST(SUM(v.tickets) AS DOUBLE) AS denominator
FROM visits v
JOIN credit c ON c.period = v.period
GROUP BY v.district, v.period
