-- report: hotline_categories
-- Requests received per district, week and complaint category: K23's count (each ticket once,
-- from hotline_ticket_received, by received_date, in the intake's district) broken down by the
-- intake's category_l2 (category_l1 where a ticket has no second level). Summed over categories
-- it equals K23.
-- Parameters: {from}, {to} (local dates), {week_start_days} (days after Monday a week starts).
SELECT
    district,
    CAST(date_trunc('week', received_date - INTERVAL '{week_start_days} days')
         + INTERVAL '{week_start_days} days' AS DATE) AS period,
    COALESCE(category_l2, category_l1) AS category,
    CAST(COUNT(*) AS DOUBLE) AS requests
FROM hotline_ticket_received
WHERE received_date >= {from}
  AND received_date <= {to}
  AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
