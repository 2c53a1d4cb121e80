-- id: K10
-- name_zh: 每百户综合服务设施面积
-- name_en: Comprehensive service area per 100 households
-- unit: ㎡/百户
-- kind: ratio
-- grain: district × month, item = measure
-- definition: area = floor_area_m2 of the community_service_station facilities operating at the stock date (a NULL floor_area_m2 carries the last reported value forward; never reported adds 0), summed by the facility's community_code; households = dim_community.households; only communities at the stock date with households > 0 take part (a station registered in a community not in dim_community is outside). item 'm2_per_100_households' = SUM(area) / SUM(households) × 100 over the district's communities (numerator = area m², denominator = households / 100); item 'share_communities_ge_30' = communities whose own area / households × 100 >= 30 / communities (numerator, denominator; a fraction 0–1), the 2022 pilot rule's 30 ㎡ per 100 households as the threshold. stock date = the earlier of the period's last day and the range's end; the state of a facility at the stock date = its latest event (by facility_version, then event_time, then Kafka position; resends once) with event_date <= the stock date (a late entry joins the stock from the day it was registered); only status = 'operating' counts (planned, under_construction, suspended and closed facilities are not stock); the communities at the stock date = dim_community rows with valid_from <= stock date AND (valid_to IS NULL OR valid_to > stock date), district = their district_code. The official roll-up of the community rule to districts was not found; these two items are the rule chosen.
-- published: 2022 完整社区试点: 综合服务设施 每百户不低于30㎡ (reference.md §5)
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
community_at AS (
    SELECT c.district_code AS district, c.community_code, p.period,
           CAST(c.households AS DOUBLE) AS households
    FROM periods p
    JOIN dim_community c
      ON c.valid_from <= p.stock_date
     AND (c.valid_to IS NULL OR c.valid_to > p.stock_date)
    WHERE c.households > 0
),
area AS (
    SELECT h.community_code, p.period, SUM(CAST(h.floor_area_m2 AS DOUBLE)) AS area
    FROM periods p
    JOIN facility_history h
      ON h.valid_from <= p.stock_date
     AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
    WHERE h.valid_from <= {to}
      AND (h.valid_to IS NULL OR h.valid_to > {from})
      AND h.status = 'operating'
      AND h.facility_type = 'community_service_station'
    GROUP BY h.community_code, p.period
),
per_community AS (
    SELECT c.district, c.period, c.households, COALESCE(a.area, 0) AS area
    FROM community_at c
    LEFT JOIN area a
      ON a.community_code = c.community_code
     AND a.period = c.period
),
items AS (
    SELECT 'm2_per_100_households' AS item
    UNION ALL
    SELECT 'share_communities_ge_30' AS item
),
-- summed per district and period first, then one row per item: crossing the communities with
-- the items before the sums aggregated twice the rows
sums AS (
    SELECT
        district,
        period,
        SUM(area) AS area,
        SUM(households) AS households,
        SUM(CASE WHEN area * 100 >= 30 * households THEN 1 ELSE 0 END) AS ge_30,
        COUNT(*) AS communities
    FROM per_community
    GROUP BY district, period
),
parts AS (
    SELECT
        s.district,
        s.period,
        i.item,
        CASE WHEN i.item = 'm2_per_100_households' THEN s.area
             ELSE CAST(s.ge_30 AS DOUBLE)
        END AS numerator,
        CASE WHEN i.item = 'm2_per_100_households' THEN s.households / 100
             ELSE CAST(s.communities AS DOUBLE)
        END AS denominator
    FROM sums s
    CROSS JOIN items i
)
SELECT
    district,
    period,
    item,
    numerator / denominator AS value,
    numerator,
    denominator
FROM parts
