-- dim_district: the GB/T 2260 county-level divisions (districts, counties, county-level cities)
-- of the built-in division table, with their city.
-- Grain: one row per division. Key: code (= district_code / the partition column district).
SELECT
    code,
    name_zh,
    name_en,
    city_code,
    city_name_zh,
    city_name_en,
    level
FROM divisions
