//! Renovation progress: status transitions and progress reports of renovation projects
//! (elevator retrofits, old-compound renovation, age-friendly retrofits …; domain reference §4.3).

use chrono::NaiveDate;

use super::{Number, raw_event, string_enum};
use crate::event::{Event, event_row, row_with_envelope};
use crate::normalise::{Normaliser, SourcePosition};
use crate::reject::Rejection;
use crate::row::{Date, Decimal2, Yuan};

string_enum! {
    /// Renovation event type.
    pub enum RenovationEventType {
        Declared = ("renovation.declared", "申报"),
        Approved = ("renovation.approved", "立项"),
        Started = ("renovation.started", "开工"),
        ProgressReported = ("renovation.progress_reported", "进度填报"),
        Completed = ("renovation.completed", "完工"),
        Accepted = ("renovation.accepted", "验收"),
        Suspended = ("renovation.suspended", "暂停"),
        Cancelled = ("renovation.cancelled", "终止"),
    }
}

string_enum! {
    /// 项目类型.
    pub enum ProjectType {
        OldCompoundRenovation = ("old_compound_renovation", "老旧小区综合改造"),
        ElevatorRetrofit = ("elevator_retrofit", "加装电梯"),
        AgingFriendlyRetrofit = ("aging_friendly_retrofit", "适老化改造"),
        OverheadLinesBurial = ("overhead_lines_burial", "飞线下地/架空线入地"),
        PipeNetwork = ("pipe_network", "管网改造"),
        RainSewageSeparation = ("rain_sewage_separation", "雨污分流"),
        HeatingNetwork = ("heating_network", "供热管网"),
        GasNetwork = ("gas_network", "燃气管网"),
        ParkingFacility = ("parking_facility", "停车设施"),
        EvCharging = ("ev_charging", "充电设施"),
        BarrierFree = ("barrier_free", "无障碍"),
        EnergySaving = ("energy_saving", "节能改造"),
        FacadeRoof = ("facade_roof", "外立面/屋面"),
        PublicSpace = ("public_space", "公共空间"),
        FacilityInfill = ("facility_infill", "设施补短板"),
        Other = ("other", "其他"),
    }
}

string_enum! {
    /// 改造类别 (国办发〔2020〕23号).
    pub enum RenovationClass {
        Basic = ("basic", "基础类"),
        Improvement = ("improvement", "完善类"),
        Upgrade = ("upgrade", "提升类"),
    }
}

string_enum! {
    /// Project status.
    pub enum ProjectStatus {
        Declared = ("declared", "申报"),
        Approved = ("approved", "立项"),
        Started = ("started", "开工"),
        Suspended = ("suspended", "暂停"),
        Completed = ("completed", "完工"),
        Accepted = ("accepted", "验收"),
        Cancelled = ("cancelled", "终止"),
    }
}

string_enum! {
    /// 计量单位 of a project's quantities.
    pub enum QuantityUnit {
        Elevator = ("部", "部"),
        Household = ("户", "户"),
        Building = ("栋", "栋"),
        Piece = ("个", "个"),
        Metre = ("米", "米"),
        Kilometre = ("公里", "公里"),
        SquareMetre = ("㎡", "平方米"),
        Site = ("处", "处"),
    }
}

string_enum! {
    /// 原始金额单位: the unit the amounts of an event are given in.
    pub enum AmountUnit {
        Yuan = ("元", "元"),
        TenThousandYuan = ("万元", "万元"),
        HundredMillionYuan = ("亿元", "亿元"),
    }
}

impl AmountUnit {
    /// Yuan per unit.
    pub fn yuan_factor(self) -> f64 {
        match self {
            AmountUnit::Yuan => 1.0,
            AmountUnit::TenThousandYuan => 1e4,
            AmountUnit::HundredMillionYuan => 1e8,
        }
    }
}

raw_event! {
    /// A renovation progress event as programme systems send it
    /// (`schemas/renovation_progress.v1.json`). Amounts are in `amount_unit_raw` (yuan when absent)
    /// and land in yuan.
    pub struct RenovationProgress {
        event_type: RenovationEventType,
        community_code: String,
        /// 项目编号.
        project_id: String,
        /// 上级项目.
        parent_project_id: Option<String>,
        /// 项目名称.
        project_name: String,
        /// 项目类型.
        project_type: ProjectType,
        /// 改造类别.
        renovation_class: Option<RenovationClass>,
        /// 小区编号.
        compound_id: Option<String>,
        /// 小区名称.
        compound_name: Option<String>,
        /// 建成年份.
        compound_built_year: Option<i16>,
        /// 楼栋数.
        buildings_count: Option<i32>,
        /// 原状态 (null for declared).
        from_status: Option<ProjectStatus>,
        /// 新状态.
        to_status: ProjectStatus,
        /// 状态变更日期.
        status_date: NaiveDate,
        /// 计划开工日期.
        planned_start_date: Option<NaiveDate>,
        /// 计划完工日期.
        planned_end_date: Option<NaiveDate>,
        /// 计划工程量.
        quantity_planned: Option<Number>,
        /// 累计完成量.
        quantity_completed_cum: Option<Number>,
        /// 计量单位.
        quantity_unit: Option<QuantityUnit>,
        /// 受益户数.
        households_benefited: Option<i32>,
        /// 受益人数.
        residents_benefited: Option<i32>,
        /// 电梯数(部).
        elevators_count: Option<i32>,
        /// 形象进度(%).
        progress_pct: Option<Number>,
        /// 计划投资 in `amount_unit_raw`.
        investment_planned_yuan: Option<Number>,
        /// 累计完成投资 in `amount_unit_raw`.
        investment_completed_cum_yuan: Option<Number>,
        /// 中央补助 in `amount_unit_raw`.
        funding_central_yuan: Option<Number>,
        /// 地方财政 in `amount_unit_raw`.
        funding_local_yuan: Option<Number>,
        /// 居民出资 in `amount_unit_raw`.
        funding_resident_yuan: Option<Number>,
        /// 社会资本 in `amount_unit_raw`.
        funding_social_yuan: Option<Number>,
        /// 原始金额单位 of the amounts above (元 when absent).
        amount_unit_raw: Option<AmountUnit>,
        /// 实施单位.
        implementing_unit: Option<String>,
        /// 业主同意比例(%).
        owner_consent_pct: Option<Number>,
        /// 备注.
        remarks: Option<String>,
    }
}

event_row! {
    /// A landed renovation progress event: table `renovation_progress`.
    pub struct RenovationProgressRow => RenovationProgressRowBuilder {
        /// 项目编号.
        project_id: String,
        /// 上级项目.
        parent_project_id: Option<String>,
        /// 项目名称.
        project_name: String,
        /// 项目类型.
        project_type: String,
        /// 改造类别.
        renovation_class: Option<String>,
        /// 小区编号.
        compound_id: Option<String>,
        /// 小区名称.
        compound_name: Option<String>,
        /// 建成年份.
        compound_built_year: Option<i16>,
        /// 楼栋数.
        buildings_count: Option<i32>,
        /// 原状态.
        from_status: Option<String>,
        /// 新状态.
        to_status: String,
        /// 状态变更日期.
        status_date: Date,
        /// 计划开工日期.
        planned_start_date: Option<Date>,
        /// 计划完工日期.
        planned_end_date: Option<Date>,
        /// 计划工程量.
        quantity_planned: Option<Decimal2<14>>,
        /// 累计完成量.
        quantity_completed_cum: Option<Decimal2<14>>,
        /// 计量单位.
        quantity_unit: Option<String>,
        /// 受益户数.
        households_benefited: Option<i32>,
        /// 受益人数.
        residents_benefited: Option<i32>,
        /// 电梯数(部).
        elevators_count: Option<i32>,
        /// 形象进度(%).
        progress_pct: Option<Decimal2<5>>,
        /// 计划投资(元).
        investment_planned_yuan: Option<Yuan>,
        /// 累计完成投资(元).
        investment_completed_cum_yuan: Option<Yuan>,
        /// 中央补助(元).
        funding_central_yuan: Option<Yuan>,
        /// 地方财政(元).
        funding_local_yuan: Option<Yuan>,
        /// 居民出资(元).
        funding_resident_yuan: Option<Yuan>,
        /// 社会资本(元).
        funding_social_yuan: Option<Yuan>,
        /// 原始金额单位 (audit).
        amount_unit_raw: Option<String>,
        /// 实施单位.
        implementing_unit: Option<String>,
        /// 业主同意比例(%).
        owner_consent_pct: Option<Decimal2<5>>,
        /// 备注 (masked).
        remarks: Option<String>,
    }
}

impl Event for RenovationProgress {
    type Row = RenovationProgressRow;
    const SCHEMA: &'static str = "renovation_progress";
    const TOPIC: &'static str = "renovation.progress";
    const TABLE: &'static str = "renovation_progress";

    fn schema_version(&self) -> &str {
        &self.schema_version
    }

    fn normalise(
        mut self,
        ctx: &Normaliser,
        source: SourcePosition,
    ) -> Result<RenovationProgressRow, Rejection> {
        let env = ctx.envelope(self.take_envelope(), source, true)?;
        let unit = self
            .amount_unit_raw
            .unwrap_or(AmountUnit::Yuan)
            .yuan_factor();
        let date = |d: Option<NaiveDate>| d.map(Date::from_naive);
        Ok(row_with_envelope!(RenovationProgressRow, env, {
            project_id: self.project_id,
            parent_project_id: self.parent_project_id,
            project_name: self.project_name,
            project_type: self.project_type.as_str().to_owned(),
            renovation_class: self.renovation_class.map(|c| c.as_str().to_owned()),
            compound_id: self.compound_id,
            compound_name: self.compound_name,
            compound_built_year: ctx.year("compound_built_year", self.compound_built_year)?,
            buildings_count: self.buildings_count,
            from_status: self.from_status.map(|s| s.as_str().to_owned()),
            to_status: self.to_status.as_str().to_owned(),
            status_date: Date::from_naive(self.status_date),
            planned_start_date: date(self.planned_start_date),
            planned_end_date: date(self.planned_end_date),
            quantity_planned: ctx.decimal("quantity_planned", self.quantity_planned, 1.0)?,
            quantity_completed_cum: ctx.decimal("quantity_completed_cum", self.quantity_completed_cum, 1.0)?,
            quantity_unit: self.quantity_unit.map(|u| u.as_str().to_owned()),
            households_benefited: self.households_benefited,
            residents_benefited: self.residents_benefited,
            elevators_count: self.elevators_count,
            progress_pct: ctx.decimal("progress_pct", self.progress_pct, 1.0)?,
            investment_planned_yuan: ctx.decimal("investment_planned_yuan", self.investment_planned_yuan, unit)?,
            investment_completed_cum_yuan: ctx.decimal("investment_completed_cum_yuan", self.investment_completed_cum_yuan, unit)?,
            funding_central_yuan: ctx.decimal("funding_central_yuan", self.funding_central_yuan, unit)?,
            funding_local_yuan: ctx.decimal("funding_local_yuan", self.funding_local_yuan, unit)?,
            funding_resident_yuan: ctx.decimal("funding_resident_yuan", self.funding_resident_yuan, unit)?,
            funding_social_yuan: ctx.decimal("funding_social_yuan", self.funding_social_yuan, unit)?,
            amount_unit_raw: self.amount_unit_raw.map(|u| u.as_str().to_owned()),
            implementing_unit: self.implementing_unit,
            owner_consent_pct: ctx.decimal("owner_consent_pct", self.owner_consent_pct, 1.0)?,
            remarks: ctx.mask(self.remarks),
        }))
    }
}
