-- id: K32
-- name_zh: 完整社区数 / 达标率
-- name_en: Complete communities / compliance rate
-- unit: 个 / %
-- kind: stock
-- grain: district × month, item = count | rate
-- definition: for each community at the stock date, its latest assessment with assessed_date <= the stock date and a known outcome (passed IS NOT NULL), latest by assessed_date, then assessment_id, whatever the framework (cq_2024_54pts, hz_tijian_20items …). item 'count' = communities whose latest assessment passed (numerator and denominator NULL); item 'rate' = that count / communities with such an assessment (numerator, denominator; a fraction 0–1). A community that failed and later passed counts from its passing assessment's date; one that passed and later failed leaves. Stock date = the earlier of the period's last day and the range's end; the communities at the stock date = dim_community rows with valid_from <= stock date AND (valid_to IS NULL OR valid_to > stock date), district = their district_code; assessments of communities not in dim_community at the date are outside. One row per district and item where some community was assessed. Source: the reference table community_assessments, loaded from the assessment office's spreadsheet (lake-maintain load-reference), not a fourth event stream: a few hundred rows a year, delivered as a spreadsheet, no lifecycle to replay. The official rule was not found; this is the rule chosen.
-- published: 杭州 完整社区 438个, 体检社区 1260个; 重庆 54项评分 (published-figures.md)
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
assessed AS (
    SELECT
        c.district_code AS district,
        p.period,
        a.passed,
        ROW_NUMBER() OVER (
            PARTITION BY p.period, c.community_code
            ORDER BY a.assessed_date DESC NULLS LAST, a.assessment_id DESC NULLS LAST
        ) AS latest
    FROM periods p
    JOIN dim_community c
      ON c.valid_from <= p.stock_date
     AND (c.valid_to IS NULL OR c.valid_to > p.stock_date)
    JOIN community_assessments a
      ON a.community_code = c.community_code
     AND a.assessed_date <= p.stock_date
    WHERE a.passed IS NOT NULL
),
counts AS (
    -- per district and period: communities whose latest assessment passed, and assessed
    SELECT
        district,
        period,
        CAST(SUM(CASE WHEN passed THEN 1 ELSE 0 END) AS DOUBLE) AS passed_n,
        CAST(COUNT(*) AS DOUBLE) AS assessed_n
    FROM assessed
    WHERE latest = 1
    GROUP BY district, period
),
items AS (
    SELECT 'count' AS item
    UNION ALL
    SELECT 'rate' AS item
)
SELECT
    s.district,
    s.period,
    i.item,
    CASE WHEN i.item = 'count' THEN s.passed_n ELSE s.passed_n / s.assessed_n END AS value,
    CASE WHEN i.item = 'rate' THEN s.passed_n END AS numerator,
    CASE WHEN i.item = 'rate' THEN s.assessed_n END AS denominator
FROM counts s
CROSS JOIN items i
