-- life_circle_requirements: the facilities a life circle of each level must have for K12
-- (生活圈达标). One row per (level, requirement, facility_type): a circle meets a requirement
-- when it has at least one operating facility of any of the requirement's facility types.
-- Source: GB 50180-2018《城市居住区规划设计标准》附录 B (配套设施设置规定), as remembered (○: the
-- table was not retrieved; check it against the standard before publishing). Only the items the
-- standard requires (应配建) and that the registry's facility_type enum can express are listed;
-- items it recommends (宜配建, e.g. 社区食堂, 公共厕所, 停车场) and items outside the registry
-- (小学, 初中, 派出所, 银行 …) are left out. Mapping chosen:
--   5min  (5分钟生活圈居住区): 社区服务站, 文化活动站, 小型多功能运动场地/室外综合健身场地, 幼儿园,
--         托儿所, 老年人日间照料中心(托老所), 社区卫生服务站, 社区商业网点, 再生资源回收点/
--         生活垃圾收集站;
--   10min (10分钟生活圈居住区): 中型多功能运动场地, 菜市场或生鲜超市;
--   15min (15分钟生活圈居住区): 社区服务中心(街道级), 文化活动中心, 大型多功能运动场地/健身房,
--         社区卫生服务中心, 养老院/老年养护院 (养老服务中心), 商场 (综合超市).
-- Grain: one row per level, requirement and facility type.
SELECT level, requirement, facility_type
FROM (
    VALUES
        ('5min', 'community_service', 'community_service_station'),
        ('5min', 'culture', 'cultural_center'),
        ('5min', 'sport', 'fitness_space'),
        ('5min', 'sport', 'public_activity_space'),
        ('5min', 'kindergarten', 'kindergarten'),
        ('5min', 'childcare', 'childcare_center'),
        ('5min', 'elderly_day_care', 'elderly_day_care'),
        ('5min', 'elderly_day_care', 'elderly_care_station'),
        ('5min', 'health', 'health_station'),
        ('5min', 'shop', 'convenience_store'),
        ('5min', 'shop', 'supermarket'),
        ('5min', 'shop', 'convenience_business'),
        ('5min', 'shop', 'vegetable_store'),
        ('5min', 'waste', 'waste_sorting_point'),
        ('10min', 'sport', 'fitness_space'),
        ('10min', 'sport', 'public_activity_space'),
        ('10min', 'fresh_food', 'vegetable_store'),
        ('10min', 'fresh_food', 'supermarket'),
        ('15min', 'community_service', 'community_service_station'),
        ('15min', 'culture', 'cultural_center'),
        ('15min', 'sport', 'fitness_space'),
        ('15min', 'health', 'health_center'),
        ('15min', 'elderly', 'elderly_service_center'),
        ('15min', 'shop', 'supermarket')
) AS requirements (level, requirement, facility_type)
