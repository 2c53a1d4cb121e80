-- id: K24
-- name_zh: 完整社区相关诉求占比
-- name_en: Share of community-related requests
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: over K23's tickets (hotline_ticket_received: each ticket once, by received_date, in the intake's district): numerator = the tickets that are community-related, denominator = all of them (K23). A ticket is community-related when some event of it carries a wc_category (the latest known non-NULL wc_category; rule chosen: a classification made after intake, e.g. at dispatch, counts, and an event without wc_category does not erase it; the official rule was not found)
-- published: none (leaders' weekly summary, reference.md §5)
SELECT
    t.district,
    CAST(date_trunc({grain}, t.received_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(CASE WHEN t.community_related THEN 1 ELSE 0 END) AS DOUBLE)
        / CAST(COUNT(*) AS DOUBLE) AS value,
    CAST(SUM(CASE WHEN t.community_related THEN 1 ELSE 0 END) AS DOUBLE) AS numerator,
    CAST(COUNT(*) AS DOUBLE) AS denominator
-- hotline_ticket_intake: K23's tickets (hotline_ticket_received's rows) with community_related
-- (some event of the ticket carries a wc_category), kept in the ticket's state
FROM hotline_ticket_intake t
WHERE t.received_date >= {from}
  AND t.received_date <= {to}
  AND t.received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND t.received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
GROUP BY t.district, CAST(date_trunc({grain}, t.received_date) AS DATE)
