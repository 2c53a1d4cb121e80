-- id: K30
-- name_zh: 按时办结率 / 重办率
-- name_en: On-time closure rate / reopen rate
-- unit: 比率 (0–1); no_due_time: 件
-- kind: ratio
-- grain: district × week, item = 'on_time_closure_rate' | 'no_due_time' | 'reopen_rate'
-- definition: a ticket's closure is its FIRST closure (hotline_ticket_first_closure: the first hotline.ticket_closed event by ticket_version, event_time, Kafka position; a resend counted once; a re-closure after a reopen is not counted again), dated by the Asia/Shanghai date of that event's closed_time (its event_time when the feed sent none; closed_time too is then the event_time), in that event's district. on_time_closure_rate = COUNT(closed_time <= due_time) / COUNT(*) over the tickets first closed in the period whose first closure carries a due_time. no_due_time = COUNT of the tickets first closed in the period whose first closure carries no due_time: they are outside the on-time denominator, never counted late (value = the count, numerator = the count, denominator NULL). reopen_rate = COUNT of hotline.ticket_reopened events (each event once) dated (event_date) in the period / COUNT of all tickets first closed in the period (with or without due_time): 重办件次 over first closures of the same period. Rule chosen (the official rules were not found): a flow ratio, so a week's figure changes only when events of that week land; the cohort rule (share of the week's closures later reopened) would change past weeks. Rows only for periods with first closures
-- published: 连云港 按时办结率 96.27% (practice, reference.md §2.2)
WITH closed_daily AS (
    -- per district and day first: the period's truncation then runs once a day, not a ticket
    SELECT
        district,
        closed_on AS day,
        COUNT(*) AS closed_tickets,
        SUM(CASE WHEN due_time IS NOT NULL THEN 1 ELSE 0 END) AS with_due,
        SUM(CASE WHEN due_time IS NOT NULL AND closed_time <= due_time THEN 1 ELSE 0 END)
            AS on_time
    FROM hotline_ticket_first_closure
    WHERE closed_on >= {from}
      AND closed_on <= {to}
    GROUP BY district, closed_on
),
closed AS (
    SELECT
        district,
        CAST(date_trunc({grain}, day) AS DATE) AS period,
        SUM(closed_tickets) AS closed_tickets,
        SUM(with_due) AS with_due,
        SUM(on_time) AS on_time
    FROM closed_daily
    GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
),
reopened AS (
    -- hotline_ticket_reopens: each landed reopen event once (its reference definition:
    -- sql/state/hotline_ticket_reopens.sql over hotline_tickets)
    SELECT
        district,
        CAST(date_trunc({grain}, event_date) AS DATE) AS period,
        COUNT(DISTINCT event_id) AS reopens
    FROM hotline_ticket_reopens
    WHERE month >= substr(CAST({from} AS VARCHAR), 1, 7)
      AND month <= substr(CAST({to} AS VARCHAR), 1, 7)
      AND event_date >= {from}
      AND event_date <= {to}
    GROUP BY district, CAST(date_trunc({grain}, event_date) AS DATE)
),
counts AS (
    SELECT
        c.district,
        c.period,
        c.closed_tickets,
        c.with_due,
        c.on_time,
        COALESCE(r.reopens, 0) AS reopens
    FROM closed c
    LEFT JOIN reopened r ON r.district = c.district AND r.period = c.period
),
-- the items from one pass over counts (a CTE used twice is computed twice by DataFusion)
items AS (
    SELECT 'on_time_closure_rate' AS item
    UNION ALL
    SELECT 'no_due_time' AS item
    UNION ALL
    SELECT 'reopen_rate' AS item
)
SELECT
    c.district,
    c.period,
    i.item,
    CASE
        WHEN i.item = 'reopen_rate'
            THEN CAST(c.reopens AS DOUBLE) / CAST(c.closed_tickets AS DOUBLE)
        WHEN i.item = 'no_due_time' THEN CAST(c.closed_tickets - c.with_due AS DOUBLE)
        WHEN c.with_due > 0 THEN CAST(c.on_time AS DOUBLE) / CAST(c.with_due AS DOUBLE)
    END AS value,
    CAST(CASE
        WHEN i.item = 'reopen_rate' THEN c.reopens
        WHEN i.item = 'no_due_time' THEN c.closed_tickets - c.with_due
        ELSE c.on_time
    END AS DOUBLE) AS numerator,
    CASE
        WHEN i.item = 'reopen_rate' THEN CAST(c.closed_tickets AS DOUBLE)
        WHEN i.item = 'no_due_time' THEN CAST(NULL AS DOUBLE)
        ELSE CAST(c.with_due AS DOUBLE)
    END AS denominator
FROM counts c
CROSS JOIN items i
WHERE i.item <> 'on_time_closure_rate' OR c.with_due > 0
