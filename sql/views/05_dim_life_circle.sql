-- dim_life_circle: the life circles (5/10/15-minute, 生活圈) of the reference table
-- `life_circles`, every version with its validity: a version holds from valid_from (inclusive)
-- to valid_to (exclusive), the next version's valid_from of the same life_circle_id, NULL for
-- the newest.
-- Grain: one row per life circle and version. Key: (life_circle_id, valid_from).
-- The life circles at a date d: valid_from <= d AND (valid_to IS NULL OR valid_to > d).
SELECT
    life_circle_id,
    name,
    level,
    district_code,
    valid_from,
    LEAD(valid_from) OVER (PARTITION BY life_circle_id ORDER BY valid_from) AS valid_to
FROM life_circles
