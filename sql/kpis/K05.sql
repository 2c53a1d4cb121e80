-- id: K05
-- name_zh: 每千人口托位数
-- name_en: Childcare places per 1,000 residents
-- unit: 个/千人
-- kind: ratio
-- grain: district × month
-- definition: SUM(childcare_places) of the childcare_center facilities operating at the stock date (inclusive or not; a NULL childcare_places carries the last reported value forward, never reported adds 0) / (SUM(population) of the communities at the stock date / 1000), by district; stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock); the communities at the stock date = dim_community rows with valid_from <= stock date AND (valid_to IS NULL OR valid_to > stock date), district = their district_code. numerator = places, denominator = residents in thousands (so a city value = Σnumerator / Σdenominator). One row per district with population > 0 at the stock date (value 0 when it has no places). Target ≥ 4.5 (国家 2025 目标: 每千人口拥有3岁以下婴幼儿托位数 4.5个). The national indicator is places / resident population × 1000; which places count was not found in an official text: the rule chosen counts the places of operating childcare_center facilities only (kindergarten 托班 places, registered as kindergarten, are not included).
-- published: national target 4.5 per 1,000 residents by 2025 (reference.md §5)
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
parts AS (
    SELECT h.district, p.period, CAST(h.childcare_places AS DOUBLE) AS places,
           CAST(0 AS DOUBLE) AS residents
    FROM periods p
    JOIN facility_history h
      ON h.valid_from <= p.stock_date
     AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
    WHERE h.valid_from <= {to}
      AND (h.valid_to IS NULL OR h.valid_to > {from})
      AND h.facility_type = 'childcare_center'
      AND h.status = 'operating'
    UNION ALL
    SELECT c.district_code AS district, p.period, CAST(0 AS DOUBLE) AS places,
           CAST(c.population AS DOUBLE) AS residents
    FROM periods p
    JOIN dim_community c
      ON c.valid_from <= p.stock_date
     AND (c.valid_to IS NULL OR c.valid_to > p.stock_date)
)
SELECT
    district,
    period,
    CAST(NULL AS VARCHAR) AS item,
    COALESCE(SUM(places), 0) / (SUM(residents) / 1000) AS value,
    COALESCE(SUM(places), 0) AS numerator,
    SUM(residents) / 1000 AS denominator
FROM parts
GROUP BY district, period
HAVING SUM(residents) > 0
