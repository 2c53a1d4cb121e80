-- id: K26
-- name_zh: 解决率
-- name_en: Resolution rate
-- unit: 比率 (0–1)
-- kind: ratio
-- grain: district × week
-- definition: COUNT(resolved) / COUNT(*) over hotline_ticket_survey: each ticket with a valid return visit counts ONCE, in the period of its LAST VALID RETURN VISIT (the last hotline.ticket_surveyed event with is_valid_visit = TRUE, by event_time then Kafka position, a resend counted once; dated by that event's event_date, in its district), with that survey's flags. A later archive, closure or reopen does not move the ticket. A reopened ticket surveyed again (validly) counts in the new survey's period with the new flags and leaves the old period; a reopened ticket not (yet) surveyed again, or surveyed again with an invalid visit (is_valid_visit FALSE or NULL), stays at its last valid survey. Invalid visits never count. A NULL flag counts as no (in the denominator only)
-- published: none (三率, reference.md §2.2)
SELECT
    district,
    CAST(date_trunc({grain}, day) AS DATE) AS period,
    CAST(NULL AS VARCHAR) AS item,
    CAST(SUM(hits) AS DOUBLE) / CAST(SUM(tickets) AS DOUBLE) AS value,
    CAST(SUM(hits) AS DOUBLE) AS numerator,
    CAST(SUM(tickets) AS DOUBLE) AS denominator
FROM (
    -- per district and day first: the period's truncation then runs once a day, not a ticket
    SELECT
        district,
        event_date AS day,
        SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS hits,
        COUNT(*) AS tickets
    FROM hotline_ticket_survey
    WHERE event_date >= {from}
      AND event_date <= {to}
    GROUP BY district, event_date
) per_day
GROUP BY district, CAST(date_trunc({grain}, day) AS DATE)
