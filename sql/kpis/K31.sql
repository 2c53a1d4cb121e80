-- id: K31
-- name_zh: 数字平台覆盖社区数
-- name_en: Communities on a digital platform
-- unit: 个
-- kind: stock
-- grain: district × month
-- definition: COUNT of the communities at the stock date with on_digital_platform = true (NULL = not known to be on it), by district; stock date = the earlier of the period's last day and the range's end; the communities at the stock date = dim_community rows with valid_from <= stock date AND (valid_to IS NULL OR valid_to > stock date), district = their district_code. One row per district with communities at the stock date (value 0 when none is on a platform). Reference data, not an event stream: the attribute comes with the communities table the city supplies. The official rule of 覆盖 was not found; the rule chosen: the city's own flag on_digital_platform in its communities file.
-- published: 掌上海淀 覆盖 327个社区 (published-figures.md)
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
)
SELECT
    c.district_code AS district,
    p.period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(CASE WHEN c.on_digital_platform THEN 1 ELSE 0 END) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM periods p
JOIN dim_community c
  ON c.valid_from <= p.stock_date
 AND (c.valid_to IS NULL OR c.valid_to > p.stock_date)
GROUP BY c.district_code, p.period
