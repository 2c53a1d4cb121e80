-- id: K24
-- name_zh: 完整社区相关诉求占比
-- name_en: Share of community-related requests
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: over K23's tickets (hotline_ticket_received: each ticket once, by received_date, in the intake's district): numerator = the tickets that are community-related, denominator = all of them (K23). A ticket is community-related when some event of it carries a wc_category (the latest known non-NULL wc_category; rule chosen: a classification made after intake, e.g. at dispatch, counts, and an event without wc_category does not erase it; the official rule was not found)
-- published: none (leaders' weekly summary, reference.md §5)
SELECT
    district,
    CAST(date_trunc({grain}, day) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(hits) AS DOUBLE) / CAST(SUM(tickets) AS DOUBLE) AS value,
    CAST(SUM(hits) AS DOUBLE) AS numerator,
    CAST(SUM(tickets) AS DOUBLE) AS denominator
FROM (
    -- per district and day first: the period's truncation then runs once a day, not a ticket;
    -- hotline_ticket_intake: K23's tickets (hotline_ticket_received's rows) with
    -- community_related (some event of the ticket carries a wc_category), kept in its state
    SELECT
        district,
        received_date AS day,
        SUM(CASE WHEN community_related THEN 1 ELSE 0 END) AS hits,
        COUNT(*) AS tickets
    FROM hotline_ticket_intake
    WHERE received_date >= {from}
      AND received_date <= {to}
      AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
    GROUP BY district, received_date
) per_day
GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
