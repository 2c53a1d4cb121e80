-- id: K29
-- name_zh: 零诉求社区数（个次）
-- name_en: Zero-request community-months
-- unit: 个次
-- kind: flow
-- grain: district × year (month detail: grain = month)
-- definition: Σ over the calendar months lying WHOLLY inside {from}..{to} of the communities of dim_community valid at the month's last day (valid_from <= last day AND (valid_to IS NULL OR valid_to > last day)), counted in that version's district_code, that have NO ticket of hotline_ticket_intake received in that month (received_date) located in the community (community_code: the intake's, else the first event naming one, e.g. the dispatch) with request_type IN ('complaint', 'help', 'report'). Consultations ('consult') and suggestions do not break a zero; proactive items of those types do; a ticket without a community breaks no community's zero. A period's value sums its whole months; a month only partly inside the range is left out (so a week never has a value). Every district with communities gets a row per period with a whole month, 0 included. The official scope rule was not found (reference.md §6.4: all requests or complaints only, per month?): the rule chosen is the one above, per community and calendar month, over complaint, help and report
-- published: 海淀 2024 零诉求社区 312个次 (published-figures.md)
WITH months AS (
    -- the months wholly inside the range: one row each, on the month's last day
    SELECT month_start, day AS month_end
    FROM calendar
    WHERE month_start >= {from}
      AND day <= {to}
      AND CAST(date_trunc('month', CAST(day + INTERVAL '1 day' AS DATE)) AS DATE) <> month_start
),
requested AS (
    -- community-months with at least one request that breaks a zero (a ticket without a
    -- community makes a NULL row, which the join below never matches: no filter needed)
    -- received_month is 'YYYY-MM' of received_date: the month without a date_trunc per ticket
    SELECT DISTINCT
        community_code,
        received_month
    FROM hotline_ticket_intake
    WHERE received_date >= {from}
      AND received_date <= {to}
      AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
      AND request_type IN ('complaint', 'help', 'report')
)
SELECT
    c.district_code AS district,
    CAST(date_trunc({grain}, m.month_start) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(CASE WHEN r.community_code IS NULL THEN 1 ELSE 0 END) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM months m
JOIN dim_community c
  ON c.valid_from <= m.month_end
 AND (c.valid_to IS NULL OR c.valid_to > m.month_end)
LEFT JOIN requested r
  ON r.community_code = c.community_code
 AND r.received_month = substr(CAST(m.month_start AS VARCHAR), 1, 7)
GROUP BY c.district_code, CAST(date_trunc({grain}, m.month_start) AS DATE)
