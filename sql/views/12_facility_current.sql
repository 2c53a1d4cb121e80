-- facility_current: the registry's stock as it stands now: each facility's latest event
-- (valid_to IS NULL in facility_history, capacities carried forward) for facilities whose status
-- is 'operating'. Planned, under construction, suspended and closed facilities are not stock.
-- For the stock as at a date d, use facility_history (valid_from <= d AND (valid_to IS NULL OR
-- valid_to > d) AND status = 'operating').
-- Grain: one row per operating facility. Key: facility_id.
SELECT *
FROM facility_history
WHERE valid_to IS NULL
  AND status = 'operating'
