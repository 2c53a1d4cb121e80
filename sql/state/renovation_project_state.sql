-- renovation_project_state (REFERENCE definition): each renovation project's history, one row
-- per renovation progress event (each landed event once), computed here from all landed events
-- in renovation_progress. The lake's Delta table renovation_project_state is kept by the state
-- service, which recomputes the rows of every project a new batch of events touches (an event
-- landing late changes the rows after it: order, validity, carried values); this SELECT is what
-- that table must equal, and what the tests compare it with. renovation_events and
-- renovation_history (and through them every renovation view and KPI) are projections of it.
-- Columns, in this order:
-- 1. Every column of renovation_progress, in the table's order, as the event landed
--    (renovation_events: an upstream resend lands as a row of its own with the same event_id;
--    the row at the lowest (kafka_partition, kafka_offset) is kept; the rank is within
--    (district, month, event_id), a resend repeating the event's bytes).
-- 2. renovation_history's derived columns (its rules, see its header): event_seq,
--    previous_status, valid_from, valid_to, investment_cum_cf, quantity_cum_cf,
--    quantity_unit_cf, elevators_cf, households_cf, compound_cf, quantity_delta.
-- Grain: one row per renovation event. Key: event_id within (district, month); a row is
-- identified by its Kafka position (kafka_partition, kafka_offset). The Delta table is
-- partitioned by district.
WITH events AS (
    SELECT
        event_id, event_type, schema_version, source_system, source_record_id, event_time,
        ingest_time, city_code, district_code, district_name, street_code, street_name,
        community_code, community_name, event_date, project_id, parent_project_id, project_name,
        project_type, renovation_class, compound_id, compound_name, compound_built_year,
        buildings_count, from_status, to_status, status_date, planned_start_date, planned_end_date,
        quantity_planned, quantity_completed_cum, quantity_unit, households_benefited,
        residents_benefited, elevators_count, progress_pct, investment_planned_yuan,
        investment_completed_cum_yuan, funding_central_yuan, funding_local_yuan,
        funding_resident_yuan, funding_social_yuan, amount_unit_raw, implementing_unit,
        owner_consent_pct, remarks, district, month, kafka_partition, kafka_offset
    FROM (
        SELECT
            r.*,
            ROW_NUMBER() OVER (
                PARTITION BY district, month, event_id ORDER BY kafka_partition, kafka_offset
            ) AS landing_rank
        FROM renovation_progress r
    ) ranked
    WHERE landing_rank = 1
)
SELECT
    event_id, event_type, schema_version, source_system, source_record_id, event_time,
    ingest_time, city_code, district_code, district_name, street_code, street_name,
    community_code, community_name, event_date, project_id, parent_project_id, project_name,
    project_type, renovation_class, compound_id, compound_name, compound_built_year,
    buildings_count, from_status, to_status, status_date, planned_start_date, planned_end_date,
    quantity_planned, quantity_completed_cum, quantity_unit, households_benefited,
    residents_benefited, elevators_count, progress_pct, investment_planned_yuan,
    investment_completed_cum_yuan, funding_central_yuan, funding_local_yuan,
    funding_resident_yuan, funding_social_yuan, amount_unit_raw, implementing_unit,
    owner_consent_pct, remarks, district, month, kafka_partition, kafka_offset,
    event_seq, previous_status, valid_from, valid_to, investment_cum_cf, quantity_cum_cf,
    quantity_unit_cf, elevators_cf, households_cf, compound_cf,
    COALESCE(quantity_cum_cf, 0) - COALESCE(LAG(quantity_cum_cf) OVER (
        PARTITION BY project_id, quantity_unit_cf ORDER BY event_seq
    ), 0) AS quantity_delta
FROM (
    SELECT
        n.*,
        MAX(investment_completed_cum_yuan) OVER (PARTITION BY project_id, n_investment)
            AS investment_cum_cf,
        MAX(quantity_completed_cum) OVER (PARTITION BY project_id, n_quantity)
            AS quantity_cum_cf,
        MAX(quantity_unit) OVER (PARTITION BY project_id, n_unit) AS quantity_unit_cf,
        MAX(elevators_count) OVER (PARTITION BY project_id, n_elevators) AS elevators_cf,
        MAX(households_benefited) OVER (PARTITION BY project_id, n_households)
            AS households_cf,
        MAX(compound_id) OVER (PARTITION BY project_id, n_compound) AS compound_cf
    FROM (
        SELECT
            e.*,
            status_date AS valid_from,
            -- BIGINT: DataFusion numbers rows as an unsigned type, which Delta cannot store.
            CAST(ROW_NUMBER() OVER w AS BIGINT) AS event_seq,
            LAG(to_status) OVER w AS previous_status,
            MIN(status_date) OVER (
                PARTITION BY project_id
                ORDER BY status_date, event_time, kafka_partition, kafka_offset, event_id
                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
            ) AS valid_to,
            -- n_x: how many values of x the project has sent up to this event; the rows of one
            -- (project_id, n_x) share the value sent at the first of them.
            COUNT(investment_completed_cum_yuan) OVER w AS n_investment,
            COUNT(quantity_completed_cum) OVER w AS n_quantity,
            COUNT(quantity_unit) OVER w AS n_unit,
            COUNT(elevators_count) OVER w AS n_elevators,
            COUNT(households_benefited) OVER w AS n_households,
            COUNT(compound_id) OVER w AS n_compound
        FROM events e
        WINDOW w AS (
            PARTITION BY project_id
            ORDER BY status_date, event_time, kafka_partition, kafka_offset, event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )
    ) n
) c
