-- id: K34
-- name_zh: 每万人诉求量
-- name_en: Requests per 10,000 residents
-- unit: 件/万人
-- kind: ratio
-- grain: district × month
-- definition: K23 (tickets of hotline_ticket_received received in the period, each once, in the intake's district; tickets without a community included) / (SUM(population) of the district's communities in dim_community valid at the stock date, the earlier of the period's last day and {to}) × 10⁴. numerator = requests, denominator = population / 10⁴. A row for every district with population > 0 at the stock date and every period of the range (0 without requests); a district without community data has no row. Rule chosen (the official rule was not found): population as at the period's end, requests of every type (as K23)
-- published: none (reference.md §5, supplementary; the report ranks by it)
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
received_daily AS (
    -- per district and day first: the period's truncation then runs once a day, not a ticket
    SELECT district, received_date AS day, COUNT(*) AS requests
    FROM hotline_ticket_received
    WHERE received_date >= {from}
      AND received_date <= {to}
      AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
    GROUP BY district, received_date
),
received AS (
    SELECT
        district,
        CAST(date_trunc({grain}, day) AS DATE) AS period,
        SUM(requests) AS requests
    FROM received_daily
    GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
)
-- Aggregated after the joins (MAX(r.requests): one count per district and period), as K27: a
-- join on top of the KPI fails DataFusion 55's plan sanity check under kpi-query's ORDER BY.
SELECT
    c.district_code AS district,
    p.period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(MAX(r.requests), 0) AS DOUBLE) * CAST(10000 AS DOUBLE)
        / CAST(SUM(c.population) AS DOUBLE) AS value,
    CAST(COALESCE(MAX(r.requests), 0) AS DOUBLE) AS numerator,
    CAST(SUM(c.population) AS DOUBLE) / CAST(10000 AS DOUBLE) AS denominator
FROM periods p
JOIN dim_community c
  ON c.valid_from <= p.stock_date
 AND (c.valid_to IS NULL OR c.valid_to > p.stock_date)
LEFT JOIN received r
  ON r.district = c.district_code
 AND r.period = p.period
GROUP BY c.district_code, p.period
HAVING SUM(c.population) > 0
