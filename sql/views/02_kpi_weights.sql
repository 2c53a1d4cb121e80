-- kpi_weights: the versioned weights of the hotline's three rates (K27, K28) with their
-- validity: a version holds from valid_from (inclusive) to valid_to (exclusive), the next
-- version's valid_from of the same scheme, NULL for the newest.
-- Grain: one row per scheme and version. Key: (scheme, valid_from).
-- The version valid at a date d: valid_from <= d AND (valid_to IS NULL OR valid_to > d).
SELECT
    scheme,
    valid_from,
    LEAD(valid_from) OVER (PARTITION BY scheme ORDER BY valid_from) AS valid_to,
    w_response,
    w_resolution,
    w_satisfaction,
    basic_credit,
    source,
    verified
FROM kpi_weight_versions
