-- dim_week: ISO weeks (Monday–Sunday) of the calendar, labelled as citysim and the reports
-- write them ('2024-W23').
-- Grain: one row per ISO week. Key: week (equivalently week_start, the Monday).
SELECT DISTINCT
    week,
    iso_year,
    iso_week,
    week_start,
    CAST(week_start + INTERVAL '6 days' AS DATE) AS week_end
FROM calendar
