-- hotline_ticket_reopens_fold: the state service's step for hotline_ticket_reopens. Given `prior`
-- (its stored rows of the event_ids a batch touches) and `tail` (the batch's newly landed
-- events), the rows of those event_ids: a DISTINCT union, so fold(A(E1), E2) = A(E1 ∪ E2).
SELECT DISTINCT event_id, ticket_id, district, event_date, month
FROM (
    SELECT event_id, ticket_id, district, event_date, month FROM prior
    UNION ALL
    SELECT event_id, ticket_id, district, event_date, month
    FROM tail
    WHERE event_type = 'hotline.ticket_reopened'
) r
