-- dim_street: the streets (街道/乡镇, 9-digit codes) of the current communities (dim_community
-- rows with valid_to IS NULL), with their totals.
-- Grain: one row per street. Key: street_code.
-- street_name and district_code: those of its communities (the greatest when versions of a
-- rename disagree). functional_zone: the zone when every community of the street is in the
-- same one, else NULL. communities: how many current communities. population, households: the
-- sums over its communities, NULL when any community's figure is unknown (missing is not zero).
SELECT
    street_code,
    MAX(street_name) AS street_name,
    MAX(district_code) AS district_code,
    CASE
        WHEN COUNT(functional_zone) = COUNT(*) AND MIN(functional_zone) = MAX(functional_zone)
            THEN MAX(functional_zone)
    END AS functional_zone,
    COUNT(*) AS communities,
    CASE
        WHEN COUNT(population) = COUNT(*) THEN CAST(SUM(population) AS BIGINT)
    END AS population,
    CASE
        WHEN COUNT(households) = COUNT(*) THEN CAST(SUM(households) AS BIGINT)
    END AS households
FROM dim_community
WHERE valid_to IS NULL
GROUP BY street_code
