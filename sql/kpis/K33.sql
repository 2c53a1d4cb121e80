-- id: K33
-- name_zh: 末位10%社区投资倾斜度
-- name_en: Investment tilt to the bottom-decile communities
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × month
-- definition: at the stock date d (the earlier of the period's last day and the range's end): each community's score is that of its latest assessment with assessed_date <= d (community_assessments; latest by assessed_date, then the larger assessment_id; whatever the framework, a city using one; NULL scores ignored); its district is the district_code of its dim_community row valid at d, else the first 6 digits of its code. Per district, among its n assessed communities, P10 = the score at ascending position ceil(n / 10) (nearest rank), and the bottom decile = the communities with score <= P10 (ties included). Investment of a community = SUM over the renovation projects whose state at d (latest event with status_date <= d, events ordered by status_date (the date the status took effect), then event_time, then Kafka position) is in that community, of the project's last known investment_completed_cum_yuan (carried forward: an event without it keeps the last value sent; never sent adds 0), cancelled projects included. numerator = investment of the district's bottom-decile communities; denominator = investment of all the district's assessed communities (communities without an assessment are outside both); value = numerator / denominator, NULL when the denominator is 0. The decile is the district's own (not the city's): each district's figure says whether it tilts investment to its own worst-assessed communities, and a city figure is SUM(numerator) / SUM(denominator) of its districts. Official rule not found (reference.md §5: SUM(investment in communities whose index <= P10) / SUM(investment); 杭州 prioritises its bottom-10% communities): the decile, percentile method and investment measure are ours.
-- published: none (杭州 末位10%社区 prioritised, reference.md §5)
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
latest_assessment AS (
    SELECT
        p.period,
        p.stock_date,
        a.community_code,
        a.score,
        ROW_NUMBER() OVER (
            PARTITION BY p.period, a.community_code
            ORDER BY a.assessed_date DESC NULLS LAST, a.assessment_id DESC NULLS LAST
        ) AS nth
    FROM periods p
    JOIN community_assessments a ON a.assessed_date <= p.stock_date
    WHERE a.score IS NOT NULL
),
placed AS (
    SELECT
        l.period,
        l.community_code,
        l.score,
        COALESCE(c.district_code, substr(l.community_code, 1, 6)) AS district
    FROM latest_assessment l
    LEFT JOIN dim_community c
      ON c.community_code = l.community_code
     AND c.valid_from <= l.stock_date
     AND (c.valid_to IS NULL OR c.valid_to > l.stock_date)
    WHERE l.nth = 1
),
ranked AS (
    SELECT
        period,
        district,
        community_code,
        score,
        ROW_NUMBER() OVER (PARTITION BY period, district ORDER BY score, community_code) AS pos,
        COUNT(*) OVER (PARTITION BY period, district) AS n
    FROM placed
),
deciles AS (
    SELECT
        period,
        district,
        MAX(CASE WHEN pos = CAST(CEIL(CAST(n AS DOUBLE) / 10) AS BIGINT) THEN score END) AS p10
    FROM ranked
    GROUP BY period, district
),
investment AS (
    SELECT
        p.period,
        h.community_code,
        SUM(CAST(h.investment_cum_cf AS DOUBLE)) AS yuan
    FROM periods p
    JOIN renovation_history h
      ON h.valid_from <= p.stock_date
     AND (h.valid_to IS NULL OR h.valid_to > p.stock_date)
    WHERE h.valid_from <= {to}
      AND (h.valid_to IS NULL OR h.valid_to > {from})
    GROUP BY p.period, h.community_code
),
shares AS (
    SELECT
        r.district,
        r.period,
        SUM(CASE WHEN r.score <= d.p10 THEN COALESCE(i.yuan, 0) ELSE 0 END) AS bottom_yuan,
        SUM(COALESCE(i.yuan, 0)) AS all_yuan
    FROM ranked r
    JOIN deciles d ON d.period = r.period AND d.district = r.district
    LEFT JOIN investment i ON i.period = r.period AND i.community_code = r.community_code
    GROUP BY r.district, r.period
)
SELECT
    district,
    period,
    CAST(NULL AS VARCHAR) AS item,
    CASE WHEN all_yuan > 0 THEN bottom_yuan / all_yuan END AS value,
    bottom_yuan AS numerator,
    all_yuan AS denominator
FROM shares
