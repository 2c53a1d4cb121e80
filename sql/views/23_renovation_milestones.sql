-- renovation_milestones: the start and the completion each renovation project counts with
-- (K13, K14, K15, K16, K21), from the project's status history (renovation_history: events
-- in the order status_date, then event_time, then Kafka position; a resend is one event;
-- from_status unused).
-- Grain: one row per project and milestone. Key: (project_id, milestone).
--
-- milestone 'completed': only a project whose last event has status completed or accepted
-- ("done"); the first event of its final unbroken run of done events. So a resend, a second
-- completion event, a correction that repeats completed, and the acceptance after a
-- completion count nothing more; a project that jumps to accepted completes with that event;
-- a completion withdrawn later (the status leaves done again: started, suspended, cancelled …)
-- is no completion any more: it leaves the period it was counted in, and a new completion
-- after it is the one counted.
-- milestone 'started': the first event with to_status 'started' after the project's last event
-- with status declared or approved (from its first event if none): progress reports and
-- resumptions after a suspension also say 'started' and are not starts; a project sent back
-- to approved or declared that starts again counts at the new start. A project without a
-- 'started' event (approved → completed) has no start.
-- Columns: the milestone event's status_date, district, community_code, event_seq, and the
-- values the project has at that event, carried forward (elevators_cf, households_cf,
-- compound_cf of renovation_history).
WITH marked AS (
    SELECT
        h.*,
        MAX(event_seq) OVER (PARTITION BY project_id) AS last_seq,
        MAX(CASE WHEN to_status NOT IN ('completed', 'accepted') THEN event_seq END)
            OVER (PARTITION BY project_id) AS last_open_seq,
        MAX(CASE WHEN to_status IN ('declared', 'approved') THEN event_seq END)
            OVER (PARTITION BY project_id) AS last_prestart_seq
    FROM renovation_history h
),
starts AS (
    SELECT
        m.*,
        ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY event_seq) AS nth_start
    FROM marked m
    WHERE to_status = 'started'
      AND event_seq > COALESCE(last_prestart_seq, 0)
)
SELECT
    project_id, 'completed' AS milestone, project_type, district, community_code,
    status_date, event_seq, event_id, elevators_cf, households_cf, compound_cf
FROM marked
WHERE event_seq = COALESCE(last_open_seq, 0) + 1
  AND COALESCE(last_open_seq, 0) < last_seq
UNION ALL
SELECT
    project_id, 'started' AS milestone, project_type, district, community_code,
    status_date, event_seq, event_id, elevators_cf, households_cf, compound_cf
FROM starts
WHERE nth_start = 1
