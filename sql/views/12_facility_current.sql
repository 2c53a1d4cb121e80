-- facility_current: the registry as it stands now: each facility's latest event (valid_to IS
-- NULL in facility_history), for facilities whose status is not 'closed'. For the registry as
-- at a date d, use facility_history (valid_from <= d AND (valid_to IS NULL OR valid_to > d)).
-- Grain: one row per open facility. Key: facility_id.
SELECT *
FROM facility_history
WHERE valid_to IS NULL
  AND status <> 'closed'
