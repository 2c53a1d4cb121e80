-- report: top_communities
-- Requests received per district and community over {from}..{to}: K23's count (each ticket
-- once, from hotline_ticket_intake, by received_date) by the ticket's community (the intake's,
-- else the first one a later event gives, e.g. the dispatch). Tickets without a community are
-- left out.
SELECT
    district,
    community_code,
    MIN(community_name) AS community_name,
    CAST(COUNT(*) AS DOUBLE) AS requests
FROM hotline_ticket_intake
WHERE received_date >= {from}
  AND received_date <= {to}
  AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
  AND community_code IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 4 DESC, 2
