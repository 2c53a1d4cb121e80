-- report: hotline_categories
-- Requests received per district, week and complaint category: K23's count (COUNT(DISTINCT
-- ticket_id) of 'hotline.ticket_created' events by event_date) broken down by category_l2
-- (category_l1 where a ticket has no second level). Summed over categories it equals K23.
-- Parameters: {from}, {to} (local dates), {week_start_days} (days after Monday a week starts).
SELECT
    district,
    CAST(date_trunc('week', event_date - INTERVAL '{week_start_days} days')
         + INTERVAL '{week_start_days} days' AS DATE) AS period,
    COALESCE(category_l2, category_l1) AS category,
    CAST(COUNT(DISTINCT ticket_id) AS DOUBLE) AS requests
FROM hotline_tickets
WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
  AND event_date >= {from}
  AND event_date <= {to}
  AND event_type = 'hotline.ticket_created'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
