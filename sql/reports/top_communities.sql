-- report: top_communities
-- Requests received per district and community over {from}..{to}: K23's count by
-- community_code. Tickets without a community are left out.
SELECT
    district,
    community_code,
    MIN(community_name) AS community_name,
    CAST(COUNT(DISTINCT ticket_id) AS DOUBLE) AS requests
FROM hotline_tickets
WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
  AND event_date >= {from}
  AND event_date <= {to}
  AND event_type = 'hotline.ticket_created'
  AND community_code IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 4 DESC, 2
