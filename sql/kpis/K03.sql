-- id: K03
-- name_zh: 新增养老助餐点数
-- name_en: New meal-assistance points
-- unit: 家
-- kind: flow
-- grain: district × week
-- definition: COUNT of facilities with facility_type IN ('meal_assistance_point', 'community_canteen') whose opening (first operating state) falls in the period, by opening date = opened_date of that state (its event_date when NULL); not stock (存量登记 on the first event unless planned/under construction then, or opened before the district's registry start); each facility at most once (reopening does not count again); late entries (补录) in their opening period. Rows: item NULL = the total of both types (the published figure); item 'meal_assistance_point' and item 'community_canteen' = each type alone (a row only when its count > 0). The parts sum to the total row; do not add the total row to them. The official rule of 新增 (new) was not found; the rule chosen: 新增 = 建成投用, a facility counted once at its opening.
-- published: 海淀 2024 养老助餐点 72家; 杭州 社区食堂 230 is a stock (K08) (published-figures.md)
-- Opening rule (view facility_openings): a facility counts once, in the period of its opening
-- date, when it becomes operating. Its opening is its first event (in the order facility_version,
-- event_time, Kafka position; resends once) with status = 'operating'; the opening date is that
-- event's opened_date, or its event_date when opened_date is NULL; district and type are those of
-- that event. Not counted: (1) stock loaded into the registry: the facility's first event has
-- change_reason '存量登记' and a status other than planned / under_construction; (2) a facility
-- whose opening date is before the registry began in its district (registry start = the
-- earliest event_date of any facility event of the district); (3) facilities still planned or
-- under construction (they count when an event makes them operating: a facility loaded with
-- 存量登记 while under construction counts when it opens); (4) a second opening: a facility that
-- closes (or is suspended) and reopens counts once. A late entry (补录: registered now with an
-- earlier opened_date) counts in the period of its opening date, visible from when it lands.
-- The official rule of 新建 was not found; this is the rule chosen (a statistics bureau's 新建 =
-- 建成投用, counted at opening).
WITH opened AS (
    SELECT
        district,
        CAST(date_trunc({grain}, opened_on) AS DATE) AS period,
        facility_type
    FROM facility_openings
    WHERE opened_on >= {from}
      AND opened_on <= {to}
      AND NOT stock
      AND facility_type IN ('meal_assistance_point', 'community_canteen')
),
items AS (
    SELECT CAST(NULL AS VARCHAR) AS item
    UNION ALL
    SELECT 'meal_assistance_point' AS item
    UNION ALL
    SELECT 'community_canteen' AS item
)
SELECT
    o.district,
    o.period,
    i.item,
    CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM opened o
JOIN items i
  ON i.item IS NULL OR i.item = o.facility_type
GROUP BY o.district, o.period, i.item
