-- dim_community: the communities of the reference table `communities` (loaded from the city's
-- file by `lake-maintain load-reference`), every version with its validity: a version holds
-- from valid_from (inclusive) to valid_to (exclusive), the next version's valid_from of the
-- same community_code, NULL for the newest.
-- Grain: one row per community and version. Key: (community_code, valid_from).
-- The communities at a date d: valid_from <= d AND (valid_to IS NULL OR valid_to > d).
-- The current communities: valid_to IS NULL.
-- Counts (population, households, under3_population, elderly_population) and area_km2 are NULL
-- when the city's file left them empty (unknown, not zero); functional_zone is NULL outside a
-- functional zone.
SELECT
    community_code,
    community_name,
    street_code,
    street_name,
    district_code,
    population,
    households,
    area_km2,
    under3_population,
    elderly_population,
    on_digital_platform,
    functional_zone,
    valid_from,
    LEAD(valid_from) OVER (PARTITION BY community_code ORDER BY valid_from) AS valid_to
FROM communities
