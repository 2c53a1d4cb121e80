-- id: K23
-- name_zh: 诉求受理量
-- name_en: Requests received
-- unit: 件
-- kind: flow
-- grain: district × week
-- definition: COUNT of tickets of hotline_ticket_received (each ticket once: its intake event 'hotline.ticket_created', a resend counted once; several distinct intake events: the first by ticket_version, event_time, Kafka position) by received_date (the Asia/Shanghai date of the intake's received_time; its event_date without one), in the intake event's district. Every request type (consultations included) and proactive items count. A ticket with no landed intake event is not counted. Later events (dispatch, closure, archive) never move or re-count a ticket.
-- published: 重庆 城市体检 居民诉求 7.6万余条 (published-figures.md)
SELECT
    district,
    CAST(date_trunc({grain}, day) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(tickets) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS numerator,
    CAST(NULL AS DOUBLE) AS denominator
FROM (
    -- per district and day first: the period's truncation then runs once a day, not a ticket
    SELECT district, received_date AS day, COUNT(*) AS tickets
    FROM hotline_ticket_received
    WHERE received_date >= {from}
      AND received_date <= {to}
      AND received_month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND received_month <= substr(CAST({to} AS VARCHAR), 1, 7)
    GROUP BY district, received_date
) per_day
GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
