-- id: K28
-- name_zh: 三率综合得分
-- name_en: Composite score of the three rates
-- unit: 分 (0–100)
-- kind: ratio
-- grain: district × month
-- definition: 100 × (w_response · COUNT(contacted) + w_resolution · COUNT(resolved) + w_satisfaction · (COUNT(satisfied) + k · COUNT(basic))) / COUNT(*) over the K25–K27 tickets (over hotline_ticket_survey: each ticket with a valid return visit counts ONCE, in the period of its LAST VALID RETURN VISIT (the last hotline.ticket_surveyed event with is_valid_visit = TRUE, by event_time then Kafka position, a resend counted once; dated by that event's event_date, in its district), with that survey's flags. A later archive, closure or reopen does not move the ticket. A reopened ticket surveyed again (validly) counts in the new survey's period with the new flags and leaves the old period; a reopened ticket not (yet) surveyed again, or surveyed again with an invalid visit (is_valid_visit FALSE or NULL), stays at its last valid survey. Invalid visits never count. A NULL flag counts as no (in the denominator only)), with the 'default' kpi_weights version valid at the stock date (the earlier of the period's last day and the range's end); without one 0.10 / 0.50 / 0.40, k = 0.9
-- published: none (Beijing street ranking practice; weights 10/50/40 ◐, reference.md §2.2)
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
weights AS (
    SELECT
        p.period,
        COALESCE(w.w_response, CAST(0.10 AS DOUBLE)) AS w_response,
        COALESCE(w.w_resolution, CAST(0.50 AS DOUBLE)) AS w_resolution,
        COALESCE(w.w_satisfaction, CAST(0.40 AS DOUBLE)) AS w_satisfaction,
        COALESCE(w.basic_credit, CAST(0.9 AS DOUBLE)) AS k
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
        SUM(CASE WHEN contacted THEN 1 ELSE 0 END) AS contacted,
        SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS resolved,
        SUM(CASE WHEN satisfaction = 'satisfied' THEN 1 ELSE 0 END) AS satisfied,
        SUM(CASE WHEN satisfaction = 'basic' THEN 1 ELSE 0 END) AS basic,
        COUNT(*) AS tickets
    FROM hotline_ticket_survey
    WHERE event_date >= {from}
      AND event_date <= {to}
    GROUP BY district, event_date
),
visits AS (
    -- counted per district and period first: the join with weights then meets ~1k rows
    SELECT
        district,
        CAST(date_trunc({grain}, day) AS DATE) AS period,
        SUM(contacted) AS contacted,
        SUM(resolved) AS resolved,
        SUM(satisfied) AS satisfied,
        SUM(basic) AS basic,
        SUM(tickets) AS tickets
    FROM daily
    GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
)
-- Aggregated again after the join with weights (MAX(w.…): one version per period). A join on
-- top of the KPI, under kpi-query's ORDER BY district, period, item, fails DataFusion 55's plan
-- sanity check, and so does a GROUP BY of the weights.
SELECT
    v.district,
    v.period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(100 AS DOUBLE) * (
        MAX(w.w_response) * CAST(SUM(v.contacted) AS DOUBLE)
        + MAX(w.w_resolution) * CAST(SUM(v.resolved) AS DOUBLE)
        + MAX(w.w_satisfaction)
          * (CAST(SUM(v.satisfied) AS DOUBLE) + MAX(w.k) * CAST(SUM(v.basic) AS DOUBLE))
    ) / CAST(SUM(v.tickets) AS DOUBLE) AS value,
    CAST(100 AS DOUBLE) * (
        MAX(w.w_response) * CAST(SUM(v.contacted) AS DOUBLE)
        + MAX(w.w_resolution) * CAST(SUM(v.resolved) AS DOUBLE)
        + MAX(w.w_satisfaction)
          * (CAST(SUM(v.satisfied) AS DOUBLE) + MAX(w.k) * CAST(SUM(v.basic) AS DOUBLE))
    ) AS numerator,
    CAST(SUM(v.tickets) AS DOUBLE) AS denominator
FROM visits v
JOIN weights w ON w.period = v.period
GROUP BY v.district, v.period
