-- id: K16
-- name_zh: 老旧小区改造完工小区数 / 户数
-- name_en: Old compounds renovated (compounds / households)
-- unit: 个 / 户
-- kind: flow
-- grain: district × month, item = 'compounds' (个) | 'households' (户)
-- definition: old_compound_renovation projects with a counted completion (renovation_milestones, as K13: once per project, at the first event of its final unbroken run of 'completed'/'accepted' events, events ordered by status_date (the date the status took effect), then event_time, then Kafka position; resends, second completion events, corrections and the acceptance count nothing more; a completion later withdrawn leaves the count and its period's figure goes down when the withdrawal lands; a new completion after it counts). item 'households' = SUM(households_benefited) by the period of each project's completion (the completion event's value, else the last value sent before it, else 0). item 'compounds' = compounds counted once each, in the period of the earliest counted completion among the compound's projects (ties: the smaller project_id; district of that completion), so months add up to the year; the compound is the project's compound_id (carried forward), and a project that never sent one is a compound of its own. Official rule not found: this rule is ours.
-- published: none (national / provincial annual targets, reference.md §5)
WITH completed AS (
    SELECT
        district,
        status_date,
        households_cf,
        ROW_NUMBER() OVER (
            PARTITION BY COALESCE(compound_cf, 'project ' || project_id)
            ORDER BY status_date, project_id
        ) AS nth_of_compound
    FROM renovation_milestones
    WHERE milestone = 'completed'
      AND project_type = 'old_compound_renovation'
),
in_range AS (
    SELECT
        district,
        CAST(date_trunc({grain}, status_date) AS DATE) AS period,
        CASE WHEN nth_of_compound = 1 THEN 1 ELSE 0 END AS first_of_compound,
        households_cf
    FROM completed
    WHERE status_date >= {from}
      AND status_date <= {to}
)
SELECT
    district,
    period,
    'compounds' AS item,
    CAST(SUM(first_of_compound) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM in_range
GROUP BY district, period
UNION ALL
SELECT
    district,
    period,
    'households' AS item,
    CAST(COALESCE(SUM(households_cf), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM in_range
GROUP BY district, period
