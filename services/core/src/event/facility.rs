//! Facility registry changes: each event carries the facility's post-change snapshot plus deltas
//! of its capacities, so "places added this week" is a plain `SUM` (domain reference §4.2).

use chrono::NaiveDate;

use super::{Number, raw_event, string_enum};
use crate::event::{Event, event_row, row_with_envelope};
use crate::geo::CoordSys;
use crate::normalise::{Normaliser, SourcePosition};
use crate::reject::Rejection;
use crate::row::{Date, Decimal2};

string_enum! {
    /// Facility registry change type.
    pub enum FacilityEventType {
        Created = ("facility.created", "新建/新增登记"),
        Updated = ("facility.updated", "信息变更/扩容"),
        Closed = ("facility.closed", "关停/注销"),
        Reopened = ("facility.reopened", "重新开放"),
    }
}

string_enum! {
    /// 操作: mirrors the event type.
    pub enum FacilityOp {
        Create = ("create", "新建"),
        Update = ("update", "变更"),
        Close = ("close", "关闭"),
        Reopen = ("reopen", "重开"),
    }
}

string_enum! {
    /// 所属方面: the six aspects of the 2020 complete-community standard.
    pub enum AspectCode {
        BasicPublicService = ("basic_public_service", "基本公共服务"),
        ConvenienceCommerce = ("convenience_commerce", "便民商业"),
        MunicipalInfra = ("municipal_infra", "市政配套"),
        PublicSpace = ("public_space", "公共活动空间"),
        PropertyMgmt = ("property_mgmt", "物业管理"),
        Governance = ("governance", "社区治理"),
    }
}

string_enum! {
    /// 设施类型.
    pub enum FacilityType {
        CommunityServiceStation = ("community_service_station", "社区综合服务站"),
        Kindergarten = ("kindergarten", "幼儿园"),
        ChildcareCenter = ("childcare_center", "托育机构"),
        ElderlyServiceCenter = ("elderly_service_center", "养老服务中心"),
        ElderlyCareStation = ("elderly_care_station", "养老驿站"),
        ElderlyDayCare = ("elderly_day_care", "日间照料中心"),
        MealAssistancePoint = ("meal_assistance_point", "养老助餐点"),
        CommunityCanteen = ("community_canteen", "社区食堂"),
        HealthStation = ("health_station", "社区卫生服务站"),
        HealthCenter = ("health_center", "社区卫生服务中心"),
        Supermarket = ("supermarket", "综合超市"),
        ConvenienceStore = ("convenience_store", "便利店"),
        VegetableStore = ("vegetable_store", "菜店/菜市场"),
        ParcelLocker = ("parcel_locker", "快件寄递设施"),
        ConvenienceBusiness = ("convenience_business", "便民商业网点"),
        ParkingLot = ("parking_lot", "停车场"),
        EvCharger = ("ev_charger", "充电桩(站)"),
        EbikeCharging = ("ebike_charging", "电动自行车充电设施"),
        PublicActivitySpace = ("public_activity_space", "公共活动场地"),
        FitnessSpace = ("fitness_space", "健身场地/百姓健身房"),
        PublicGreenSpace = ("public_green_space", "公共绿地/口袋公园"),
        CulturalCenter = ("cultural_center", "文化服务中心"),
        DeliberationHall = ("deliberation_hall", "议事厅"),
        PropertyServiceRoom = ("property_service_room", "物业服务用房"),
        WasteSortingPoint = ("waste_sorting_point", "垃圾分类收集点"),
        PublicToilet = ("public_toilet", "公共厕所"),
        Other = ("other", "其他"),
    }
}

string_enum! {
    /// 运营主体类型.
    pub enum OperatorType {
        Government = ("government", "政府"),
        PublicInstitution = ("public_institution", "事业单位"),
        Soe = ("soe", "国企"),
        Private = ("private", "民办"),
        PublicPrivate = ("public_private", "公建民营"),
        Community = ("community", "社区自办"),
    }
}

string_enum! {
    /// 运营状态.
    pub enum FacilityStatus {
        Planned = ("planned", "规划"),
        UnderConstruction = ("under_construction", "在建"),
        Operating = ("operating", "运营"),
        Suspended = ("suspended", "暂停"),
        Closed = ("closed", "关闭"),
    }
}

raw_event! {
    /// A facility registry change as registries send it (`schemas/facility_change.v1.json`).
    pub struct FacilityChange {
        event_type: FacilityEventType,
        community_code: String,
        /// 设施编号: stable registry id.
        facility_id: String,
        /// 版本号.
        facility_version: i32,
        /// 操作.
        op: FacilityOp,
        /// 所属方面.
        aspect_code: AspectCode,
        /// 设施类型.
        facility_type: FacilityType,
        /// 设施子类 (local sub-class).
        facility_subtype: Option<String>,
        /// 设施名称.
        facility_name: String,
        /// 运营主体类型.
        operator_type: Option<OperatorType>,
        /// 是否普惠.
        is_inclusive: Option<bool>,
        /// 是否嵌入式.
        is_embedded: Option<bool>,
        /// 运营状态.
        status: FacilityStatus,
        /// 开业/投用日期.
        opened_date: Option<NaiveDate>,
        /// 关闭日期.
        closed_date: Option<NaiveDate>,
        /// 建筑面积(㎡).
        floor_area_m2: Option<Number>,
        /// 用地面积(㎡).
        land_area_m2: Option<Number>,
        /// 托位数 (0–3 years).
        childcare_places: Option<i32>,
        /// 托位数变化.
        childcare_places_delta: Option<i32>,
        /// 学位数 (3–6 years).
        kindergarten_places: Option<i32>,
        /// 班数.
        kindergarten_classes: Option<i32>,
        /// 养老床位数.
        elderly_beds: Option<i32>,
        /// 床位变化.
        elderly_beds_delta: Option<i32>,
        /// 日供餐能力(人次).
        meal_capacity_per_day: Option<i32>,
        /// 车位数.
        parking_spaces: Option<i32>,
        /// 车位变化.
        parking_spaces_delta: Option<i32>,
        /// 充电桩(枪)数.
        charging_points: Option<i32>,
        /// 充电桩变化.
        charging_points_delta: Option<i32>,
        /// 电动自行车充电端口.
        ebike_charging_ports: Option<i32>,
        /// 其他容量.
        other_capacity_value: Option<Number>,
        /// 其他容量单位.
        other_capacity_unit: Option<String>,
        /// 地址.
        address: Option<String>,
        /// 经度 in `coord_sys_raw` (WGS84 when absent).
        lng: Option<f64>,
        /// 纬度 in `coord_sys_raw` (WGS84 when absent).
        lat: Option<f64>,
        /// 原始坐标系.
        coord_sys_raw: Option<CoordSys>,
        /// 所属生活圈.
        life_circle_id: Option<String>,
        /// 变更原因.
        change_reason: Option<String>,
    }
}

event_row! {
    /// A landed facility change: table `facility_changes`.
    pub struct FacilityChangeRow => FacilityChangeRowBuilder {
        /// 设施编号.
        facility_id: String,
        /// 版本号.
        facility_version: i32,
        /// 操作.
        op: String,
        /// 所属方面.
        aspect_code: String,
        /// 设施类型.
        facility_type: String,
        /// 设施子类.
        facility_subtype: Option<String>,
        /// 设施名称.
        facility_name: String,
        /// 运营主体类型.
        operator_type: Option<String>,
        /// 是否普惠.
        is_inclusive: Option<bool>,
        /// 是否嵌入式.
        is_embedded: Option<bool>,
        /// 运营状态.
        status: String,
        /// 开业/投用日期.
        opened_date: Option<Date>,
        /// 关闭日期.
        closed_date: Option<Date>,
        /// 建筑面积(㎡).
        floor_area_m2: Option<Decimal2<12>>,
        /// 用地面积(㎡).
        land_area_m2: Option<Decimal2<12>>,
        /// 托位数.
        childcare_places: Option<i32>,
        /// 托位数变化.
        childcare_places_delta: Option<i32>,
        /// 学位数.
        kindergarten_places: Option<i32>,
        /// 班数.
        kindergarten_classes: Option<i32>,
        /// 养老床位数.
        elderly_beds: Option<i32>,
        /// 床位变化.
        elderly_beds_delta: Option<i32>,
        /// 日供餐能力(人次).
        meal_capacity_per_day: Option<i32>,
        /// 车位数.
        parking_spaces: Option<i32>,
        /// 车位变化.
        parking_spaces_delta: Option<i32>,
        /// 充电桩(枪)数.
        charging_points: Option<i32>,
        /// 充电桩变化.
        charging_points_delta: Option<i32>,
        /// 电动自行车充电端口.
        ebike_charging_ports: Option<i32>,
        /// 其他容量.
        other_capacity_value: Option<Decimal2<12>>,
        /// 其他容量单位.
        other_capacity_unit: Option<String>,
        /// 地址 (masked).
        address: Option<String>,
        /// 经度 (WGS84).
        lng: Option<f64>,
        /// 纬度 (WGS84).
        lat: Option<f64>,
        /// 原始坐标系.
        coord_sys_raw: Option<String>,
        /// 所属生活圈.
        life_circle_id: Option<String>,
        /// 变更原因.
        change_reason: Option<String>,
    }
}

impl Event for FacilityChange {
    type Row = FacilityChangeRow;
    const SCHEMA: &'static str = "facility_change";
    const TOPIC: &'static str = "facility.changes";
    const TABLE: &'static str = "facility_changes";

    fn schema_version(&self) -> &str {
        &self.schema_version
    }

    fn normalise(
        mut self,
        ctx: &Normaliser,
        source: SourcePosition,
    ) -> Result<FacilityChangeRow, Rejection> {
        let env = ctx.envelope(self.take_envelope(), source, true)?;
        let (lng, lat) = ctx.coordinates(self.coord_sys_raw, self.lng, self.lat)?;
        let date = |d: Option<NaiveDate>| d.map(Date::from_naive);
        Ok(row_with_envelope!(FacilityChangeRow, env, {
            facility_id: self.facility_id,
            facility_version: self.facility_version,
            op: self.op.as_str().to_owned(),
            aspect_code: self.aspect_code.as_str().to_owned(),
            facility_type: self.facility_type.as_str().to_owned(),
            facility_subtype: self.facility_subtype,
            facility_name: self.facility_name,
            operator_type: self.operator_type.map(|o| o.as_str().to_owned()),
            is_inclusive: self.is_inclusive,
            is_embedded: self.is_embedded,
            status: self.status.as_str().to_owned(),
            opened_date: date(self.opened_date),
            closed_date: date(self.closed_date),
            floor_area_m2: ctx.decimal("floor_area_m2", self.floor_area_m2, 1.0)?,
            land_area_m2: ctx.decimal("land_area_m2", self.land_area_m2, 1.0)?,
            childcare_places: self.childcare_places,
            childcare_places_delta: self.childcare_places_delta,
            kindergarten_places: self.kindergarten_places,
            kindergarten_classes: self.kindergarten_classes,
            elderly_beds: self.elderly_beds,
            elderly_beds_delta: self.elderly_beds_delta,
            meal_capacity_per_day: self.meal_capacity_per_day,
            parking_spaces: self.parking_spaces,
            parking_spaces_delta: self.parking_spaces_delta,
            charging_points: self.charging_points,
            charging_points_delta: self.charging_points_delta,
            ebike_charging_ports: self.ebike_charging_ports,
            other_capacity_value: ctx.decimal("other_capacity_value", self.other_capacity_value, 1.0)?,
            other_capacity_unit: self.other_capacity_unit,
            address: ctx.mask(self.address),
            lng: lng,
            lat: lat,
            coord_sys_raw: self.coord_sys_raw.map(|c| c.as_str().to_owned()),
            life_circle_id: self.life_circle_id,
            change_reason: self.change_reason,
        }))
    }
}
