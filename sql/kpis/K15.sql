-- id: K15
-- name_zh: 适老化改造户数
-- name_en: Households with age-friendly retrofits
-- unit: 户
-- kind: flow
-- grain: district × week
-- definition: SUM(households_benefited) of aging_friendly_retrofit projects whose counted completion (renovation_milestones, as K13) has its status_date in the period; district of the completion event. Once per project: at the first event of its final unbroken run of 'completed'/'accepted' events (events ordered by status_date (the date the status took effect), then event_time, then Kafka position; a resend counts once); a second completion event, a correction or the acceptance count nothing more; a completion later withdrawn (status back to started etc.) leaves the count and the figure of its period goes down when the withdrawal lands; a new completion after it counts. households_benefited is the completion event's, else the last value sent before it (carried forward), else 0; later corrections do not revise the figure. Official rule on double reports and withdrawals not found: this rule is ours.
-- published: 海淀 2024 适老化改造 5410户 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, status_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COALESCE(SUM(households_cf), 0) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM renovation_milestones
WHERE status_date >= {from}
  AND status_date <= {to}
  AND milestone = 'completed'
  AND project_type = 'aging_friendly_retrofit'
GROUP BY district, CAST(date_trunc({grain}, status_date) AS DATE)
