-- id: K23
-- name_zh: 诉求受理量
-- name_en: Requests received
-- unit: 件
-- kind: flow
-- grain: district × week
-- definition: COUNT(DISTINCT ticket_id) of hotline events WHERE event_type = 'hotline.ticket_created', by event_date (the Asia/Shanghai date of received_time)
-- published: 重庆 城市体检 居民诉求 7.6万余条 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, event_date) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(COUNT(DISTINCT ticket_id) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM hotline_tickets
WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
  AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
  AND event_date >= {from}
  AND event_date <= {to}
  AND event_type = 'hotline.ticket_created'
GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
