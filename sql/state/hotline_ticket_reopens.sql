-- hotline_ticket_reopens (REFERENCE definition): each reopen of a hotline ticket once: the
-- distinct (event_id, ticket_id, district, event_date, month) of the landed
-- 'hotline.ticket_reopened' events of hotline_tickets (a resend lands again with the same values
-- and adds no row). K30 counts them by the event's district and event_date (重办件次): a flow of
-- events, which one row per ticket cannot hold, read from this small table instead of every
-- landed event.
-- The lake's Delta table hotline_ticket_reopens is kept by the state service (the fold is a
-- DISTINCT union of the stored rows and the new reopen events,
-- sql/state/hotline_ticket_reopens_fold.sql);
-- this SELECT is what it must equal. Partitioned by month (the event's, as in hotline_tickets).
-- Grain: one row per distinct reopen event and value set. Key: event_id.
SELECT DISTINCT event_id, ticket_id, district, event_date, month
FROM hotline_tickets
WHERE event_type = 'hotline.ticket_reopened'
